import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { dataSyncMachine, type DataSyncInput } from '../../../../actors/quality/data-sync.machine.ts';
import {
  createDataSyncActors,
  loadSyncHistory,
  mergeBars,
  emptyMergeState,
  type DataSyncDeps,
  type Delivery,
  type HistoryRequest,
  type LiveBarsEvent,
  type SyncedBar,
} from '../../../../actors/quality/data-sync.effects.ts';
import { startDataSync } from '../../../../actors/quality/data-sync.ts';
import { startMarketSync } from '../../../../actors/ingest/market-sync.ts';
import { tickMessages, type BarRow } from '../../../../market/index.ts';
import { createCsvDirHistory } from '../../../../actors/quality/index.ts';
import { readBars } from '../../../../sql/index.ts';
import { ensureTopology, msgIds, publishPipelined, subjects } from '../../../../streams/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { eventually } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { HistoryDir, storeLiveBars } from '../../../support/actors/quality/fixtures.ts';

const SYMBOL = 'BTCUSDT';
let all: BarRow[];

const synced = (venue: string, b: BarRow, revision = 0, source: SyncedBar['source'] = 'live'): SyncedBar => ({
  venue, symbol: SYMBOL, interval: '1m', ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source, revision,
});
const values = (b: { ts: number; open: number; high: number; low: number; close: number; volume: number }) =>
  [b.ts, b.open, b.high, b.low, b.close, b.volume] as const;

/** The series a consumer holds after applying deliveries: new/late bars added, corrections replacing. */
function applyDeliveries(deliveries: readonly Delivery[]): { series: SyncedBar[]; newTs: number[]; problems: string[] } {
  const byTs = new Map<number, SyncedBar>();
  const newTs: number[] = [];
  const problems: string[] = [];
  for (const d of deliveries) {
    const known = byTs.has(d.bar.ts);
    if (d.kind === 'correction' && !known) problems.push(`correction for ${d.bar.ts} never delivered`);
    if (d.kind !== 'correction' && known) problems.push(`duplicate ${d.kind} delivery of ${d.bar.ts}`);
    if (d.kind === 'new') {
      if (newTs.length > 0 && d.bar.ts <= (newTs.at(-1) ?? 0)) problems.push(`new bar ${d.bar.ts} not after ${newTs.at(-1)}`);
      newTs.push(d.bar.ts);
    }
    byTs.set(d.bar.ts, d.bar);
  }
  return { series: [...byTs.values()].sort((a, b) => a.ts - b.ts), newTs, problems };
}

/** A 20 % higher close (and high) for a correction. */
const corrected = (b: BarRow): BarRow => ({ ...b, close: b.close * 1.2, high: Math.max(b.high, b.close * 1.2) });

beforeAll(() => {
  // Bars shaped like a market, from the seeded generator: nothing here is a fact of one file.
  all = marketBars(6_200, 0);
});

describe('mergeBars', () => {
  it('dedups by ts, delivers newer revisions as corrections and past holes as late', () => {
    const s = all.slice(0, 10);
    const first = mergeBars(emptyMergeState(), [4, 0, 1, 2].map((i) => synced('v', s[i] as BarRow)), 3_600_000);
    expect(first.deliveries.map((d) => [d.kind, d.bar.ts]), 'sorted by time, all new').toEqual([0, 1, 2, 4].map((i) => ['new', s[i]?.ts]));
    const second = mergeBars(first.state, [
      synced('v', s[2] as BarRow), // same revision: duplicate
      synced('v', corrected(s[1] as BarRow), 1), // newer revision: correction
      synced('v', s[1] as BarRow, 0), // older revision: duplicate
      synced('v', s[3] as BarRow), // a hole below the watermark: late
      synced('v', s[5] as BarRow),
    ], 3_600_000);
    expect(second.deliveries.map((d) => [d.kind, d.bar.ts])).toEqual([
      ['correction', s[1]?.ts],
      ['late', s[3]?.ts],
      ['new', s[5]?.ts],
    ]);
    expect(second.counts).toEqual({ delivered: 1, corrections: 1, late: 1, duplicates: 2 });
    expect(second.state.watermark).toBe(s[5]?.ts);
  });
});

