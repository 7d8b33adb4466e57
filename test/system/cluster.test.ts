import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../config/index.ts';
import { createPool, migrate, type Db } from '../../sql/index.ts';
import { connectNats } from '../../streams/index.ts';
import { NatsCluster } from '../helpers/nats-cluster.ts';
import { TestDatabase } from '../helpers/postgres.ts';
import { eventually, readStream } from '../helpers/stream-reader.ts';
import { ledger, marketSlice, publishFeed, spawnSystem, tableDuplicates, tickFeed, WARMUP_BARS, type SystemProcess } from './harness.ts';

const VENUE = 'clus';
const SYMBOLS = ['CLA', 'CLB', 'CLC', 'CLD'];
const BARS = 120;
const FIRST_KILL_AT = 70;
const SECOND_KILL_AT = 95;

/** Awaits `p`; an error says which step it came from (a request timeout has no useful stack). */
async function step<T>(label: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error(`${label}: ${(err as Error).message}`, { cause: err });
  }
}

/** `f` again (up to 10 times, 1 s apart) while it times out: a read during a leader election. */
async function retried<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** The node leading `stream`, asked again while an election runs (requests time out until it ends). */
async function leaderOf(nc: NatsConnection, stream: string, timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      const leader = (await jsm.streams.info(stream)).cluster?.leader;
      if (leader) return leader;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    if (Date.now() > end) throw new Error(`${stream} has no leader`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Two `signals run` processes with SCALE_OUT and NATS_REPLICAS=3 on a three-node
 * JetStream cluster, fed a replay. Midway the node leading MD_TICKS is SIGKILLed
 * (its store kept, restarted later), then the node leading KV_work_claims (not
 * restarted). At the
 * end: every tick, bar and prediction exactly once.
 */
describe('a three-node JetStream cluster that loses a node mid-stream', () => {
  let cluster: NatsCluster;
  let database: TestDatabase;
  let db: Db;
  let nc: NatsConnection;
  const procs: SystemProcess[] = [];
  beforeAll(async () => {
    [cluster, database] = await Promise.all([NatsCluster.start(3), TestDatabase.create('cluster')]);
    db = createPool(database.url);
    await migrate(db);
    nc = await connectNats(loadSettings({}, { NATS_URL: cluster.url }), 'cluster-test');
  }, 60_000);
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await nc?.close().catch(() => undefined);
    await db?.end();
    await Promise.all([cluster?.dispose(), database?.dispose()]);
  });

  it('ingests, aggregates and predicts every bar exactly once across two node losses', async () => {
    const env = {
      NATS_URL: cluster.url,
      DATABASE_URL: database.url,
      NATS_REPLICAS: '3',
      SCALE_OUT: 'true',
      CLAIM_TTL_MS: '3000',
      BAR_GRACE_MS: '500',
      INGEST_ACK_WAIT_MS: '4000',
      LOG_LEVEL: 'info',
    };
    for (const name of ['first', 'second']) {
      const p = spawnSystem(['run', '--live'], env);
      procs.push(p);
      await p.waitFor(/"phase":"running/, 120_000).catch((err: unknown) => {
        throw new Error(`the ${name} process did not reach Phase 4: ${(err as Error).message}`);
      });
    }
    const feed = tickFeed(VENUE, SYMBOLS, marketSlice(5_000, BARS));
    const ticksExpected = feed.reduce((n, m) => n + m.length, 0);
    let published = await step('publish before the first kill', publishFeed(nc, feed.slice(0, FIRST_KILL_AT), 50));

    // Node loss 1: the leader of MD_TICKS, store kept.
    const first = await step('leader of MD_TICKS', leaderOf(nc, 'MD_TICKS'));
    let t = performance.now();
    await cluster.node(first).kill();
    published += await step('publish at the first kill', publishFeed(nc, feed.slice(FIRST_KILL_AT, FIRST_KILL_AT + 1), 0));
    const firstPauseMs = performance.now() - t;
    published += await step('publish after the first kill', publishFeed(nc, feed.slice(FIRST_KILL_AT + 1, SECOND_KILL_AT - 10), 50));
    const newTicksLeader = await step('new leader of MD_TICKS', leaderOf(nc, 'MD_TICKS'));
    await step('restart the first node', cluster.node(first).start());
    await step('cluster ready again', cluster.ready());
    published += await step('publish with the node back', publishFeed(nc, feed.slice(SECOND_KILL_AT - 10, SECOND_KILL_AT), 50));

    // Node loss 2: the leader of the work claims' bucket, not restarted: the rest runs on two nodes.
    const second = await step('leader of KV_work_claims', leaderOf(nc, 'KV_work_claims'));
    t = performance.now();
    await cluster.node(second).kill();
    published += await step('publish at the second kill', publishFeed(nc, feed.slice(SECOND_KILL_AT, SECOND_KILL_AT + 1), 0));
    const secondPauseMs = performance.now() - t;
    published += await step('publish after the second kill', publishFeed(nc, feed.slice(SECOND_KILL_AT + 1), 50));
    expect(published).toBe(ticksExpected);

    const barsExpected = BARS * SYMBOLS.length;
    const predsExpected = (BARS - WARMUP_BARS) * SYMBOLS.length;
    await eventually(
      async () => {
        // A stream read can time out while a leader is elected: asked again on the next round.
        const l = await ledger(nc, db, VENUE).catch(() => undefined);
        return l !== undefined && l.ticks >= ticksExpected && l.bars >= barsExpected && l.predictions >= predsExpected && l.predMessages >= predsExpected;
      },
      90_000,
      'every tick, bar and prediction',
    ).catch(async (err: unknown) => {
      const l = await ledger(nc, db, VENUE);
      throw new Error(`${(err as Error).message}\nledger: ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.slice(0, 10) })}\n${procs.map((p) => p.output().slice(-2_500)).join('\n---\n')}`);
    });
    await new Promise((r) => setTimeout(r, 4_000));
    const l = await step('final ledger', retried(() => ledger(nc, db, VENUE)));
    expect(l.ticks, 'every tick stored once').toBe(ticksExpected);
    expect(l.bars, 'every bar stored once').toBe(barsExpected);
    expect(l.missingPredictions, 'every bar after warm-up predicted').toEqual([]);
    expect(l.predMessages, 'one prediction message per bar').toBe(predsExpected);
    expect(l.distinctPredKeys).toBe(predsExpected);
    expect(l.predictions, 'one stored prediction per bar').toBe(predsExpected);
    expect(await tableDuplicates(db, VENUE)).toBe(0);
    const barsInfo = await (await jetstreamManager(nc)).streams.info('MD_BARS', { subjects_filter: `md.bar.1m.${VENUE}.>` });
    const barMessages = Object.values(barsInfo.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    if (barMessages !== barsExpected) {
      // nats-server 2.9 can store a publish twice, under the same Nats-Msg-Id, when its stream
      // leader changes while the publish is in flight (clustered de-duplication is only exact from
      // 2.11). Every consumer here keeps its rows by key, so the copy changes nothing downstream
      // (the counts above). What must never be: a bar closed early and corrected (`:r<n>`), or a
      // second, different message for a bar.
      const msgs = await retried(() => readStream(nc, 'MD_BARS', `md.bar.1m.${VENUE}.>`));
      const ids = msgs.map((m) => m.msgId ?? `seq ${m.seq}`);
      const revised = ids.filter((id) => /:r\d+$/.test(id));
      const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
      console.log(`cluster: ${twice.length} bar publish(es) stored twice by the server across a leader change: ${twice.join(', ')}`);
      expect({ distinct: new Set(ids).size, revised }, 'one bar message per bar').toEqual({ distinct: barsExpected, revised: [] });
      expect(twice.length, 'a copy only where a leader was lost').toBeLessThanOrEqual(2);
    }
    console.log(
      `cluster: killed ${first} (leading MD_TICKS; new leader ${newTicksLeader}), publish blocked ${firstPauseMs.toFixed(0)} ms; ` +
        `then ${second} (leading KV_work_claims), publish blocked ${secondPauseMs.toFixed(0)} ms; ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.length })}`,
    );
    for (const p of procs) p.child.kill('SIGTERM');
    for (const p of procs) expect((await p.exited).code, p.output().slice(-2_000)).toBe(0);
  }, 420_000);
});
