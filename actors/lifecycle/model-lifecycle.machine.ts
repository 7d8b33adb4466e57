import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import { backoffDelay } from '../../streams/index.ts';

/** Events the lifecycle loop (model-lifecycle.logic.ts `work`) sends the machine: one per retrain step or rollback. */
export type LifecycleLoopEvent =
  | { type: 'retrain.queued'; requestId: string; scope: string }
  | { type: 'retrain.started'; requestId: string; scope: string; attempt: number }
  | { type: 'retrain.finished'; requestId: string; scope: string; status: 'succeeded' | 'failed' | 'skipped'; version?: string; deployed: boolean }
  | { type: 'model.rolledback'; scope: string; version: string; auto: boolean; latencyMs: number }
  | { type: 'lifecycle.degraded'; reason: string }
  | { type: 'lifecycle.recovered' }
  | { type: 'lifecycle.stopped' };

export type ModelLifecycleEvent = LifecycleLoopEvent | { type: 'lifecycle.stop' };

export type ModelLifecycleStats = {
  queued: number;
  succeeded: number;
  failed: number;
  skipped: number;
  deployed: number;
  rollbacks: number;
  autoRollbacks: number;
};

export type ModelLifecycleContext = {
  stats: ModelLifecycleStats;
  /** Scope -> the request being worked on (one at a time per scope). */
  inFlight: Record<string, string>;
  connectAttempts: number;
  lastError: string | undefined;
  retryMinMs: number;
  retryMaxMs: number;
};

export type ModelLifecycleInput = { retryMinMs: number; retryMaxMs: number };

const emptyStats = (): ModelLifecycleStats => ({ queued: 0, succeeded: 0, failed: 0, skipped: 0, deployed: 0, rollbacks: 0, autoRollbacks: 0 });

/**
 * modelLifecycle: connecting (topology, retrain consumer, KV, NATS service) ->
 * running.idle <-> running.retraining (some scope is training), running.degraded
 * while NATS or the database fail, stopping -> stopped. Retrain commands, gate,
 * verification, activation and rollbacks are done by the injected `work`
 * callback actor; the machine tracks which scopes are busy and counts outcomes.
 */
export const modelLifecycleMachine = setup({
  types: {
    context: {} as ModelLifecycleContext,
    events: {} as ModelLifecycleEvent,
    input: {} as ModelLifecycleInput,
  },
  actors: {
    connect: fromPromise<void>(async () => {
      throw new Error('connect not provided');
    }),
    work: fromCallback<{ type: 'lifecycle.stop' }>(() => undefined),
  },
  guards: {
    lastInFlight: ({ context, event }) =>
      event.type === 'retrain.finished' && Object.keys(context.inFlight).filter((s) => s !== event.scope).length === 0,
  },
  delays: {
    reconnectDelay: ({ context }) => backoffDelay(context.connectAttempts, context.retryMinMs, context.retryMaxMs),
  },
  actions: {
    countQueued: assign({ stats: ({ context }) => ({ ...context.stats, queued: context.stats.queued + 1 }) }),
    markStarted: assign({
      inFlight: ({ context, event }) => (event.type === 'retrain.started' ? { ...context.inFlight, [event.scope]: event.requestId } : context.inFlight),
    }),
    markFinished: assign(({ context, event }) => {
      if (event.type !== 'retrain.finished') return {};
      const inFlight = { ...context.inFlight };
      delete inFlight[event.scope];
      const s = context.stats;
      return {
        inFlight,
        stats: {
          ...s,
          succeeded: s.succeeded + (event.status === 'succeeded' ? 1 : 0),
          failed: s.failed + (event.status === 'failed' ? 1 : 0),
          skipped: s.skipped + (event.status === 'skipped' ? 1 : 0),
          deployed: s.deployed + (event.deployed ? 1 : 0),
        },
      };
    }),
    countRollback: assign({
      stats: ({ context, event }) =>
        event.type === 'model.rolledback'
          ? { ...context.stats, rollbacks: context.stats.rollbacks + 1, autoRollbacks: context.stats.autoRollbacks + (event.auto ? 1 : 0) }
          : context.stats,
    }),
  },
}).createMachine({
  id: 'modelLifecycle',
  context: ({ input }) => ({
    stats: emptyStats(),
    inFlight: {},
    connectAttempts: 0,
    lastError: undefined,
    retryMinMs: input.retryMinMs,
    retryMaxMs: input.retryMaxMs,
  }),
  initial: 'connecting',
  on: { 'lifecycle.stop': '.stopped' },
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
    waitingToReconnect: { after: { reconnectDelay: 'connecting' } },
    running: {
      invoke: { id: 'work', src: 'work' },
      initial: 'idle',
      on: {
        'retrain.queued': { actions: 'countQueued' },
        'retrain.started': { target: '.retraining', actions: 'markStarted' },
        'retrain.finished': { actions: 'markFinished' },
        'model.rolledback': { actions: 'countRollback' },
        'lifecycle.degraded': { target: '.degraded', actions: assign({ lastError: ({ event }) => event.reason }) },
        'lifecycle.stopped': { target: 'waitingToReconnect', actions: assign({ connectAttempts: ({ context }) => context.connectAttempts + 1 }) },
        'lifecycle.stop': '.stopping',
      },
      states: {
        idle: {},
        retraining: {
          on: { 'retrain.finished': [{ guard: 'lastInFlight', target: 'idle', actions: 'markFinished' }, { actions: 'markFinished' }] },
        },
        degraded: {
          on: { 'lifecycle.recovered': { target: 'idle', actions: assign({ lastError: undefined }) } },
        },
        stopping: {
          entry: sendTo('work', { type: 'lifecycle.stop' }),
          on: {
            'lifecycle.stopped': '#modelLifecycle.stopped',
            'lifecycle.stop': {},
            'retrain.started': { actions: 'markStarted' },
            'lifecycle.degraded': {},
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
