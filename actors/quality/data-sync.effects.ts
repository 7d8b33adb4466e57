import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger } from '../../config/index.ts';
import { createCalendar, findTimeGaps, type CalendarSpec, type HistoryProvider } from './index.ts';
import { insertFilledBars } from '../../sql/index.ts';
import { readBars, type Db, type StoredBar } from '../../sql/index.ts';
import { barRevision, barSchema, followBars } from '../../streams/index.ts';

/**
 * The data synchroniser's effects and its pure merge. A synchronised series is
 * keyed by bar open time (`ts`); a bar's `revision` (0 = first version, the
 * `Signals-Revision` header on md.bar.1m, the `revision` column of bars_1m) orders
 * versions of the same bar: a higher one is a correction, an equal or lower one a
 * duplicate.
 */

/** A bar as the synchroniser delivers it: the Bar message plus its revision. */
export type SyncedBar = StoredBar;

/**
 * `new`: the next bar of the series (ts above every bar delivered before).
 * `correction`: a newer revision of a bar already delivered; replaces it.
 * `late`: a bar for a time below the newest one that was never delivered (a hole
 * filled after the fact).
 */
export type DeliveryKind = 'new' | 'correction' | 'late';
export type Delivery = { bar: SyncedBar; kind: DeliveryKind };

/**
 * What the merge remembers: the watermark (open time of the newest bar delivered)
 * and, for bars within `retainMs` of it, `[ts, revision, values]` ascending by ts.
 * Plain arrays, so it can live in a machine context.
 */
export type MergeState = { watermark: number | undefined; recent: Array<[number, number, string]> };
export const emptyMergeState = (): MergeState => ({ watermark: undefined, recent: [] });

export type MergeCounts = { delivered: number; corrections: number; late: number; duplicates: number };

const valuesOf = (b: SyncedBar): string => `${b.open}|${b.high}|${b.low}|${b.close}|${b.volume}|${b.trades ?? ''}`;

