import { assign, fromPromise, setup } from 'xstate';
import type { AdaptationOutcome, FineTuneTrigger } from './index.ts';

/** A queued fine-tune: the trigger, and the `model.retrain.cmd` request it answers, if any. */
export type FineTuneJob = { trigger: FineTuneTrigger; requestId?: string };

export type FineTunerContext = {
  queue: FineTuneJob[];
  current: FineTuneJob | undefined;
  runs: number;
  activated: number;
  failures: number;
  lastOutcome: AdaptationOutcome | undefined;
  lastError: string | undefined;
};

export type FineTunerEvent = { type: 'finetune.requested'; job: FineTuneJob } | { type: 'finetune.stop' };

const key = (j: FineTuneJob) => `${j.trigger.venue}.${j.trigger.symbol}`;

/** Enqueues a job; a newer job for the same symbol replaces the queued one (its bars are fresher). */
export function enqueue(queue: readonly FineTuneJob[], job: FineTuneJob): FineTuneJob[] {
  const i = queue.findIndex((j) => key(j) === key(job));
  if (i < 0) return [...queue, job];
  const next = [...queue];
  next[i] = { ...job, ...(job.requestId === undefined && queue[i]?.requestId !== undefined ? { requestId: queue[i]?.requestId } : {}) };
  return next;
}

/**
 * fineTuner: builds online models in the background, one at a time per process
 * (the machines have two cores; predictions must not pause). `idle` until a
 * trigger (every N bars, drift, cold start, `model.retrain.cmd`) arrives, then
 * `training` runs the injected `adapt` (fine-tune + hand the candidate to the
 * sink, yielding to the event loop between mini-batches) and reports through the
 * injected `reported` / `failed` actions; queued jobs run next, newest bars per symbol.
 */
export const fineTunerMachine = setup({
  types: {
    context: {} as FineTunerContext,
    events: {} as FineTunerEvent,
  },
  actors: {
    adapt: fromPromise<AdaptationOutcome, FineTuneJob>(async () => {
      throw new Error('adapt not provided');
    }),
  },
  actions: {
    queue: assign({ queue: ({ context, event }) => (event.type === 'finetune.requested' ? enqueue(context.queue, event.job) : context.queue) }),
    takeNext: assign({ current: ({ context }) => context.queue[0], queue: ({ context }) => context.queue.slice(1) }),
    reported: (_, _params: { job: FineTuneJob | undefined; outcome: AdaptationOutcome }) => undefined,
    failed: (_, _params: { job: FineTuneJob | undefined; error: unknown }) => undefined,
  },
  guards: {
    hasQueued: ({ context }) => context.queue.length > 0,
  },
}).createMachine({
  id: 'fineTuner',
  context: { queue: [], current: undefined, runs: 0, activated: 0, failures: 0, lastOutcome: undefined, lastError: undefined },
  initial: 'idle',
  on: { 'finetune.requested': { actions: 'queue' }, 'finetune.stop': '.stopped' },
  states: {
    idle: {
      always: { guard: 'hasQueued', target: 'training', actions: 'takeNext' },
    },
    training: {
      invoke: {
        src: 'adapt',
        input: ({ context }) => {
          if (!context.current) throw new Error('training without a job');
          return context.current;
        },
        onDone: {
          target: 'idle',
          actions: [
            assign({
              runs: ({ context }) => context.runs + 1,
              activated: ({ context, event }) => context.activated + (event.output.decision.activated ? 1 : 0),
              lastOutcome: ({ event }) => event.output,
              lastError: undefined,
            }),
            { type: 'reported', params: ({ context, event }: { context: FineTunerContext; event: { output: AdaptationOutcome } }) => ({ job: context.current, outcome: event.output }) },
            assign({ current: undefined }),
          ],
        },
        onError: {
          target: 'idle',
          actions: [
            assign({
              runs: ({ context }) => context.runs + 1,
              failures: ({ context }) => context.failures + 1,
              lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)),
            }),
            { type: 'failed', params: ({ context, event }: { context: FineTunerContext; event: { error: unknown } }) => ({ job: context.current, error: event.error }) },
            assign({ current: undefined }),
          ],
        },
      },
    },
    stopped: { type: 'final' },
  },
});