describe('dataSync machine with simulated effects', () => {
  type Scenario = 'before' | 'at' | 'after';
  // History holds bars 0..99 (watermark = bar 99); the live stream starts at 90, 99 or 110.
  const liveStart: Record<Scenario, number> = { before: 90, at: 99, after: 110 };

  async function run(scenario: Scenario) {
    const source = all.slice(0, 200);
    let send: ((e: LiveBarsEvent) => void) | undefined;
    let releaseHistory: (() => void) | undefined;
    const requests: HistoryRequest[] = [];
    const machine = dataSyncMachine.provide({
      actors: {
        position: fromPromise(async () => ({ startSeq: 1 })),
        liveFeed: fromCallback<{ type: 'feed.stop' }, { venue: string; symbol: string; startSeq: number }>(({ sendBack }) => {
          send = (e) => sendBack(e);
        }),
        loadHistory: fromPromise<SyncedBar[], HistoryRequest>(async ({ input }) => {
          requests.push(input);
          if (requests.length === 1) {
            await new Promise<void>((r) => (releaseHistory = r));
            return source.slice(0, 100).map((b) => synced('v', b));
          }
          return source.filter((b) => b.ts >= input.from && b.ts <= (input.to ?? Infinity)).map((b) => synced('v', b, 0, 'backfill'));
        }),
      },
    });
    const input: DataSyncInput = { venue: 'v', symbol: SYMBOL, since: source[0]?.ts ?? 0 };
    const actor = createActor(machine, { input });
    const got: Delivery[] = [];
    actor.on('sync.bars', (e) => got.push(...e.deliveries));
    actor.start();
    await waitFor(actor, (s) => s.matches({ syncing: 'loading' }) && send !== undefined && releaseHistory !== undefined);
    const start = liveStart[scenario];
    const live = source.slice(start).map((b) => synced('v', b));
    // Half of the live stream arrives while history loads, the rest after the handoff.
    send?.({ type: 'live.bars', bars: live.slice(0, 30), lastSeq: 30 });
    send?.({ type: 'live.bars', bars: [synced('v', corrected(source[95] as BarRow), 1)], lastSeq: 31 });
    releaseHistory?.();
    await waitFor(actor, (s) => s.matches({ syncing: 'live' }));
    send?.({ type: 'live.bars', bars: live.slice(30), lastSeq: 200 });
    const done = actor.getSnapshot();
    actor.stop();
    return { got, requests, done, source };
  }

  for (const scenario of ['before', 'at', 'after'] as const) {
    it(`live stream starting ${scenario} the watermark: the series equals the source, no gap, no duplicate`, async () => {
      const { got, requests, done, source } = await run(scenario);
      const { series, newTs, problems } = applyDeliveries(got);
      expect(problems, 'no duplicate delivery, no out-of-order new bar').toEqual([]);
      expect(newTs, 'every source bar delivered once as new, in order').toEqual(source.map((b) => b.ts));
      const expected = source.map((b, i) => (i === 95 ? corrected(b) : b));
      expect(series.map(values), 'after corrections the series is the source (bar 95 corrected)').toEqual(expected.map(values));
      expect(got.filter((d) => d.kind === 'correction').map((d) => d.bar.ts), 'the revision-1 bar is a correction').toEqual([source[95]?.ts]);
      expect(done.context.handoffAt, 'watermark at the handoff = newest history bar').toBe(
        scenario === 'after' ? source[109]?.ts : source[99]?.ts,
      );
      if (scenario === 'after') {
        expect(requests.slice(1), 'the hole between watermark and live is asked of history once').toEqual([
          expect.objectContaining({ from: source[100]?.ts, to: source[109]?.ts }),
        ]);
      } else {
        expect(requests.length, 'no catch-up needed').toBe(1);
        expect(done.context.stats.duplicates, 'overlapping live bars were dropped').toBe(100 - liveStart[scenario]);
      }
    });
  }
});

