import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { FastLaneOutcome } from './predictor-fast-lane.ts';

/** What one handled batch of bars produced. */
export type PredictorBatchOutcome = {
  bars: number;
  predictions: number;
  replayed: number;
  withheld: number;
  warmingUp: number;
  stale: number;
  invalid: number;
  triggers: number;
  /** Predictions published on the fast lane (bars handed over by marketSync before their commit). */
  lane: number;
  /** Bars predicted on the fast lane that differ from their stored version (should stay 0). */
  laneMismatches: number;
  /** Wall time of the batch: validate, predict, publish, store. */
  ms: number;
};

export type PredictorStats = Omit<PredictorBatchOutcome, 'ms'> & { batches: number; lastBatchMs: number };

export type PredictorEvent =
  | { type: 'predictor.batch'; outcome: PredictorBatchOutcome }
  | { type: 'predictor.lane'; outcome: FastLaneOutcome }
  | { type: 'predictor.degraded'; reason: string }
  | { type: 'predictor.recovered' }
  | { type: 'predictor.stopped' }
  /** The consumer ended after a reconnect: prepare again (resume from the ack floor) and go on. */
  | { type: 'predictor.resume' }
  | { type: 'predictor.stop' };

export type PredictorContext = { stats: PredictorStats; lastError: string | undefined };

const emptyStats = (): PredictorStats => ({
  batches: 0,
  bars: 0,
  predictions: 0,
  replayed: 0,
  withheld: 0,
  warmingUp: 0,
  stale: 0,
  invalid: 0,
  triggers: 0,
  lane: 0,
  laneMismatches: 0,
  lastBatchMs: 0,
});

function add(s: PredictorStats, o: PredictorBatchOutcome): PredictorStats {
  return {
    batches: s.batches + 1,
    bars: s.bars + o.bars,
    predictions: s.predictions + o.predictions,
    replayed: s.replayed + o.replayed,
    withheld: s.withheld + o.withheld,
    warmingUp: s.warmingUp + o.warmingUp,
    stale: s.stale + o.stale,
    invalid: s.invalid + o.invalid,
    triggers: s.triggers + o.triggers,
    lane: s.lane + o.lane,
    laneMismatches: s.laneMismatches + o.laneMismatches,
    lastBatchMs: o.ms,
  };
}

/**
 * predictor: the lifecycle of the hybrid predictor of a process (all its
 * symbols). `preparing` (topology, durable consumer) -> `running.live`, or
 * `running.degraded` while NATS or the database fail (nothing acked, nothing
 * lost) -> `stopping` (finishes the batch in hand) -> `stopped`. The per-bar
 * work (features, regime, micro-batched inference, blend, publish, store) is the
 * injected `consume` callback actor; the machine sees one event per batch.
 */
export const predictorMachine = setup({
  types: {
    context: {} as PredictorContext,
    events: {} as PredictorEvent,
  },
  actors: {
    prepare: fromPromise<void>(async () => {
      throw new Error('prepare not provided');
    }),
    consume: fromCallback<{ type: 'predictor.stop' }>(() => undefined),
  },
  actions: {
    count: assign({ stats: ({ context, event }) => (event.type === 'predictor.batch' ? add(context.stats, event.outcome) : context.stats) }),
    // A fast-lane run counts its predictions; it says nothing about the health of the durable path.
    countLane: assign({
      stats: ({ context, event }) =>
        event.type === 'predictor.lane'
          ? { ...context.stats, predictions: context.stats.predictions + event.outcome.predictions, withheld: context.stats.withheld + event.outcome.withheld, lane: context.stats.lane + event.outcome.predictions }
          : context.stats,
    }),
  },
}).createMachine({
  id: 'predictor',
  context: { stats: emptyStats(), lastError: undefined },
  initial: 'preparing',
  states: {
    preparing: {
      invoke: {
        src: 'prepare',
        onDone: 'running',
        onError: { target: 'failed', actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) },
      },
      on: { 'predictor.stop': 'stopped' },
    },
    running: {
      invoke: { id: 'loop', src: 'consume' },
      initial: 'live',
      on: {
        'predictor.batch': { actions: 'count' },
        'predictor.lane': { actions: 'countLane' },
        'predictor.degraded': { target: '.degraded', actions: assign({ lastError: ({ event }) => event.reason }) },
        'predictor.stopped': 'failed',
        'predictor.resume': 'preparing',
        'predictor.stop': '.stopping',
      },
      states: {
        live: {},
        degraded: {
          on: {
            'predictor.recovered': { target: 'live', actions: assign({ lastError: undefined }) },
            'predictor.batch': { target: 'live', actions: 'count' },
          },
        },
        stopping: {
          entry: sendTo('loop', { type: 'predictor.stop' }),
          on: { 'predictor.stopped': '#predictor.stopped', 'predictor.degraded': {}, 'predictor.stop': {} },
        },
      },
    },
    failed: { type: 'final' },
    stopped: { type: 'final' },
  },
});
