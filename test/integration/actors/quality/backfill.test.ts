import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, waitFor, type SnapshotFrom } from 'xstate';
import { backfillMachine, type BackfillInput } from '../../../../actors/quality/backfill.machine.ts';
import { createBackfillActors, type BackfillDeps } from '../../../../actors/quality/backfill.effects.ts';
import { readBarsCsv, type BarRow } from '../../../../market/index.ts';
import { createCsvDirHistory, createDbHistory, gapEventSchema, type FeedBar, type GapEvent, type HistoryProvider } from '../../../../actors/quality/index.ts';
import { gapStats, listGaps, recordGaps } from '../../../../sql/gaps.repo.ts';
import { readBars } from '../../../../sql/index.ts';
import { encodeJson, ensureTopology, msgIds, subjects, type Bar } from '../../../../streams/index.ts';
import { BTCUSDT_CSV, describeRealData } from '../../../support/market/shared-data.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { carve, expectedGap, standardCarves, type Carve } from '../../../support/actors/quality/carve.ts';
import { HistoryDir, storeLiveBars } from '../../../support/actors/quality/fixtures.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

const SYMBOL = 'BTCUSDT';
let sys: TestSystem;
let history: HistoryDir;
/** Three days of the seeded market: the live series holes are carved from, and its history file. */
const slice: BarRow[] = marketBars(3 * 1_440, 0);

beforeAll(async () => {
  [sys, history] = await Promise.all([startTestSystem('quality_backfill'), HistoryDir.create()]);
  await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
});
afterAll(async () => {
  await sys?.dispose();
  await history?.dispose();
});

type Snapshot = SnapshotFrom<typeof backfillMachine>;
const settled = (s: Snapshot) =>
  s.context.jobs.length === 0 && s.context.unrecorded.length === 0 && s.context.scans.length === 0 &&
  s.matches({ running: { scan: 'idle', record: 'idle', fill: 'idle' } });

function startBackfill(input: BackfillInput, provider: HistoryProvider, extra: Partial<BackfillDeps> = {}) {
  const clock = new SimulatedClock();
  const actors = createBackfillActors({ db: sys.db, js: jetstream(sys.nc), provider, log: sys.log, feed: false, ...extra });
  const actor = createActor(backfillMachine.provide({ actors }), {
    input: { ...input, config: { jitter: false, retryMinMs: 1_000, retryMaxMs: 8_000, ...input.config } },
    clock,
  });
  actor.start();
  return { actor, clock };
}

/** Advances simulated time through backoff waits until the actor has nothing left to do. */
async function runToQuiet(actor: ReturnType<typeof startBackfill>['actor'], clock: SimulatedClock, timeoutMs = 20_000): Promise<Snapshot> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = actor.getSnapshot();
    if (s.status === 'active' && s.matches('running') && settled(s)) return s;
    if (Date.now() > end) throw new Error(`backfill did not settle: ${JSON.stringify(s.value)} ${s.context.lastError ?? ''}`);
    if (s.matches({ running: { fill: 'waiting' } }) || s.matches({ running: { record: 'waiting' } })) clock.increment(8_000);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const values = (b: { ts: number; open: number; high: number; low: number; close: number; volume: number }) =>
  [b.ts, b.open, b.high, b.low, b.close, b.volume] as const;

async function gapEvents(venue: string): Promise<GapEvent[]> {
  const msgs = await readStream(sys.nc, 'MD_EVENTS', subjects.gap(venue, SYMBOL));
  return msgs.map((m) => {
    const parsed = gapEventSchema.safeParse(m.data);
    if (!parsed.success) throw new Error(`md.gap message does not match its schema: ${parsed.error.message}`);
    return parsed.data;
  });
}

