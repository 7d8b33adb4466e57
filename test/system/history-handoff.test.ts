import { afterAll, beforeAll, expect, it } from 'vitest';
import { synthBars, type SynthBar } from '../../market/index.ts';
import { listGaps, readBars, readPredictions, upsertBars, withTransaction } from '../../sql/index.ts';
import { jetstream } from '@nats-io/jetstream';
import { publishJson, subjects } from '../../streams/index.ts';
import { eventually, readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { publishFeed, runCli, spawnSystem, type SystemProcess, tickFeed } from './harness.ts';

const LIVE = 'live';
const ARCHIVE = 'archive';
const HISTORY = 600;
const LIVE_BARS = 75;
const HOLE = [300, 301, 302, 303, 304];

let sys: TestSystem;
let proc: SystemProcess | undefined;
let env: NodeJS.ProcessEnv;
let withHistory: SynthBar[];
let without: SynthBar[];

beforeAll(async () => {
  sys = await startTestSystem('history_handoff');
  env = { NATS_URL: sys.settings.NATS_URL, DATABASE_URL: sys.settings.DATABASE_URL, LOG_LEVEL: 'info', QUALITY_HISTORY_VENUES: `${LIVE}=${ARCHIVE}` };
  const all = [...synthBars({ symbols: 2, minutes: HISTORY + LIVE_BARS, seed: 77 })];
  const [a, b] = [...new Set(all.map((x) => x.symbol))];
  withHistory = all.filter((x) => x.symbol === a);
  without = all.filter((x) => x.symbol === b);
  // The history source: the same symbol's bars on another venue of this database, with a hole no source can fill.
  const archived = withHistory.slice(0, HISTORY).filter((_, i) => !HOLE.includes(i));
  await withTransaction(sys.db, (c) =>
    upsertBars(
      c,
      archived.map((x) => ({ venue: ARCHIVE, symbol: x.symbol, interval: '1m' as const, ts: x.ts, open: x.open, high: x.high, low: x.low, close: x.close, volume: x.volume, source: 'live' as const })),
    ),
  );
});
afterAll(async () => {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await sys?.dispose();
});

/**
 * `signals run --live` with a history source configured (QUALITY_HISTORY_VENUES,
 * everything else default): a new symbol's history is loaded from the other venue
 * up to its live bars, stored and joined with no gap and no duplicate, and the
 * symbol is predicted from its next bars instead of after a full warm-up; a symbol
 * the source does not have warms up from its live bars as before; what the source
 * lacks stays a hole.
 */
it('joins a new symbol’s history to its live bars and predicts it from its next bars', async () => {
  const run = spawnSystem(['run', '--live'], env);
  proc = run;
  await run.waitFor(/"phase":"running/, 120_000);
  const sym = withHistory[0]?.symbol ?? '';
  const other = without[0]?.symbol ?? '';
  const live = withHistory.slice(HISTORY);
  const liveOther = without.slice(HISTORY);
  const firstLive = live[0]?.ts ?? 0;
  // Both symbols' live bars, a minute every 300 ms: the history arrives while the first bars are warming up.
  const feedA = tickFeed(LIVE, [sym], live);
  const feedB = tickFeed(LIVE, [other], liveOther);
  await publishFeed(
    sys.nc,
    feedA.map((m, i) => [...m, ...(feedB[i] ?? [])]),
    300,
  );

  await eventually(
    async () => {
      const r = await runCli(['status', '--json'], env);
      const doc = JSON.parse(r.out) as { system: { history: { symbol: string; state: string; historyBars?: number }[] } | null };
      return doc.system?.history.some((h) => h.symbol === sym && h.state === 'done') ?? false;
    },
    60_000,
    'status shows the history load of the new symbol done',
  );

  // The joined series: the archive's bars before the first live bar (the hole stays a hole), then the live bars; each minute once.
  const stored = await readBars(sys.db, LIVE, sym, withHistory[0]?.ts ?? 0, live.at(-1)?.ts ?? 0);
  const history = stored.filter((x) => x.ts < firstLive);
  expect(history.length, 'every archived bar before the first live one was loaded').toBe(HISTORY - HOLE.length);
  expect(history.every((x) => x.source === 'backfill'), 'stored as history (source backfill)').toBe(true);
  const ts = stored.map((x) => x.ts);
  expect(new Set(ts).size, 'no duplicate minute').toBe(ts.length);
  const expected = withHistory.slice(0, HISTORY + LIVE_BARS - 1).filter((_, i) => !HOLE.includes(i)).map((x) => x.ts);
  expect(ts, 'no gap between history and live; only the hole the source lacks').toEqual(expected);
  expect(history.map((x) => x.close), 'the archive’s values').toEqual(withHistory.slice(0, HISTORY).filter((_, i) => !HOLE.includes(i)).map((x) => x.close));

  // The hole no source has is found in the joined series and recorded unfillable (the symbol's quality says so).
  const holeFrom = withHistory[HOLE[0] ?? 0]?.ts ?? 0;
  await eventually(
    async () => (await listGaps(sys.db, { venue: LIVE, symbol: sym, statuses: ['unfillable'] })).some((g) => g.from <= holeFrom && g.to >= holeFrom),
    60_000,
    'the hole the history source lacks is an unfillable gap',
  );

  // Predicted from its next bars (after the load), not after a 54-bar warm-up; the symbol without history warms up as before.
  const preds = await readPredictions(sys.db, LIVE, sym);
  const firstPred = preds[0]?.ts ?? Number.POSITIVE_INFINITY;
  console.log(`first prediction of the symbol with history: live bar ${(firstPred - firstLive) / 60_000}`);
  expect((firstPred - firstLive) / 60_000, 'the symbol with history is predicted within its first live bars').toBeLessThan(25);
  const predsOther = await readPredictions(sys.db, LIVE, other);
  expect(predsOther.length, 'the symbol without history is predicted once warmed up').toBeGreaterThan(0);
  expect(((predsOther[0]?.ts ?? 0) - firstLive) / 60_000, 'the symbol without history waits for its warm-up').toBeGreaterThanOrEqual(50);
  const otherHistory = await readBars(sys.db, LIVE, other, firstLive - 3 * 86_400_000, firstLive - 60_000);
  expect(otherHistory.length, 'no history invented for a symbol the source does not have').toBe(0);

  // A retrain that cannot succeed (a symbol with no bars) ends in model.events.retrain_failed and ops.alert.retrain_failed.
  await publishJson(jetstream(sys.nc), { subject: subjects.retrainCmd, payload: { requestId: 'no-data-1', venue: LIVE, symbol: 'NODATA', trigger: 'manual' } });
  await eventually(
    async () => (await readStream<{ details?: { requestId?: string } }>(sys.nc, 'OPS_EVENTS', 'ops.alert.retrain_failed')).some((m) => m.data.details?.requestId === 'no-data-1'),
    60_000,
    'ops.alert.retrain_failed for a retrain that cannot succeed',
  );
  const failedEvents = (await readStream<{ scope: string }>(sys.nc, 'MODEL_EVENTS', 'model.events.retrain_failed')).map((m) => m.data.scope);
  expect(failedEvents).toContain(`${LIVE}.NODATA`);

  run.child.kill('SIGTERM');
  const exit = await run.exited;
  expect(exit.code, run.output().slice(-3_000)).toBe(0);
}, 240_000);
