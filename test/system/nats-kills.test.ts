import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../market/index.ts';
import { readBars } from '../../sql/index.ts';
import type { Bar } from '../../streams/index.ts';
import { readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { marketSlice, ledger, spawnSystem, tableDuplicates, WARMUP_BARS, type SystemProcess } from './harness.ts';

const BARS = 200;
const KILLS = Number(process.env.NATS_KILLS ?? 20);
const SEED = Number(process.env.NATS_KILL_SEED ?? Date.now() % 1_000_000);
const VENUE = 'killv';

/**
 * `read()` again while it times out: after twenty SIGKILLs the restarted server may
 * still be recovering its streams when the run ends, and a JetStream API request of
 * the test (not of the system under test) can time out meanwhile.
 */
async function afterRecovery<T>(read: () => Promise<T>, withinMs = 30_000): Promise<T> {
  const end = Date.now() + withinMs;
  for (;;) {
    try {
      return await read();
    } catch (err) {
      if (Date.now() > end || !(err instanceof Error && /timeout/i.test(`${err.name} ${err.message}`))) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * `signals run` replays market bars as ticks while nats-server is SIGKILLed and
 * restarted (same port and store) at random points: publishes of ticks, bars,
 * predictions and weights are in flight each time. The process must stay up and
 * finish, and everything must be there exactly once.
 */
describe(`signals run through ${KILLS} nats-server kills (seed ${SEED})`, () => {
  let sys: TestSystem;
  let dir: string;
  let proc: SystemProcess | undefined;
  beforeAll(async () => {
    sys = await startTestSystem('nats_kills');
    dir = mkdtempSync(join(tmpdir(), 'nats-kills-'));
  });
  afterAll(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await sys?.nats.start().catch(() => undefined);
    await sys?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stays up, finishes the replay, and loses or duplicates nothing', async () => {
    const source = marketSlice(9_000, BARS);
    const csv = join(dir, 'bars.csv');
    writeFileSync(csv, ['timestamp,open,high,low,close,volume', ...source.map((b) => `${b.ts},${b.open},${b.high},${b.low},${b.close},${b.volume}`)].join('\n'));
    const run = spawnSystem(['run', '--exit-after-replay', '--csv', csv, '--venue', VENUE, '--symbol', 'BTCUSDT', '--speed', '480'], {
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      BAR_GRACE_MS: '500',
      RETRY_MIN_MS: '50',
      RETRY_MAX_MS: '500',
      LOG_LEVEL: 'info',
    });
    proc = run;
    await run.waitFor(/"ticks":[1-9][0-9]*,.*"msg":"progress"/, 120_000);
    const rand = mulberry32(SEED);
    const downs: number[] = [];
    for (let k = 0; k < KILLS && run.child.exitCode === null; k++) {
      await new Promise((r) => setTimeout(r, 300 + rand.next() * 900));
      const t0 = Date.now();
      await sys.nats.kill();
      await new Promise((r) => setTimeout(r, rand.next() * 400));
      await sys.nats.start();
      downs.push(Date.now() - t0);
    }
    const exit = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 150_000))]);
    // The whole log, for a failure: the tail alone rarely shows where it went wrong.
    const logFile = join(tmpdir(), `nats-kills-${SEED}.log`);
    writeFileSync(logFile, run.output());
    expect(exit, `the run ended by itself (whole log: ${logFile}); output tail:\n${run.output().slice(-3_000)}`).toEqual({ code: 0, signal: null });
    expect(downs.length, 'kills done while the replay ran').toBeGreaterThanOrEqual(Math.min(KILLS, 10));

    const stored = await readBars(sys.db, VENUE, 'BTCUSDT');
    expect(stored.length, 'one stored bar per source bar').toBe(BARS);
    const mismatches = stored.filter((b, i) => {
      const s = source[i]!;
      return b.ts !== s.ts || b.open !== s.open || b.high !== s.high || b.low !== s.low || b.close !== s.close || b.volume !== s.volume;
    });
    expect(mismatches.slice(0, 3), 'every bar equals the source').toEqual([]);
    const barMsgs = await afterRecovery(() => readStream<Bar>(sys.nc, 'MD_BARS', `md.bar.1m.${VENUE}.BTCUSDT`));
    const revised = barMsgs.filter((m) => m.msgId?.includes(':r')).map((m) => `${m.msgId} volume ${m.data.volume}`);
    expect({ messages: barMsgs.length, revised: revised.slice(0, 3) }, 'one bar message per bar, none closed early and corrected').toEqual({ messages: BARS, revised: [] });
    const l = await afterRecovery(() => ledger(sys.nc, sys.db, VENUE));
    expect(l.ticks, 'every tick stored once').toBe(BARS * 4);
    expect(await tableDuplicates(sys.db, VENUE)).toBe(0);
    const expected = BARS - WARMUP_BARS;
    expect({ rows: l.predictions, messages: l.predMessages, ids: l.distinctPredMsgIds, keys: l.distinctPredKeys, missing: l.missingPredictions.slice(0, 3) }, 'one prediction per bar after warm-up').toEqual({
      rows: expected,
      messages: expected,
      ids: expected,
      keys: expected,
      missing: [],
    });
    console.log(`nats kills: ${downs.length} SIGKILL+restart of nats-server (seed ${SEED}), down ${Math.min(...downs)}-${Math.max(...downs)} ms each; ${BARS} bars, ${l.ticks} ticks, ${l.predictions} predictions, all exactly once`);
  }, 240_000);
});
