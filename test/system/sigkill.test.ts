import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../market/index.ts';
import { ensureTopology } from '../../streams/index.ts';
import { eventually } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { marketSlice, ledger, publishFeed, spawnSystem, tableDuplicates, tickFeed, WARMUP_BARS, weightsScored, type SystemProcess } from './harness.ts';

const VENUE = 'killv';
const SYMBOLS = ['BTCUSDT', 'BTCUSDT_B'];
const BARS = 120;
const KILLS = 5;

/**
 * SIGKILL of the whole system (`signals run --live`) at random points while a
 * feed is being published, 5 times, then a final run that drains: every tick,
 * bar and prediction stored exactly once, and exactly one prediction message per
 * bar after warm-up in SIGNALS.
 */
describe('SIGKILL of the system mid-replay', () => {
  let sys: TestSystem;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    sys = await startTestSystem('faults_kill');
    env = {
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      BAR_GRACE_MS: '500',
      // Redeliveries of what a killed process held come back after this.
      INGEST_ACK_WAIT_MS: '4000',
      LOG_LEVEL: 'info',
      METRICS_PORT: '0',
    };
  });
  afterAll(async () => {
    await sys?.dispose();
  });

  it('5 kills at random points, then a final run: zero lost, zero duplicated rows and predictions', async () => {
    const seed = Number(process.env.FAULT_SEED ?? Date.now() % 100_000);
    const rand = mulberry32(seed);
    const bars = marketSlice(2_000, BARS);
    const feed = tickFeed(VENUE, SYMBOLS, bars);
    const ticksExpected = feed.reduce((n, m) => n + m.length, 0);
    const abort = new AbortController();
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 256, duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S });
    // The feed in KILLS + 1 segments: each run gets one, published while it runs and killed at a random
    // point of it (publishing goes on while the system is down; JetStream keeps the ticks).
    const per = Math.ceil(feed.length / (KILLS + 1));
    const segments = Array.from({ length: KILLS + 1 }, (_, k) => feed.slice(k * per, (k + 1) * per));
    let publishing: Promise<number> = Promise.resolve(0);
    let published = 0;
    const kills: string[] = [];
    let proc: SystemProcess | undefined;
    try {
      for (let k = 0; k <= KILLS; k++) {
        const t0 = Date.now();
        proc = spawnSystem(['run', '--live'], env);
        await proc.waitFor(/"phase":"running/, 50_000);
        const up = Date.now() - t0;
        published += await publishing;
        const segment = segments[k] ?? [];
        publishing = publishFeed(sys.nc, segment, 40, abort.signal);
        if (k === KILLS) break;
        const delay = 100 + Math.floor(rand.next() * 1_400);
        await new Promise((r) => setTimeout(r, delay));
        proc.child.kill('SIGKILL');
        await proc.exited;
        const before = await ledger(sys.nc, sys.db, VENUE);
        kills.push(`kill ${k + 1} (up in ${up} ms) ${delay} ms into segment ${k + 1}: ${before.ticks} ticks, ${before.bars} bars, ${before.predictions} predictions stored at the kill`);
      }
      published += await publishing;
      expect(published, 'the whole feed was published').toBe(ticksExpected);
      const final = proc;
      if (!final) throw new Error('the final run did not start');
      const barsExpected = BARS * SYMBOLS.length;
      const predsExpected = (BARS - WARMUP_BARS) * SYMBOLS.length;
      await eventually(async () => {
        const l = await ledger(sys.nc, sys.db, VENUE);
        return l.ticks >= ticksExpected && l.bars >= barsExpected && l.predMessages >= predsExpected && l.predictions >= predsExpected;
      }, 40_000, `all ticks, bars and predictions of seed ${seed} (${kills.join('; ')})`).catch(async (err: unknown) => {
        const l = await ledger(sys.nc, sys.db, VENUE);
        throw new Error(`${(err as Error).message}\nledger: ${JSON.stringify(l)}\noutput tail:\n${proc?.output().slice(-4_000)}`);
      });
      // Let redeliveries (ack wait) come back before counting.
      await new Promise((r) => setTimeout(r, 5_000));
      final.child.kill('SIGTERM');
      const exit = await final.exited;
      expect(exit.code, `the final run drains and exits 0 on SIGTERM:\n${final.output().slice(-2_000)}`).toBe(0);

      const l = await ledger(sys.nc, sys.db, VENUE);
      const why = `seed ${seed}; ${kills.join('; ')}`;
      expect(l.ticks, `every tick stored once (${why})`).toBe(ticksExpected);
      expect(l.bars, `every bar stored once (${why})`).toBe(barsExpected);
      expect(l.predictions, `one stored prediction per bar after warm-up (${why})`).toBe(predsExpected);
      expect(l.missingPredictions, `no bar after warm-up without a prediction message (${why})`).toEqual([]);
      expect(l.predMessages, `one prediction message per bar in SIGNALS (${why})`).toBe(predsExpected);
      expect(l.distinctPredMsgIds, `prediction messages have distinct msg ids (${why})`).toBe(predsExpected);
      expect(l.distinctPredKeys, `prediction messages have distinct (symbol, ts) (${why})`).toBe(predsExpected);
      expect(await tableDuplicates(sys.db, VENUE), 'no key duplicates in ticks, bars_1m, predictions').toBe(0);
      // Every prediction but the last is scored once when its bar closes: no outcome lost or counted twice across restarts.
      const scored = await weightsScored(sys.db, VENUE, SYMBOLS);
      expect(scored, 'the persisted weights scored each outcome exactly once').toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, BARS - WARMUP_BARS - 1])));
      console.log(`sigkill: ${why}; final ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.length })}`);
    } finally {
      abort.abort();
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
  }, 180_000);
});