describe('backfill actor on PostgreSQL + nats-server with CSV history', () => {
  it('detects every carved gap, fills it with the exact original values and records it', async () => {
    const venue = 'binance';
    await history.write(venue, SYMBOL, slice);
    const carves = standardCarves(slice);
    await storeLiveBars(sys.db, venue, SYMBOL, carve(slice, carves));
    const provider = createCsvDirHistory({ dir: history.dir });
    const { actor, clock } = startBackfill(
      { venue, symbol: SYMBOL, scan: { from: slice[0]?.ts ?? 0, to: slice.at(-1)?.ts ?? 0 } },
      provider,
    );
    const done = await runToQuiet(actor, clock);
    actor.stop();

    const expected = carves.map((c) => expectedGap(slice, c));
    const rows = await listGaps(sys.db, { venue, symbol: SYMBOL });
    expect(rows.map((g) => ({ from: g.from, to: g.to, bars: g.bars })), 'one data_gaps row per carve, exact bounds').toEqual(expected);
    for (const g of rows) {
      expect(g, `gap ${new Date(g.from).toISOString()} filled in one attempt from the CSV`).toMatchObject({
        status: 'filled',
        kind: 'time',
        rowsFilled: g.bars,
        method: provider.name,
        attempts: 1,
      });
      expect(g.filledAt, 'filled_at set').toBeGreaterThanOrEqual(g.detectedAt);
    }

    const stored = await readBars(sys.db, venue, SYMBOL);
    expect(stored.map(values), 'bars_1m equals the original series').toEqual(slice.map(values));
    const filledTimes = new Set(carves.flatMap((c) => slice.slice(c.start, c.end).map((b) => b.ts)));
    expect(stored.filter((b) => b.source === 'backfill').map((b) => b.ts), 'exactly the carved bars carry source backfill').toEqual(
      [...filledTimes].sort((a, b) => a - b),
    );
    const outbox = await sys.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM bar_outbox o JOIN bars_1m b USING (venue, symbol, ts) WHERE b.venue = $1 AND b.source = 'backfill'`,
      [venue],
    );
    expect(outbox.rows[0]?.n, 'every filled bar is queued for publication in the outbox').toBe(filledTimes.size);

    const events = await gapEvents(venue);
    expect(events.filter((e) => e.type === 'gap.detected').map((e) => [e.from, e.to])).toEqual(expected.map((g) => [g.from, g.to]));
    expect(events.filter((e) => e.type === 'gap.filled').map((e) => (e.type === 'gap.filled' ? e.rows : -1))).toEqual(expected.map((g) => g.bars));

    expect(done.context.stats, 'machine statistics').toMatchObject({ found: carves.length, filled: carves.length, unfillable: 0, rows: filledTimes.size });
    const stats = await gapStats(sys.db, { venue });
    expect(stats).toMatchObject({ found: carves.length, filled: carves.length, unfillable: 0, pending: 0, rowsFilled: filledTimes.size });
    expect(stats.fillMs.median, 'time to fill is measured').toBeGreaterThanOrEqual(0);
  });

  it('marks a gap unfillable when history has nothing for it, after retries with backoff; nothing invented', async () => {
    const venue = 'binance_holes';
    const carves = standardCarves(slice);
    const hole = carves.find((c) => c.name === '90-minute hole') as Carve;
    // History lacks exactly the 90-minute hole.
    await history.write(venue, SYMBOL, carve(slice, [hole]));
    await storeLiveBars(sys.db, venue, SYMBOL, carve(slice, carves));
    const { actor, clock } = startBackfill(
      { venue, symbol: SYMBOL, scan: { from: slice[0]?.ts ?? 0, to: slice.at(-1)?.ts ?? 0 }, config: { maxAttempts: 3 } },
      createCsvDirHistory({ dir: history.dir }),
    );
    const holeGap = expectedGap(slice, hole);
    const attemptsOfHole = async () => (await listGaps(sys.db, { venue })).find((g) => g.from === holeGap.from)?.attempts ?? 0;

    // First attempt is incomplete; the retry waits for simulated time, exactly retryMinMs.
    await waitFor(actor, (s) => s.matches({ running: { fill: 'waiting' } }), { timeout: 10_000 });
    expect(await attemptsOfHole()).toBe(1);
    clock.increment(999);
    await new Promise((r) => setTimeout(r, 100));
    expect(await attemptsOfHole(), 'no retry before the backoff delay').toBe(1);
    clock.increment(1);
    await eventually(async () => (await attemptsOfHole()) === 2, 5_000, 'second attempt after 1 s');
    await runToQuiet(actor, clock);
    actor.stop();

    const rows = await listGaps(sys.db, { venue });
    const unfillable = rows.filter((g) => g.status === 'unfillable');
    expect(unfillable.map((g) => [g.from, g.to]), 'only the hole history lacks').toEqual([[holeGap.from, holeGap.to]]);
    expect(unfillable[0]).toMatchObject({ attempts: 3, rowsFilled: 0, detail: { missing: 90 } });
    expect(rows.filter((g) => g.status === 'filled').length).toBe(carves.length - 1);
    const inHole = await readBars(sys.db, venue, SYMBOL, holeGap.from, holeGap.to);
    expect(inHole, 'no bar invented for the unfillable gap').toEqual([]);
    const events = await gapEvents(venue);
    expect(events.filter((e) => e.type === 'gap.unfillable')).toEqual([
      expect.objectContaining({ type: 'gap.unfillable', from: holeGap.from, to: holeGap.to, rows: 0, missing: 90 }),
    ]);
    expect(await gapStats(sys.db, { venue })).toMatchObject({ found: carves.length, filled: carves.length - 1, unfillable: 1 });
  });

  it('interpolates only when configured, with source interpolated', async () => {
    const venue = 'binance_interp';
    const hole: Carve = { name: 'hole', start: 50, end: 54 };
    const part = slice.slice(0, 100);
    await history.write(venue, SYMBOL, carve(part, [hole]));
    await storeLiveBars(sys.db, venue, SYMBOL, carve(part, [hole]));
    const { actor, clock } = startBackfill(
      { venue, symbol: SYMBOL, scan: { from: part[0]?.ts ?? 0, to: part.at(-1)?.ts ?? 0 }, config: { maxAttempts: 1, interpolate: true } },
      createCsvDirHistory({ dir: history.dir }),
    );
    await runToQuiet(actor, clock);
    actor.stop();
    const [gap] = await listGaps(sys.db, { venue });
    expect(gap).toMatchObject({ status: 'filled', rowsFilled: 4, method: expect.stringMatching(/\+interpolated$/) });
    const filled = await readBars(sys.db, venue, SYMBOL, part[50]?.ts ?? 0, part[53]?.ts ?? 0);
    expect(filled.map((b) => b.source)).toEqual(['interpolated', 'interpolated', 'interpolated', 'interpolated']);
    const before = part[49]?.close ?? 0;
    const after = part[54]?.open ?? 0;
    expect(filled[0]?.close, 'linear between the neighbours').toBeCloseTo(before + (after - before) / 5, 6);
    expect(filled.every((b) => b.volume === 0)).toBe(true);
  });

  it('fills from another venue of the same symbol in the database', async () => {
    const source = 'binance_ref';
    const venue = 'binance_gappy';
    const part = slice.slice(0, 300);
    const holes: Carve[] = [{ name: 'a', start: 10, end: 11 }, { name: 'b', start: 100, end: 160 }];
    await storeLiveBars(sys.db, source, SYMBOL, part);
    await storeLiveBars(sys.db, venue, SYMBOL, carve(part, holes));
    const provider = createDbHistory(sys.db, { sourceVenue: source });
    const { actor, clock } = startBackfill({ venue, symbol: SYMBOL, scan: { from: part[0]?.ts ?? 0, to: part.at(-1)?.ts ?? 0 } }, provider);
    await runToQuiet(actor, clock);
    actor.stop();
    expect((await listGaps(sys.db, { venue })).map((g) => [g.status, g.rowsFilled, g.method])).toEqual([
      ['filled', 1, `db:${source}`],
      ['filled', 60, `db:${source}`],
    ]);
    expect((await readBars(sys.db, venue, SYMBOL)).map(values)).toEqual(part.map(values));
  });

  it('follows md.bar.1m: a jump in bar time, a sequence jump and a silent feed each become a gap and get filled', async () => {
    const venue = 'binance_feed';
    await history.write(venue, SYMBOL, slice);
    const part = slice.slice(0, 40);
    // The ingest path stores then publishes bars 0..19 and 25..29; 20..24 never arrive.
    const sent = [...part.slice(0, 20), ...part.slice(25, 30)];
    const { actor, clock } = startBackfill(
      { venue, symbol: SYMBOL, config: { silenceTimeoutMs: 5 * 60_000 } },
      createCsvDirHistory({ dir: history.dir }),
      { feed: { start: 'all', batchMs: 20 } },
    );
    await waitFor(actor, (s) => s.matches('running'), { timeout: 10_000 });
    await storeLiveBars(sys.db, venue, SYMBOL, sent);
    const js = jetstream(sys.nc);
    for (const b of sent) {
      const bar: Bar = { venue, symbol: SYMBOL, interval: '1m', ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'live' };
      await js.publish(subjects.bar1m(venue, SYMBOL), encodeJson(bar), { msgID: msgIds.bar(venue, SYMBOL, b.ts) });
    }
    const p = (i: number) => part[i]?.ts ?? 0;
    await waitFor(actor, (s) => s.context.detector.lastTs === p(29), { timeout: 10_000 });
    await eventually(async () => (await listGaps(sys.db, { venue })).some((g) => g.from === p(20)), 10_000, 'gap from the feed');

    // Sequences from a per-symbol feed: 31 follows 29 after a lost message -> a sequence gap for bar 30.
    const withSeq = (i: number, seq: number): FeedBar => {
      const b = part[i];
      if (!b) throw new Error(`no bar ${i}`);
      return { ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, seq };
    };
    actor.send({ type: 'bars.closed', bars: [withSeq(29, 100), withSeq(31, 102)] });
    // Then silence: at bar 39's close + 5 min, bars 32..38 are overdue (39 is within the timeout).
    actor.send({ type: 'clock.tick', now: p(38) + 60_000 + 5 * 60_000 });
    await runToQuiet(actor, clock);
    actor.stop();

    const gaps = await listGaps(sys.db, { venue });
    expect(gaps.map((g) => [g.kind, g.from, g.to, g.status])).toEqual([
      ['time', p(20), p(24), 'filled'],
      ['sequence', p(30), p(30), 'filled'],
      ['silence', p(32), p(38), 'filled'],
    ]);
    const stored = await readBars(sys.db, venue, SYMBOL);
    expect(stored.map(values), 'bars 0..38 present with original values (31 came by the feed but was stored by nobody)').toEqual(
      part.slice(0, 39).filter((_, i) => i !== 31).map(values),
    );
  });

  it('retries a failing provider with backoff; gives up leaving the gap open when it never answers', async () => {
    const venue = 'binance_flaky';
    await history.write(venue, SYMBOL, slice);
    const part = slice.slice(0, 60);
    await storeLiveBars(sys.db, venue, SYMBOL, carve(part, [{ name: 'x', start: 10, end: 12 }]));
    const csv = createCsvDirHistory({ dir: history.dir });
    let calls = 0;
    const flaky: HistoryProvider = {
      name: csv.name,
      fetchBars: async (...args) => {
        calls += 1;
        if (calls <= 2) throw new Error(`history service down (call ${calls})`);
        return csv.fetchBars(...args);
      },
    };
    const range = { from: part[0]?.ts ?? 0, to: part.at(-1)?.ts ?? 0 };
    const first = startBackfill({ venue, symbol: SYMBOL, scan: range, config: { maxAttempts: 4 } }, flaky);
    await runToQuiet(first.actor, first.clock);
    first.actor.stop();
    expect((await listGaps(sys.db, { venue })).map((g) => [g.status, g.attempts, g.rowsFilled])).toEqual([['filled', 3, 2]]);

    const down: HistoryProvider = { name: 'down', fetchBars: async () => Promise.reject(new Error('history service down')) };
    const venue2 = 'binance_down';
    await storeLiveBars(sys.db, venue2, SYMBOL, carve(part, [{ name: 'x', start: 10, end: 12 }]));
    const second = startBackfill({ venue: venue2, symbol: SYMBOL, scan: range, config: { maxAttempts: 2 } }, down);
    const done = await runToQuiet(second.actor, second.clock);
    second.actor.stop();
    expect(done.context.stats).toMatchObject({ abandoned: 1, filled: 0, unfillable: 0 });
    expect((await listGaps(sys.db, { venue: venue2 })).map((g) => [g.status, g.attempts, g.detail['lastError']]), 'left open for a later run, not unfillable').toEqual([
      ['open', 2, 'history service down'],
    ]);
  });

  it('resumes gaps left open by an earlier run', async () => {
    const venue = 'binance_resume';
    await history.write(venue, SYMBOL, slice);
    const part = slice.slice(0, 60);
    await storeLiveBars(sys.db, venue, SYMBOL, carve(part, [{ name: 'x', start: 30, end: 33 }]));
    await recordGaps(sys.db, [{ venue, symbol: SYMBOL, from: part[30]?.ts ?? 0, to: part[32]?.ts ?? 0, kind: 'time', bars: 3 }]);
    const { actor, clock } = startBackfill({ venue, symbol: SYMBOL }, createCsvDirHistory({ dir: history.dir }));
    await runToQuiet(actor, clock);
    actor.stop();
    expect((await listGaps(sys.db, { venue })).map((g) => [g.status, g.rowsFilled])).toEqual([['filled', 3]]);
    expect((await readBars(sys.db, venue, SYMBOL)).map(values)).toEqual(part.map(values));
  });
});

describeRealData('backfill over the whole BTCUSDT file', () => {
  let all: BarRow[];
  beforeAll(async () => {
    all = (await readBarsCsv(BTCUSDT_CSV)).bars;
  });

  it('fills 40 carved gaps across 30,900 bars to the exact original', async () => {
    const venue = 'binance_full';
    await history.link(venue, SYMBOL, BTCUSDT_CSV);
    // 40 holes of 1..40 minutes spread over the file.
    const carves: Carve[] = Array.from({ length: 40 }, (_, k) => {
      const start = 300 + k * 760;
      return { name: `hole ${k}`, start, end: start + 1 + k };
    });
    const started = performance.now();
    await storeLiveBars(sys.db, venue, SYMBOL, carve(all, carves));
    const stored = performance.now();
    const { actor, clock } = startBackfill(
      { venue, symbol: SYMBOL, scan: { from: all[0]?.ts ?? 0, to: all.at(-1)?.ts ?? 0 } },
      createCsvDirHistory({ dir: history.dir }),
    );
    const done = await runToQuiet(actor, clock, 30_000);
    actor.stop();
    const filled = performance.now();
    const rows = carves.reduce((n, c) => n + c.end - c.start, 0);
    console.log(
      `whole file: stored ${all.length - rows} bars in ${Math.round(stored - started)} ms; scanned + filled ${carves.length} gaps / ${rows} rows in ${Math.round(filled - stored)} ms`,
    );
    expect(done.context.stats).toMatchObject({ found: 40, filled: 40, rows });
    expect((await readBars(sys.db, venue, SYMBOL)).map(values), 'bars_1m equals the file').toEqual(all.map(values));
  });
});
