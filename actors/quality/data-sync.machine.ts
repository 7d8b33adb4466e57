import { assign, emit, fromCallback, fromPromise, setup } from 'xstate';
import type { CalendarSpec } from './index.ts';
import { backoffDelay } from '../../streams/index.ts';
import {
  emptyMergeState,
  handoffGap,
  mergeBars,
  type Delivery,
  type HistoryRequest,
  type LiveBarsEvent,
  type MergeCounts,
  type MergeState,
  type SyncedBar,
} from './data-sync.effects.ts';

export type DataSyncInput = {
  venue: string;
  symbol: string;
  /** Open time of the first bar the series should start with (a hole before the first stored bar is asked of history). */
  since: number;
  /** The venue's calendar: which minutes must have a bar (gaps at the handoff). Default `always`. */
  calendar?: CalendarSpec;
  /** Bars within this long of the watermark are remembered for dedup (default 24 h). */
  retainMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
};

export type DataSyncStats = MergeCounts & { historyBars: number; liveBars: number; catchUps: number };

export type DataSyncContext = {
  venue: string;
  symbol: string;
  since: number;
  calendar: CalendarSpec;
  retainMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** First MD_BARS sequence the live feed delivers (fixed before history is read). */
  startSeq: number | undefined;
  merge: MergeState;
  /** Live bars received while history loads, in arrival order. */
  buffer: SyncedBar[];
  /** Newest time a catch-up asked history for (so an unfillable hole is asked once). */
  caughtUpTo: number | undefined;
  catchUp: { from: number; to: number } | undefined;
  /** Deliveries of the last step (emitted as `sync.bars`). */
  outgoing: Delivery[];
  /** Watermark when the series went live the first time. */
  handoffAt: number | undefined;
  errorStreak: number;
  lastError: string | undefined;
  stats: DataSyncStats;
};

export type DataSyncEvent = LiveBarsEvent | { type: 'sync.stop' };

/** Emitted after every step that delivers bars, in series order (see `Delivery`). */
export type DataSyncEmitted = { type: 'sync.bars'; deliveries: Delivery[]; phase: 'history' | 'live' };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function notProvided(name: string): never {
  throw new Error(`dataSync actor "${name}" not provided: use dataSyncMachine.provide({ actors: createDataSyncActors(...) })`);
}

function merged(c: DataSyncContext, bars: readonly SyncedBar[], extra: Partial<DataSyncStats> = {}): Partial<DataSyncContext> {
  const r = mergeBars(c.merge, bars, c.retainMs);
  const s = c.stats;
  return {
    merge: r.state,
    outgoing: r.deliveries,
    stats: {
      ...s,
      delivered: s.delivered + r.counts.delivered,
      corrections: s.corrections + r.counts.corrections,
      late: s.late + r.counts.late,
      duplicates: s.duplicates + r.counts.duplicates,
      historyBars: s.historyBars + (extra.historyBars ?? 0),
      liveBars: s.liveBars + (extra.liveBars ?? 0),
      catchUps: s.catchUps + (extra.catchUps ?? 0),
    },
  };
}

/**
 * dataSync: one per venue/symbol and consumer (a model's input). Fixes where the
 * live stream `md.bar.1m.<venue>.<symbol>` will start (right after MD_BARS' last
 * message), follows it from there while history loads (database, then the history
 * provider for what it lacks) up to the watermark (the newest history bar), and
 * hands off: buffered live bars are merged by time and deduplicated by ts, a newer
 * revision is delivered as a correction. A hole between the watermark and the
 * first live bar is asked of history once before going live; the same happens for
 * a hole in the live stream later. Every bar a bar-publisher committed before the
 * position was fixed is in the database; every later one arrives live: no gap, no
 * duplicate. Effects: `createDataSyncActors` (actors/data-sync.logic.ts).
 */
