import { createActor, waitFor, type ActorRefFrom } from 'xstate';
import { modelLifecycleMachine } from './model-lifecycle.machine.ts';
import { createLifecycleActors, type LifecycleDeps } from './model-lifecycle.effects.ts';
import type { RolloutStatus } from './rollout-monitor.ts';
import type { ScopeSchedule } from './scheduler.ts';

export type ModelLifecycleHandle = {
  actor: ActorRefFrom<typeof modelLifecycleMachine>;
  /** Resolves once connected and serving (consumer, service endpoints), or rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Per symbol scope: last training, next scheduled retrain, corrections since training, last trigger. */
  schedule(): ScopeSchedule[];
  /** The open rollouts: stage, challenger, champion, canary, outcomes so far and the latest look. */
  rollouts(): RolloutStatus[];
  /** Stops the service and the consumer, waits (bounded) for trainings in flight; resolves when stopped. */
  stop(): Promise<void>;
};

/** Starts the modelLifecycle actor with its real effects. */
export function startModelLifecycle(deps: LifecycleDeps): ModelLifecycleHandle {
  let describe: () => Record<string, unknown> = () => ({ state: 'starting' });
  const logic = createLifecycleActors({ ...deps, describe: () => describe() });
  const actor = createActor(modelLifecycleMachine.provide({ actors: { connect: logic.connect, work: logic.work } }), {
    input: { retryMinMs: deps.settings.RETRY_MIN_MS, retryMaxMs: deps.settings.RETRY_MAX_MS },
  });
  describe = () => {
    const snap = actor.getSnapshot();
    return { state: snap.value, stats: snap.context.stats, inFlight: snap.context.inFlight, lastError: snap.context.lastError ?? null };
  };
  actor.start();
  return {
    actor,
    async ready(timeoutMs = 30_000) {
      await waitFor(actor, (s) => s.matches('running'), { timeout: timeoutMs });
    },
    schedule: () => logic.schedule(),
    rollouts: () => logic.rollouts(),
    async stop() {
      actor.send({ type: 'lifecycle.stop' });
      await waitFor(actor, (s) => s.status === 'done', { timeout: 60_000 });
    },
  };
}
