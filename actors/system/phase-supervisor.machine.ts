import { assign, fromCallback, fromPromise, setup } from 'xstate';
import type { Phase1Result } from '../lifecycle/index.ts';
import type { ChildName, SupervisionEvent } from './phase-supervisor.effects.ts';

export type PhaseSupervisorContext = {
  phase1: Phase1Result | undefined;
  /** Children that crashed and were given up on (the system runs degraded without them). */
  failed: ChildName[];
  restarts: number;
  lastError: string | undefined;
};

export type PhaseSupervisorEvent = SupervisionEvent | { type: 'system.stop' };

const notProvided = (name: string) =>
  fromPromise<void>(async () => {
    throw new Error(`${name} not provided`);
  });

/**
 * The root actor of the system. Phases run in order, each starting its children
 * and moving on once they are ready:
 *   phase1 (offline pretraining of the per-regime models; skipped when pretrained
 *   versions are already active) -> phase2 (live sync: marketSync) -> phase3
 *   (online learning: model source watching KV, lifecycle with retraining and
 *   auto-rollback) -> phase4 (hybrid prediction with fine-tuning) -> running.
 * While running, a crashed child is restarted with backoff by the injected
 * `supervise` logic; a child failing repeatedly puts the system in `degraded`
 * (visible, not a crash loop). A failed phase start stops the system in `failed`.
 * `system.stop` drains in every state: stop consuming, finish and ack, close.
 */
export const phaseSupervisorMachine = setup({
  types: { context: {} as PhaseSupervisorContext, events: {} as PhaseSupervisorEvent },
  actors: {
    phase1: fromPromise<Phase1Result>(async () => {
      throw new Error('phase1 not provided');
    }),
    phase2: notProvided('phase2'),
    phase3: notProvided('phase3'),
    phase4: notProvided('phase4'),
    supervise: fromCallback<{ type: 'noop' }>(() => undefined),
    drain: notProvided('drain'),
  },
  actions: {
    recordError: assign({
      lastError: ({ event }) => {
        const e = event as unknown as { error?: unknown };
        return e.error instanceof Error ? e.error.message : String(e.error);
      },
    }),
  },
}).createMachine({
  id: 'phaseSupervisor',
  context: { phase1: undefined, failed: [], restarts: 0, lastError: undefined },
  initial: 'phase1',
  on: { 'system.stop': '.stopping' },
  states: {
    phase1: {
      invoke: {
        src: 'phase1',
        onDone: { target: 'phase2', actions: assign({ phase1: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: 'recordError' },
      },
    },
    phase2: { invoke: { src: 'phase2', onDone: 'phase3', onError: { target: 'failed', actions: 'recordError' } } },
    phase3: { invoke: { src: 'phase3', onDone: 'phase4', onError: { target: 'failed', actions: 'recordError' } } },
    phase4: { invoke: { src: 'phase4', onDone: 'running', onError: { target: 'failed', actions: 'recordError' } } },
    running: {
      invoke: { src: 'supervise' },
      initial: 'healthy',
      on: {
        'child.failed': { actions: assign({ lastError: ({ event }) => `${event.child}: ${event.error}` }) },
        'child.restarted': { actions: assign({ restarts: ({ context }) => context.restarts + 1 }) },
        'child.gave_up': { target: '.degraded', actions: assign({ failed: ({ context, event }) => [...new Set([...context.failed, event.child])] }) },
      },
      states: { healthy: {}, degraded: {} },
    },
    failed: {},
    stopping: {
      on: { 'system.stop': {} },
      invoke: { src: 'drain', onDone: 'stopped', onError: { target: 'stopped', actions: 'recordError' } },
    },
    stopped: { type: 'final' },
  },
});