function indexOf(recent: ReadonlyArray<readonly [number, number, string]>, ts: number): number {
  let lo = 0;
  let hi = recent.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((recent[mid]?.[0] ?? Infinity) < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges bars (any order, from history or live) into a series already delivered up
 * to `state.watermark`: sorted by time then revision, deduplicated by ts, newer
 * revisions delivered as corrections. A bar older than the retention that was
 * never seen is delivered as a correction only when its revision says it is one
 * (a revision-0 copy that old is taken for a redelivery). Pure.
 */
export function mergeBars(
  state: MergeState,
  bars: readonly SyncedBar[],
  retainMs: number,
): { state: MergeState; deliveries: Delivery[]; counts: MergeCounts } {
  const sorted = [...bars].sort((a, b) => a.ts - b.ts || a.revision - b.revision);
  const recent = state.recent.slice();
  let watermark = state.watermark;
  const deliveries: Delivery[] = [];
  const counts: MergeCounts = { delivered: 0, corrections: 0, late: 0, duplicates: 0 };
  for (const bar of sorted) {
    const values = valuesOf(bar);
    const at = indexOf(recent, bar.ts);
    const seen = recent[at]?.[0] === bar.ts ? recent[at] : undefined;
    if (seen) {
      if (bar.revision > seen[1]) {
        recent[at] = [bar.ts, bar.revision, values];
        if (seen[2] !== values) {
          deliveries.push({ bar, kind: 'correction' });
          counts.corrections += 1;
          continue;
        }
      }
      counts.duplicates += 1;
      continue;
    }
    if (watermark === undefined || bar.ts > watermark) {
      if (at === recent.length) recent.push([bar.ts, bar.revision, values]);
      else recent.splice(at, 0, [bar.ts, bar.revision, values]);
      watermark = bar.ts;
      deliveries.push({ bar, kind: 'new' });
      counts.delivered += 1;
    } else if (bar.ts >= watermark - retainMs) {
      recent.splice(at, 0, [bar.ts, bar.revision, values]);
      deliveries.push({ bar, kind: 'late' });
      counts.late += 1;
    } else if (bar.revision > 0) {
      deliveries.push({ bar, kind: 'correction' });
      counts.corrections += 1;
    } else {
      counts.duplicates += 1;
    }
  }
  const keepFrom = watermark === undefined ? 0 : indexOf(recent, watermark - retainMs);
  return { state: { watermark, recent: keepFrom > 0 ? recent.slice(keepFrom) : recent }, deliveries, counts };
}

/**
 * The hole between the watermark and the oldest bar above it in `bars`, if the
 * calendar expects any bar there and it was not asked for already (`caughtUpTo`).
 */
export function handoffGap(
  watermark: number | undefined,
  caughtUpTo: number | undefined,
  bars: readonly SyncedBar[],
  calendar: CalendarSpec,
): { from: number; to: number } | undefined {
  if (watermark === undefined) return undefined;
  let first: number | undefined;
  for (const b of bars) if (b.ts > watermark && (first === undefined || b.ts < first)) first = b.ts;
  if (first === undefined) return undefined;
  const cal = createCalendar(calendar);
  const from = cal.next(Math.max(watermark, caughtUpTo ?? -Infinity), '1m');
  const to = cal.previous(first, '1m');
  return from <= to ? { from, to } : undefined;
}

/** A history request: bars of [from, to] (inclusive); no `to` = up to the newest stored bar. */
export type HistoryRequest = { venue: string; symbol: string; from: number; to?: number; calendar: CalendarSpec };

export type DataSyncDeps = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  /** Asked for what the database lacks; none = the database only. */
  provider?: HistoryProvider;
  /** Write bars taken from the provider into bars_1m (`source: 'backfill'`, never over a stored bar). Default off. */
  storeFetched?: boolean;
  maxPayloadBytes?: number;
  /** Longest wait before a partial live batch is sent (ms). */
  batchMs?: number;
  now?: () => number;
};

/** Events the live feed sends the machine. */
export type LiveBarsEvent = { type: 'live.bars'; bars: SyncedBar[]; lastSeq: number };

/**
 * History for [from, to]: the database first, then the provider for every range
 * the venue's calendar expects and the database lacks (holes at the start
 * included). Without `to`, up to the newest stored bar (or the last closed minute
 * when nothing is stored).
 */
export async function loadSyncHistory(deps: DataSyncDeps, req: HistoryRequest): Promise<SyncedBar[]> {
  const { venue, symbol } = req;
  const stored = await readBars(deps.db, venue, symbol, req.from, req.to ?? Number.MAX_SAFE_INTEGER);
  if (!deps.provider) return stored;
  const now = (deps.now ?? Date.now)();
  const to = req.to ?? stored.at(-1)?.ts ?? Math.floor(now / 60_000) * 60_000 - 60_000;
  if (to < req.from) return stored;
  const scope = { venue, symbol, calendar: createCalendar(req.calendar), interval: '1m' as const };
  const gaps = findTimeGaps(stored.map((b) => b.ts), scope, { from: req.from, to });
  if (gaps.length === 0) return stored;
  const fetched: SyncedBar[] = [];
  for (const gap of gaps) {
    const wanted = new Set(scope.calendar.expectedBarTimes(gap.from, gap.to, '1m'));
    for (const h of await deps.provider.fetchBars(venue, symbol, gap.from, gap.to)) {
      if (!wanted.delete(h.ts)) continue;
      const bar: SyncedBar = {
        venue, symbol, interval: '1m', ts: h.ts, open: h.open, high: h.high, low: h.low, close: h.close, volume: h.volume,
        source: 'backfill', revision: 0,
      };
      if (h.trades !== undefined) bar.trades = h.trades;
      // The provider's rows went through its own checks; the Bar contract is checked again here.
      const { revision: _revision, ...message } = bar;
      if (barSchema.safeParse(message).success) fetched.push(bar);
    }
  }
  if (deps.storeFetched && fetched.length > 0) {
    const rows = fetched.map(({ ts, open, high, low, close, volume, trades }) =>
      trades === undefined ? { ts, open, high, low, close, volume } : { ts, open, high, low, close, volume, trades },
    );
    await insertFilledBars(deps.db, venue, symbol, rows, 'backfill');
  }
  deps.log.info({ venue, symbol, stored: stored.length, fetched: fetched.length, gaps: gaps.length, provider: deps.provider.name }, 'history loaded');
  return [...stored, ...fetched].sort((a, b) => a.ts - b.ts);
}

/**
 * Effects of the data synchroniser: `position` (the live stream's start: right
 * after the last message MD_BARS holds now, read BEFORE history so nothing falls
 * between the two), `loadHistory`, and `liveFeed` (an ordered consumer on
 * `md.bar.1m.<venue>.<symbol>` from that sequence, one `live.bars` event per batch).
 */
export function createDataSyncActors(deps: DataSyncDeps) {
  const log = deps.log.child({ actor: 'dataSync' });
  const js = jetstream(deps.nc);

  const position = fromPromise<{ startSeq: number }, { venue: string; symbol: string }>(async () => {
    const jsm = await jetstreamManager(deps.nc);
    const info = await jsm.streams.info('MD_BARS');
    return { startSeq: info.state.last_seq + 1 };
  });

  const loadHistory = fromPromise<SyncedBar[], HistoryRequest>(async ({ input }) => loadSyncHistory(deps, input));

  const liveFeed = fromCallback<{ type: 'feed.stop' }, { venue: string; symbol: string; startSeq: number }>(({ sendBack, input }) => {
    let nextSeq = input.startSeq;
    let lastSeq = 0;
    // A consumer that ends (server restart, stream recreated) is opened again from the next sequence.
    const follower = followBars<SyncedBar>({
      js,
      log,
      venue: input.venue,
      symbol: input.symbol,
      start: () => ({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: nextSeq }),
      seen: (m) => {
        nextSeq = m.seq + 1;
        lastSeq = m.seq;
      },
      map: (bar, m) => ({ ...bar, revision: barRevision(m) ?? 0 }),
      onBatch: (bars) => sendBack({ type: 'live.bars', bars, lastSeq } satisfies LiveBarsEvent),
      batchMs: deps.batchMs ?? 20,
      maxBatch: 1_000,
      maxPayloadBytes: deps.maxPayloadBytes ?? 4_096,
    });
    return () => follower.stop();
  });

  return { position, loadHistory, liveFeed };
}