describe('dataSync on nats-server + PostgreSQL', () => {
  let sys: TestSystem;
  let history: HistoryDir;

  beforeAll(async () => {
    [sys, history] = await Promise.all([startTestSystem('quality_data_sync', { BAR_GRACE_MS: 300 }), HistoryDir.create()]);
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
  });
  afterAll(async () => {
    await sys?.dispose();
    await history?.dispose();
  });

  /** Publishes bars as the ingest path does (msg id per revision, Signals-Revision header). */
  async function publishBars(venue: string, bars: readonly BarRow[], revision = 0): Promise<void> {
    await publishPipelined(
      jetstream(sys.nc),
      bars.map((b) => ({
        subject: subjects.bar1m(venue, SYMBOL),
        payload: { ...synced(venue, b), revision: undefined },
        msgId: msgIds.bar(venue, SYMBOL, b.ts, revision),
        headers: { 'Signals-Revision': String(revision) },
      })),
    );
  }

  function startHooked(venue: string, since: number, onFirstLoad: (actor: { buffered: () => number }) => Promise<void>) {
    const deps: DataSyncDeps = { nc: sys.nc, db: sys.db, log: sys.log, provider: createCsvDirHistory({ dir: history.dir }) };
    let loads = 0;
    const buffered = () => actor.getSnapshot().context.buffer.length;
    const loadHistory = fromPromise<SyncedBar[], HistoryRequest>(async ({ input }) => {
      const bars = await loadSyncHistory(deps, input);
      loads += 1;
      if (loads === 1) await onFirstLoad({ buffered });
      return bars;
    });
    const actor = createActor(dataSyncMachine.provide({ actors: { ...createDataSyncActors(deps), loadHistory } }), {
      input: { venue, symbol: SYMBOL, since },
    });
    const got: Delivery[] = [];
    actor.on('sync.bars', (e) => got.push(...e.deliveries));
    actor.start();
    return { actor, got };
  }

  for (const [scenario, start] of [['before', 90], ['at', 99], ['after', 110]] as const) {
    it(`real stream and database, live starting ${scenario} the watermark`, async () => {
      const venue = `sync_${scenario}`;
      const source = all.slice(1_000, 1_200);
      await history.write(venue, SYMBOL, all);
      // The database lacks the first 10 bars (the provider has them); history read = bars 10..99.
      await storeLiveBars(sys.db, venue, SYMBOL, source.slice(10, 100));
      const { actor, got } = startHooked(venue, source[0]?.ts ?? 0, async ({ buffered }) => {
        if (scenario === 'after') {
          // Committed after the history read, never seen live: 100..104 in the database, 105..109 only in the CSV.
          await storeLiveBars(sys.db, venue, SYMBOL, source.slice(100, 105));
        }
        await publishBars(venue, source.slice(start, 150));
        await publishBars(venue, [corrected(source[120] as BarRow)], 1);
        await eventually(() => buffered() === 150 - start + 1, 10_000, 'live bars buffered while history loads');
      });
      await waitFor(actor, (s) => s.matches({ syncing: 'live' }), { timeout: 10_000 });
      await publishBars(venue, source.slice(150));
      await waitFor(actor, (s) => s.context.merge.watermark === source.at(-1)?.ts, { timeout: 10_000 });
      const done = actor.getSnapshot();
      actor.stop();

      const { series, newTs, problems } = applyDeliveries(got);
      expect(problems).toEqual([]);
      expect(newTs, 'every bar once, in order').toEqual(source.map((b) => b.ts));
      expect(series.map(values), 'equals the source (bar 120 corrected live)').toEqual(source.map((b, i) => values(i === 120 ? corrected(b) : b)));
      expect(series.slice(0, 10).every((b) => b.source === 'backfill'), 'the hole before the stored bars came from the provider').toBe(true);
      if (scenario === 'after') {
        expect(series.slice(105, 110).map((b) => b.source), 'bars only the CSV has').toEqual(Array(5).fill('backfill'));
        expect(done.context.stats.catchUps).toBe(1);
      }
    });
  }

  it('with live ticks flowing through marketSync while history loads, three synchronisers see the source exactly, corrections included', async () => {
    const venue = 'sync_flow';
    const source = all.slice(5_000, 6_200);
    const market = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await market.ready();
    const syncs: Array<{ handle: ReturnType<typeof startDataSync>; got: Delivery[]; firstLive?: number }> = [];
    const startOne = () => {
      const entry: (typeof syncs)[number] = { handle: undefined as never, got: [] };
      entry.handle = startDataSync({
        nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, venue, symbol: SYMBOL, since: source[0]?.ts ?? 0,
        onBar: (bar, info) => {
          entry.got.push({ bar, kind: info.kind });
          if (info.phase === 'live' && entry.firstLive === undefined) entry.firstLive = bar.ts;
        },
      });
      syncs.push(entry);
    };
    const js = jetstream(sys.nc);
    let prevClose: number | undefined;
    for (let i = 0; i < source.length; i += 50) {
      const chunk = source.slice(i, i + 50);
      const msgs = chunk.flatMap((b) => {
        const m = tickMessages(venue, SYMBOL, b, prevClose);
        prevClose = b.close;
        return m;
      });
      await publishPipelined(js, msgs);
      if (i === 150 || i === 500 || i === 900) startOne();
      await new Promise((r) => setTimeout(r, 25));
    }
    await eventually(async () => (await readBars(sys.db, venue, SYMBOL)).length === source.length, 30_000, 'every bar ingested');
    // A late tick for bar 1,000 (after its close tick, above its high): the ingest path
    // re-closes that bar as revision 1 and publishes the correction.
    const late = source[1_000] as BarRow;
    const lateTick = { venue, symbol: SYMBOL, ts: late.ts + 50_000, price: late.high + 10, size: 0.5, tradeId: 'late-1' };
    await publishPipelined(js, [{ subject: subjects.tick(venue, SYMBOL), payload: lateTick, msgId: msgIds.tick(venue, SYMBOL, 'late-1') }]);
    await eventually(async () => (await readBars(sys.db, venue, SYMBOL, late.ts, late.ts))[0]?.revision === 1, 10_000, 'bar corrected by the late tick');
    for (const s of syncs) {
      await eventually(() => s.handle.status().watermark === source.at(-1)?.ts && s.handle.status().stats.corrections === 1, 20_000, 'synchroniser got the last bar and the correction');
      await s.handle.stop();
    }
    await market.stop();
    const truth = await readBars(sys.db, venue, SYMBOL);
    expect(truth[1_000], 'the corrected bar').toMatchObject({ ts: late.ts, close: lateTick.price, high: lateTick.price, revision: 1 });

    const relation: string[] = [];
    for (const [k, s] of syncs.entries()) {
      const { series, newTs, problems } = applyDeliveries(s.got);
      expect(problems, `sync ${k}: no duplicate, no disorder`).toEqual([]);
      expect(newTs, `sync ${k}: no gap`).toEqual(source.map((b) => b.ts));
      expect(series.map(values), `sync ${k}: values equal the source, with the correction applied`).toEqual(truth.map(values));
      expect(s.got.filter((d) => d.kind === 'correction').map((d) => [d.bar.ts, d.bar.revision]), `sync ${k}: one correction`).toEqual([[late.ts, 1]]);
      const at = s.handle.status().handoffAt;
      const first = s.firstLive;
      relation.push(`sync ${k}: watermark ${at === undefined ? '-' : (at - (source[0]?.ts ?? 0)) / 60_000}, first live ${first === undefined ? '-' : (first - (source[0]?.ts ?? 0)) / 60_000}, duplicates dropped ${s.handle.status().stats.duplicates}`);
    }
    console.log(`handoffs under live flow (minutes from the first bar): ${relation.join('; ')}`);
  });
});
