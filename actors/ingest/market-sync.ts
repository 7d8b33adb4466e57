import { createActor, waitFor, type ActorRefFrom } from 'xstate';
import { marketSyncMachine } from './market-sync.machine.ts';
import { createSyncActors, type SyncDeps } from './market-sync.effects.ts';

export type MarketSyncHandle = {
  actor: ActorRefFrom<typeof marketSyncMachine>;
  /** Resolves once connected (topology, consumer and state ready), or rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Finishes the batch in hand, acks it, closes the consumer; resolves when stopped. */
  stop(): Promise<void>;
};

/** Starts the marketSync actor with its real effects. */
export function startMarketSync(deps: SyncDeps): MarketSyncHandle {
  const logic = createSyncActors(deps);
  const actor = createActor(
    marketSyncMachine.provide({ actors: { connect: logic.connect, consume: logic.consume } }),
    { input: { retryMinMs: deps.settings.RETRY_MIN_MS, retryMaxMs: deps.settings.RETRY_MAX_MS } },
  );
  actor.start();
  return {
    actor,
    async ready(timeoutMs = 30_000) {
      await waitFor(actor, (s) => s.matches('running'), { timeout: timeoutMs });
    },
    async stop() {
      actor.send({ type: 'sync.stop' });
      await waitFor(actor, (s) => s.status === 'done', { timeout: 30_000 });
    },
  };
}
