import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import { backoffDelay } from '../../streams/index.ts';
import type { BatchOutcome } from './ingest-pipeline.ts';
import type { ConnectOutput, SyncLoopEvent } from './market-sync.effects.ts';
import type { IngestStall } from './tick-consume-loop.ts';

export type MarketSyncStats = {
  batches: number;
  received: number;
  stored: number;
  duplicates: number;
  invalid: number;
  /** Conflicting duplicates (a stored key, other content), dead-lettered as `conflict`; also in `invalid`. */
  conflicts: number;
  barsPublished: number;
  lateBars: number;
  pending: number;
  lastStreamSeq: number;
  lastBatchMs: number;
};

export type MarketSyncContext = {
  stats: MarketSyncStats;
  /** Set while ingest has work pending and nothing settles (see `ops.alert.ingest_stalled`). */
  stalled: IngestStall | undefined;
  connectAttempts: number;
  lastError: string | undefined;
  retryMinMs: number;
  retryMaxMs: number;
};

export type MarketSyncInput = { retryMinMs: number; retryMaxMs: number };
export type MarketSyncEvent = SyncLoopEvent | { type: 'sync.stop' };

const emptyStats = (): MarketSyncStats => ({
  batches: 0,
  received: 0,
  stored: 0,
  duplicates: 0,
  invalid: 0,
  conflicts: 0,
  barsPublished: 0,
  lateBars: 0,
  pending: 0,
  lastStreamSeq: 0,
  lastBatchMs: 0,
});

function addOutcome(s: MarketSyncStats, o: BatchOutcome): MarketSyncStats {
  return {
    batches: s.batches + 1,
    received: s.received + o.received,
    stored: s.stored + o.stored,
    duplicates: s.duplicates + o.duplicates,
    invalid: s.invalid + o.invalid,
    conflicts: s.conflicts + (o.conflicts ?? 0),
    barsPublished: s.barsPublished + o.barsPublished,
    lateBars: s.lateBars + o.lateBars,
    pending: o.pending,
    lastStreamSeq: o.lastStreamSeq,
    lastBatchMs: o.durationMs,
  };
}

/**
 * marketSync: the lifecycle of the ingest path (ticks -> ticks table -> 1m bars).
 * connecting -> running.catchingUp <-> running.live, running.degraded while the
 * database or NATS is unavailable (nothing is acked, nothing dropped), stopping
 * (finishes the batch in hand) -> stopped. The per-message work happens in the
 * injected `consume` callback actor; the machine sees one event per batch.
 */
export const marketSyncMachine = setup({
  types: {
    context: {} as MarketSyncContext,
    events: {} as MarketSyncEvent,
    input: {} as MarketSyncInput,
  },
  actors: {
    connect: fromPromise<ConnectOutput>(async () => {
      throw new Error('connect not provided');
    }),
    consume: fromCallback<{ type: 'sync.stop' }>(() => undefined),
  },
  guards: {
    caughtUp: ({ event }) => event.type === 'sync.batch' && event.outcome.pending === 0,
    behind: ({ event }) => event.type === 'sync.batch' && event.outcome.pending > 0,
  },
  delays: {
    reconnectDelay: ({ context }) => backoffDelay(context.connectAttempts, context.retryMinMs, context.retryMaxMs),
  },
  actions: {
    countBatch: assign({
      stats: ({ context, event }) => (event.type === 'sync.batch' ? addOutcome(context.stats, event.outcome) : context.stats),
    }),
  },
}).createMachine({
  id: 'marketSync',
  context: ({ input }) => ({
    stats: emptyStats(),
    stalled: undefined,
    connectAttempts: 0,
    lastError: undefined,
    retryMinMs: input.retryMinMs,
    retryMaxMs: input.retryMaxMs,
  }),
  initial: 'connecting',
  on: { 'sync.stop': '.stopped' },
  states: {
    connecting: {
      invoke: {
        src: 'connect',
        onDone: { target: 'running', actions: assign({ connectAttempts: 0, lastError: undefined }) },
        onError: {
          target: 'waitingToReconnect',
          actions: assign({
            connectAttempts: ({ context }) => context.connectAttempts + 1,
            lastError: ({ event }) => String((event.error as Error)?.message ?? event.error),
          }),
        },
      },
    },
    waitingToReconnect: {
      after: { reconnectDelay: 'connecting' },
    },
    running: {
      invoke: { id: 'loop', src: 'consume' },
      initial: 'catchingUp',
      on: {
        'sync.batch': { actions: 'countBatch' },
        'sync.stalled': { actions: assign({ stalled: ({ event }) => event.stall }) },
        'sync.unstalled': { actions: assign({ stalled: undefined }) },
        'sync.degraded': { target: '.degraded', actions: assign({ lastError: ({ event }) => event.reason }) },
        // The loop ended without being asked to: reconnect from scratch.
        'sync.stopped': { target: 'waitingToReconnect', actions: assign({ connectAttempts: ({ context }) => context.connectAttempts + 1 }) },
        'sync.stop': '.stopping',
      },
      states: {
        catchingUp: {
          on: { 'sync.batch': { guard: 'caughtUp', target: 'live', actions: 'countBatch' } },
        },
        live: {
          on: { 'sync.batch': { guard: 'behind', target: 'catchingUp', actions: 'countBatch' } },
        },
        degraded: {
          on: {
            'sync.recovered': { target: 'catchingUp', actions: assign({ lastError: undefined }) },
            'sync.batch': { target: 'catchingUp', actions: 'countBatch' },
          },
        },
        stopping: {
          entry: sendTo('loop', { type: 'sync.stop' }),
          on: { 'sync.stopped': '#marketSync.stopped', 'sync.degraded': {}, 'sync.stop': {} },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
