// Durable ingest throughput vs the raw PostgreSQL batch-upsert rate of the same rows.
//
//   npx tsx bench/ingest.ts [--ticks 200000] [--symbols 100] [--runs 3] [--batch 2000]
//   npx tsx bench/ingest.ts --cluster [--ticks 100000]   (a local three-node JetStream
//       cluster: each run ingests with NATS_REPLICAS=1 and then 3, and prints the ratio)
//
// Each run: a private nats-server and a fresh database; N ticks are published to
// MD_TICKS first, then marketSync is started and timed until every tick is
// validated, stored and acked (consumer has nothing pending or unacked). The same
// rows are then inserted with the same batch size straight into PostgreSQL
// (insertTicks, no NATS). Prints per-run figures and ratios (both measured in the
// same run, on the same machine state), and their medians.
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startMarketSync } from '../actors/ingest/index.ts';
import { insertTicks, withTransaction } from '../sql/index.ts';
import { msgIds, publishPipelined, subjects, type Tick } from '../streams/index.ts';
import { startTestSystem } from '../test/helpers/system.ts';
import { NatsCluster } from '../test/helpers/nats-cluster.ts';

const { values } = parseArgs({
  options: {
    ticks: { type: 'string', default: '200000' },
    symbols: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '5000' },
    cluster: { type: 'boolean', default: false },
  },
});
const N = Number(values.ticks);
const SYMBOLS = Number(values.symbols);
const RUNS = Number(values.runs);
const BATCH = Number(values.batch);

function makeTicks(): Tick[] {
  const t0 = Date.UTC(2024, 0, 1);
  const ticks: Tick[] = [];
  for (let i = 0; i < N; i++) {
    const s = i % SYMBOLS;
    ticks.push({
      venue: 'bench',
      symbol: `SYM${String(s).padStart(3, '0')}`,
      ts: t0 + Math.floor(i / SYMBOLS) * 250,
      price: 100 + Math.sin(i / 1000) * 10 + s,
      size: 0.001 * ((i % 97) + 1),
      side: i % 2 ? 'buy' : 'sell',
      tradeId: String(i),
    });
  }
  return ticks;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(ticks: Tick[], i: number, nats: { NATS_URL?: string; NATS_REPLICAS?: number } = {}) {
  const sys = await startTestSystem(`bench_ingest_${i}`, { INGEST_BATCH_SIZE: BATCH, BAR_GRACE_MS: 60_000, ...nats });
  try {
    const js = jetstream(sys.nc);
    // Topology first, then the backlog, then the timed ingest.
    const warm = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await warm.ready();
    await warm.stop();
    const pubStart = performance.now();
    await publishPipelined(
      js,
      ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) })),
      2_048,
    );
    const publishRate = ticks.length / ((performance.now() - pubStart) / 1000);

    const jsm = await jetstreamManager(sys.nc);
    const start = performance.now();
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    // Done when every tick is stored and its batch acked (the actor counts a batch after its acks).
    while (sync.actor.getSnapshot().context.stats.received < ticks.length) await new Promise((r) => setTimeout(r, 5));
    const ingestSeconds = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 200));
    const info = await jsm.consumers.info('MD_TICKS', sys.settings.INGEST_DURABLE);
    if (info.num_pending !== 0 || info.num_ack_pending !== 0) throw new Error(`consumer not drained: ${info.num_pending} pending, ${info.num_ack_pending} unacked`);
    const stats = sync.actor.getSnapshot().context.stats;
    await sync.stop();
    if (stats.stored !== ticks.length) throw new Error(`stored ${stats.stored} of ${ticks.length}`);

    await sys.db.query('TRUNCATE ticks');
    const rawStart = performance.now();
    for (let k = 0; k < ticks.length; k += BATCH) {
      const part = ticks.slice(k, k + BATCH);
      await withTransaction(sys.db, (c) => insertTicks(c, part));
    }
    const rawSeconds = (performance.now() - rawStart) / 1000;
    return {
      publishRate,
      ingestRate: ticks.length / ingestSeconds,
      rawRate: ticks.length / rawSeconds,
      batches: stats.batches,
      meanBatch: stats.received / stats.batches,
    };
  } finally {
    await sys.dispose();
  }
}

const ticks = makeTicks();
if (values.cluster) {
  // The same cluster for both settings; every stream is deleted before each pass, so each starts empty.
  const cluster = await NatsCluster.start(3);
  const rates: { ingest: number; publish: number }[][] = [[], []];
  try {
    console.log(`bench/ingest --cluster: ${N} ticks, ${SYMBOLS} symbols, batch ${BATCH}, ${RUNS} runs, 3 nodes`);
    for (let i = 0; i < RUNS; i++) {
      for (const [k, replicas] of [1, 3].entries()) {
        await cluster.deleteStreams();
        const r = await run(ticks, i, { NATS_URL: cluster.url, NATS_REPLICAS: replicas });
        rates[k]?.push({ ingest: r.ingestRate, publish: r.publishRate });
        console.log(`run ${i + 1}, ${replicas} replica(s): durable ingest ${Math.round(r.ingestRate)} ticks/s, publish ${Math.round(r.publishRate)} msgs/s, raw upsert ${Math.round(r.rawRate)} rows/s`);
      }
    }
  } finally {
    await cluster.dispose();
  }
  const [one, three] = rates as [{ ingest: number; publish: number }[], { ingest: number; publish: number }[]];
  console.log(`median durable ingest: ${Math.round(median(one.map((r) => r.ingest)))} ticks/s at 1 replica, ${Math.round(median(three.map((r) => r.ingest)))} at 3`);
  console.log(`median of per-run ratios, 3 replicas / 1: ingest ${median(three.map((r, i) => r.ingest / (one[i]?.ingest ?? Number.NaN))).toFixed(2)}, publish ${median(three.map((r, i) => r.publish / (one[i]?.publish ?? Number.NaN))).toFixed(2)}`);
  process.exit(0);
}
console.log(`bench/ingest: ${N} ticks, ${SYMBOLS} symbols, batch ${BATCH}, ${RUNS} runs`);
const results = [];
for (let i = 0; i < RUNS; i++) {
  const r = await run(ticks, i);
  results.push(r);
  console.log(
    `run ${i + 1}: durable ingest ${Math.round(r.ingestRate)} ticks/s (${r.batches} batches, mean ${Math.round(r.meanBatch)}), raw upsert ${Math.round(r.rawRate)} rows/s, ratio ${(r.ingestRate / r.rawRate).toFixed(2)}, publish ${Math.round(r.publishRate)} msgs/s`,
  );
}
const ingest = median(results.map((r) => r.ingestRate));
const raw = median(results.map((r) => r.rawRate));
console.log(`median durable ingest: ${Math.round(ingest)} ticks/s`);
console.log(`median raw PostgreSQL batch upsert: ${Math.round(raw)} rows/s`);
console.log(`median of per-run ratios ingest/raw: ${median(results.map((r) => r.ingestRate / r.rawRate)).toFixed(2)}`);
process.exit(0);
