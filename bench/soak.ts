// Soak: a steady tick rate across many symbols through marketSync and the baseline
// predictor, for N minutes, on a private nats-server and a fresh database.
//
//   npx tsx bench/soak.ts [--minutes 2] [--symbols 100] [--rate 2000] [--bar-seconds 1] [--report-seconds 10]
//   npx tsx bench/soak.ts --minutes 10          # the real soak
//
// Market time runs faster than wall time: one market minute every --bar-seconds wall
// seconds (so 100 symbols close 100 bars and get 100 predictions per second at the
// default), starting two days ago so every tick is a valid past tick. Every
// --report-seconds it prints RSS and heap, ticks stored/s, predictions/s, latency
// percentiles and consumer lag; at the end a summary with the RSS trend (least-squares
// slope over the second half) and the checks: RSS <= 512 MB, no upward trend, every
// tick stored, every closed bar predicted, lag back to zero.
//
// Latencies (exact percentiles from every sample of the interval):
//   close->pred  the first tick of minute m+1 of a symbol is published (which closes its
//                bar m) -> the prediction for bar m arrives on signal.pred.>;
//   bar->pred    bar m arrives on md.bar.1m.> -> its prediction arrives;
//   batch        one ingest batch: validate, store, publish bars, ack.
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import { startBaselinePredictor } from './support/baseline-predictor.ts';
import { startMarketSync } from '../actors/ingest/index.ts';
import { bindMarketSync, createOpsMetrics, databaseCheck, HealthChecks, MARKET_SYNC_READY_STATES, natsCheck, observeBus, startOpsServer, stateCheck, stateName } from '../ops/index.ts';
import { decodeJson, epochMs, msgIds, parseScopedSubject, publishPipelined, subjects, type OutboundMessage, type Tick } from '../streams/index.ts';
import { startTestSystem } from '../test/helpers/system.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    symbols: { type: 'string', default: '100' },
    rate: { type: 'string', default: '2000' },
    'bar-seconds': { type: 'string', default: '1' },
    'report-seconds': { type: 'string', default: '10' },
  },
});
const MINUTES = Number(values.minutes);
const SYMBOLS = Number(values.symbols);
const RATE = Number(values.rate);
const BAR_S = Number(values['bar-seconds']);
const REPORT_S = Number(values['report-seconds']);
for (const [k, v] of Object.entries({ MINUTES, SYMBOLS, RATE, BAR_S, REPORT_S })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k.toLowerCase()} must be a positive number`);
}
const RSS_LIMIT_MB = 512;
const VENUE = 'soak';
const TICK_MS = 100; // publisher period
const timed = z.object({ ts: epochMs });

const mb = (bytes: number) => bytes / 1_048_576;
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
/** Least-squares slope of y over x. */
const slope = (pts: { x: number; y: number }[]) => {
  const n = pts.length;
  if (n < 2) return 0;
  const mx = pts.reduce((a, p) => a + p.x, 0) / n;
  const my = pts.reduce((a, p) => a + p.y, 0) / n;
  const num = pts.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = pts.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
};

async function main(): Promise<void> {
  const sys = await startTestSystem('soak', { INGEST_BATCH_SIZE: 5_000, BAR_GRACE_MS: 600_000 });
  const deps = { nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log };
  const sync = startMarketSync(deps);
  await sync.ready();
  const predictor = await startBaselinePredictor(deps);
  // The operations side runs too, as it would in production.
  const metrics = createOpsMetrics();
  const health = new HealthChecks();
  health.register('nats', natsCheck(sys.nc));
  health.register('database', databaseCheck(sys.db));
  health.register('marketSync', stateCheck(() => stateName(sync.actor.getSnapshot().value), MARKET_SYNC_READY_STATES));
  const unbind = bindMarketSync(sync.actor, metrics);
  const observer = await observeBus(sys.nc, metrics, sys.log);
  const ops = await startOpsServer({ port: 0, host: '127.0.0.1', metrics, health });

  // --- latency probes --------------------------------------------------------------
  const closedAt = new Map<string, number>(); // `${symbol}.${barTs}` -> wall ms the closing tick was published
  const barAt = new Map<string, number>();
  let closeToPred: number[] = [];
  let barToPred: number[] = [];
  let batchMs: number[] = [];
  let predictions = 0;
  let lastBatches = 0;
  sync.actor.subscribe((s) => {
    if (s.context.stats.batches !== lastBatches) {
      lastBatches = s.context.stats.batches;
      batchMs.push(s.context.stats.lastBatchMs);
    }
  });
  const barSub = sys.nc.subscribe('md.bar.1m.>');
  void (async () => {
    for await (const m of barSub) {
      const scope = parseScopedSubject(m.subject, 3);
      const r = decodeJson(timed, m.data, 65_536);
      if (scope && r.ok) barAt.set(`${scope.symbol}.${r.value.ts}`, performance.now());
    }
  })();
  const predSub = sys.nc.subscribe('signal.pred.>');
  void (async () => {
    for await (const m of predSub) {
      const now = performance.now();
      const scope = parseScopedSubject(m.subject, 2);
      const r = decodeJson(timed, m.data, 65_536);
      if (!scope || !r.ok) continue;
      predictions += 1;
      const key = `${scope.symbol}.${r.value.ts}`;
      const c = closedAt.get(key);
      if (c !== undefined) closeToPred.push(now - c);
      const b = barAt.get(key);
      if (b !== undefined) barToPred.push(now - b);
      closedAt.delete(key);
      barAt.delete(key);
    }
  })();

  // --- steady publisher ------------------------------------------------------------
  const js = jetstream(sys.nc);
  const now0 = Date.now();
  const marketStart = now0 - 2 * 86_400_000 - (now0 % 60_000);
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `SYM${String(i).padStart(3, '0')}`);
  const lastMinute = new Map<string, number>();
  const prices = symbols.map((_, i) => 100 + i);
  let published = 0;
  let running = true;
  const wallStart = performance.now();
  const endAt = wallStart + MINUTES * 60_000;
  const publisher = (async () => {
    while (running && performance.now() < endAt) {
      const elapsed = performance.now() - wallStart;
      const due = Math.floor((elapsed / 1000) * RATE);
      const batch: OutboundMessage[] = [];
      for (; published + batch.length < due; ) {
        const i = published + batch.length;
        const s = i % SYMBOLS;
        const symbol = symbols[s] ?? 'SYM000';
        // Market time of this tick: its share of the elapsed wall time, scaled.
        const wallMs = (i / RATE) * 1000;
        const ts = marketStart + Math.floor((wallMs / (BAR_S * 1000)) * 60_000);
        const minute = Math.floor((ts - marketStart) / 60_000);
        const prev = lastMinute.get(symbol);
        if (prev !== undefined && minute > prev) closedAt.set(`${symbol}.${marketStart + prev * 60_000}`, performance.now());
        lastMinute.set(symbol, minute);
        const p = (prices[s] ?? 100) * Math.exp(0.0005 * Math.sin(i * 0.37 + s));
        prices[s] = p;
        const t: Tick = { venue: VENUE, symbol, ts, price: Math.round(p * 1e6) / 1e6, size: 0.01 + (i % 13) / 100, tradeId: String(i) };
        batch.push({ subject: subjects.tick(VENUE, symbol), payload: t, msgId: msgIds.tick(VENUE, symbol, t.tradeId) });
      }
      if (batch.length > 0) {
        await publishPipelined(js, batch, 1_024);
        published += batch.length;
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
  })();

  // --- reports ---------------------------------------------------------------------
  const jsm = await jetstreamManager(sys.nc);
  const lag = async (stream: string, durable: string) => {
    const i = await jsm.consumers.info(stream, durable);
    return i.num_pending + i.num_ack_pending;
  };
  type Row = { t: number; rssMb: number; heapMb: number; ticksPerS: number; predsPerS: number; closeP50: number; closeP99: number; barP99: number; batchP99: number; tickLag: number; barLag: number; ready: boolean };
  const rows: Row[] = [];
  let lastStored = 0;
  let lastPreds = 0;
  let lastT = performance.now();
  console.log(`soak: ${MINUTES} min, ${SYMBOLS} symbols, ${RATE} ticks/s, 1 market minute per ${BAR_S} s; metrics at ${ops.url}/metrics`);
  console.log('   t s  RSS MB  heap MB  ticks/s  preds/s  close->pred p50/p99 ms  bar->pred p99 ms  batch p99 ms  lag ticks  lag bars  ready');
  const report = async () => {
    const t = performance.now();
    const dt = (t - lastT) / 1000;
    const stored = sync.actor.getSnapshot().context.stats.stored;
    const mem = process.memoryUsage();
    const ready = (await fetch(`${ops.url}/readyz`)).status === 200;
    const scrape = await fetch(`${ops.url}/metrics`);
    if (scrape.status !== 200) throw new Error(`/metrics answered ${scrape.status}`);
    const row: Row = {
      t: (t - wallStart) / 1000,
      rssMb: mb(mem.rss),
      heapMb: mb(mem.heapUsed),
      ticksPerS: (stored - lastStored) / dt,
      predsPerS: (predictions - lastPreds) / dt,
      closeP50: pct(closeToPred, 50),
      closeP99: pct(closeToPred, 99),
      barP99: pct(barToPred, 99),
      batchP99: pct(batchMs, 99),
      tickLag: await lag('MD_TICKS', sys.settings.INGEST_DURABLE),
      barLag: await lag('MD_BARS', 'baseline_predictor'),
      ready,
    };
    rows.push(row);
    lastStored = stored;
    lastPreds = predictions;
    lastT = t;
    closeToPred = [];
    barToPred = [];
    batchMs = [];
    console.log(
      [fmt(row.t).padStart(5), fmt(row.rssMb).padStart(7), fmt(row.heapMb).padStart(8), fmt(row.ticksPerS).padStart(8), fmt(row.predsPerS).padStart(8),
        `${fmt(row.closeP50)}/${fmt(row.closeP99)}`.padStart(23), fmt(row.barP99).padStart(17), fmt(row.batchP99).padStart(13), String(row.tickLag).padStart(10), String(row.barLag).padStart(9), row.ready ? '  yes' : '   NO'].join(' '),
    );
  };
  const timer = setInterval(() => void report().catch((err: unknown) => console.error('report failed', err)), REPORT_S * 1000);
  // RSS every second for the trend (the printed rows are too few for a slope on short runs).
  const rssSamples: { t: number; rssMb: number }[] = [];
  const sampler = setInterval(() => rssSamples.push({ t: (performance.now() - wallStart) / 1000, rssMb: mb(process.memoryUsage().rss) }), 1_000);
  await publisher;
  running = false;
  clearInterval(timer);
  clearInterval(sampler);

  // --- drain and check ---------------------------------------------------------------
  const drainStart = performance.now();
  while (performance.now() - drainStart < 60_000) {
    if (sync.actor.getSnapshot().context.stats.received >= published && (await lag('MD_TICKS', sys.settings.INGEST_DURABLE)) === 0 && (await lag('MD_BARS', 'baseline_predictor')) === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const drainS = (performance.now() - drainStart) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  const stats = sync.actor.getSnapshot().context.stats;
  const ticksInDb = Number((await sys.db.query<{ n: string }>('SELECT count(*) AS n FROM ticks WHERE venue = $1', [VENUE])).rows[0]?.n);
  const barsInDb = Number((await sys.db.query<{ n: string }>('SELECT count(*) AS n FROM bars_1m WHERE venue = $1', [VENUE])).rows[0]?.n);
  const predsInDb = Number((await sys.db.query<{ n: string }>('SELECT count(*) AS n FROM predictions WHERE venue = $1', [VENUE])).rows[0]?.n);
  const wallS = (performance.now() - wallStart) / 1000;

  const secondHalf = rssSamples.filter((r) => r.t >= (MINUTES * 60) / 2);
  const rssSlope = slope(secondHalf.map((r) => ({ x: r.t / 60, y: r.rssMb })));
  const heapSlope = slope(rows.filter((r) => r.t >= (MINUTES * 60) / 2).map((r) => ({ x: r.t / 60, y: r.heapMb })));
  const maxRss = Math.max(...rssSamples.map((r) => r.rssMb));
  // GC makes RSS saw-tooth: a trend is only judged over a second half of at least 2 minutes.
  const judgeTrend = MINUTES >= 4;
  const steady = rows.filter((r) => r.t > 20);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  // Warm-up: the EWMA predictor needs 5 bars per symbol before its first prediction.
  const expectedPreds = Math.max(0, barsInDb - 5 * SYMBOLS);
  const checks = [
    [`max RSS ${fmt(maxRss)} MB <= ${RSS_LIMIT_MB} MB`, maxRss <= RSS_LIMIT_MB],
    judgeTrend
      ? ([`RSS trend over the second half ${fmt(rssSlope, 2)} MB/min (< 2 MB/min: no upward trend)`, rssSlope < 2] as const)
      : ([`RSS trend over the second half ${fmt(rssSlope, 2)} MB/min (not judged: run --minutes 4 or more)`, true] as const),
    [`every published tick stored once: ${ticksInDb} rows of ${published}`, ticksInDb === published && stats.stored === published],
    [`every closed bar predicted after warm-up: ${predsInDb} predictions for ${barsInDb} bars (${expectedPreds} expected)`, predsInDb === expectedPreds],
    [`consumers drained in ${fmt(drainS, 1)} s after the publisher stopped`, (await lag('MD_TICKS', sys.settings.INGEST_DURABLE)) === 0 && (await lag('MD_BARS', 'baseline_predictor')) === 0],
    [`ready (/readyz 200) at every report`, rows.every((r) => r.ready)],
  ] as const;
  console.log('');
  console.log(`summary (${fmt(wallS)} s wall):`);
  console.log(`  throughput: ${fmt(avg(steady.map((r) => r.ticksPerS)))} ticks/s stored (target ${RATE}), ${fmt(avg(steady.map((r) => r.predsPerS)))} predictions/s`);
  console.log(`  latency p99 (worst interval): close->pred ${fmt(Math.max(...steady.map((r) => r.closeP99)))} ms, bar->pred ${fmt(Math.max(...steady.map((r) => r.barP99)))} ms, batch ${fmt(Math.max(...steady.map((r) => r.batchP99)))} ms`);
  console.log(`  latency p99 (median interval): close->pred ${fmt(pct(steady.map((r) => r.closeP99), 50))} ms, bar->pred ${fmt(pct(steady.map((r) => r.barP99), 50))} ms`);
  console.log(`  consumer lag max: ticks ${Math.max(...rows.map((r) => r.tickLag))}, bars ${Math.max(...rows.map((r) => r.barLag))}`);
  const thirds = [0, 1, 2].map((k) => avg(rssSamples.filter((r) => r.t >= (k * MINUTES * 60) / 3 && r.t < ((k + 1) * MINUTES * 60) / 3).map((r) => r.rssMb)));
  console.log(`  RSS: max ${fmt(maxRss)} MB; mean by third of the run ${thirds.map((x) => fmt(x)).join(' / ')} MB; slope (2nd half, 1 s samples) ${fmt(rssSlope, 2)} MB/min; heap slope ${fmt(heapSlope, 2)} MB/min`);
  for (const [what, ok] of checks) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);

  barSub.unsubscribe();
  predSub.unsubscribe();
  unbind();
  await observer.stop();
  await ops.close();
  await predictor.stop();
  await sync.stop();
  await sys.dispose();
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