export const dataSyncMachine = setup({
  types: {
    context: {} as DataSyncContext,
    events: {} as DataSyncEvent,
    input: {} as DataSyncInput,
    emitted: {} as DataSyncEmitted,
  },
  actors: {
    position: fromPromise<{ startSeq: number }, { venue: string; symbol: string }>(async () => notProvided('position')),
    loadHistory: fromPromise<SyncedBar[], HistoryRequest>(async () => notProvided('loadHistory')),
    liveFeed: fromCallback<{ type: 'feed.stop' }, { venue: string; symbol: string; startSeq: number }>(() => undefined),
  },
  guards: {
    bufferHasGap: ({ context }) => handoffGap(context.merge.watermark, context.caughtUpTo, context.buffer, context.calendar) !== undefined,
    batchHasGap: ({ context, event }) =>
      event.type === 'live.bars' && handoffGap(context.merge.watermark, context.caughtUpTo, event.bars, context.calendar) !== undefined,
  },
  delays: {
    errorDelay: ({ context }) => backoffDelay(Math.max(0, context.errorStreak - 1), context.retryMinMs, context.retryMaxMs),
  },
  actions: {
    bufferBars: assign(({ context, event }) =>
      event.type === 'live.bars' ? { buffer: [...context.buffer, ...event.bars] } : {},
    ),
    planCatchUp: assign(({ context }) => ({
      catchUp: handoffGap(context.merge.watermark, context.caughtUpTo, context.buffer, context.calendar),
    })),
    mergeBuffer: assign(({ context }) => ({
      ...merged(context, context.buffer, { liveBars: context.buffer.length }),
      buffer: [],
      handoffAt: context.handoffAt ?? context.merge.watermark,
    })),
    mergeLive: assign(({ context, event }) =>
      event.type === 'live.bars' ? merged(context, event.bars, { liveBars: event.bars.length }) : {},
    ),
    recordError: assign({
      errorStreak: ({ context }) => context.errorStreak + 1,
      lastError: ({ event }) => errorText((event as { error?: unknown }).error),
    }),
    emitHistory: emit(({ context }) => ({ type: 'sync.bars' as const, deliveries: context.outgoing, phase: 'history' as const })),
    emitLive: emit(({ context }) => ({ type: 'sync.bars' as const, deliveries: context.outgoing, phase: 'live' as const })),
  },
}).createMachine({
  id: 'dataSync',
  context: ({ input }) => ({
    venue: input.venue,
    symbol: input.symbol,
    since: input.since,
    calendar: input.calendar ?? 'always',
    retainMs: input.retainMs ?? 86_400_000,
    retryMinMs: input.retryMinMs ?? 200,
    retryMaxMs: input.retryMaxMs ?? 10_000,
    startSeq: undefined,
    merge: emptyMergeState(),
    buffer: [],
    caughtUpTo: undefined,
    catchUp: undefined,
    outgoing: [],
    handoffAt: undefined,
    errorStreak: 0,
    lastError: undefined,
    stats: { delivered: 0, corrections: 0, late: 0, duplicates: 0, historyBars: 0, liveBars: 0, catchUps: 0 },
  }),
  initial: 'positioning',
  on: { 'sync.stop': '.stopped' },
  states: {
    positioning: {
      invoke: {
        src: 'position',
        input: ({ context }) => ({ venue: context.venue, symbol: context.symbol }),
        onDone: { target: 'syncing', actions: assign({ startSeq: ({ event }) => event.output.startSeq, errorStreak: 0 }) },
        onError: { target: 'positionWait', actions: 'recordError' },
      },
    },
    positionWait: { after: { errorDelay: 'positioning' } },
    syncing: {
      invoke: {
        src: 'liveFeed',
        input: ({ context }) => ({ venue: context.venue, symbol: context.symbol, startSeq: context.startSeq ?? 1 }),
      },
      initial: 'loading',
      states: {
        loading: {
          on: { 'live.bars': { actions: 'bufferBars' } },
          invoke: {
            src: 'loadHistory',
            input: ({ context }) => ({ venue: context.venue, symbol: context.symbol, from: context.since, calendar: context.calendar }),
            onDone: {
              target: 'handoff',
              actions: [
                assign(({ context, event }) => ({ ...merged(context, event.output, { historyBars: event.output.length }), errorStreak: 0 })),
                'emitHistory',
              ],
            },
            onError: { target: 'loadWait', actions: 'recordError' },
          },
        },
        loadWait: {
          on: { 'live.bars': { actions: 'bufferBars' } },
          after: { errorDelay: 'loading' },
        },
        handoff: {
          always: [
            { guard: 'bufferHasGap', target: 'catchingUp', actions: 'planCatchUp' },
            { target: 'live', actions: ['mergeBuffer', 'emitLive'] },
          ],
        },
        catchingUp: {
          on: { 'live.bars': { actions: 'bufferBars' } },
          invoke: {
            src: 'loadHistory',
            input: ({ context }) => ({
              venue: context.venue,
              symbol: context.symbol,
              from: context.catchUp?.from ?? context.since,
              to: context.catchUp?.to ?? context.since,
              calendar: context.calendar,
            }),
            onDone: {
              target: 'handoff',
              actions: [
                assign(({ context, event }) => ({
                  ...merged(context, event.output, { historyBars: event.output.length, catchUps: 1 }),
                  caughtUpTo: context.catchUp?.to,
                  catchUp: undefined,
                  errorStreak: 0,
                })),
                'emitHistory',
              ],
            },
            onError: { target: 'catchUpWait', actions: 'recordError' },
          },
        },
        catchUpWait: {
          on: { 'live.bars': { actions: 'bufferBars' } },
          after: { errorDelay: 'catchingUp' },
        },
        live: {
          on: {
            'live.bars': [
              { guard: 'batchHasGap', target: 'catchingUp', actions: ['bufferBars', 'planCatchUp'] },
              { actions: ['mergeLive', 'emitLive'] },
            ],
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
