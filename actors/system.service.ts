import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../config/index.ts';
import type { Db } from '../sql/index.ts';
import { startBaselinePredictor, type BaselinePredictorHandle } from './baseline-predictor.service.ts';
import type { MarketSyncStats } from './market-sync.actor.ts';
import { startMarketSync, type MarketSyncHandle } from './market-sync.service.ts';

export type SystemDeps = { nc: NatsConnection; db: Db; settings: Settings; log: Logger };

export type SystemStatus = {
  sync: { state: string; stats: MarketSyncStats; lastError: string | undefined };
  predictor: BaselinePredictorHandle['stats'];
};

export type SystemHandle = {
  status(): SystemStatus;
  /** Drains: stops consuming, finishes and acks the batches in hand, then closes. */
  stop(): Promise<void>;
};

/** A state value as `running.live`, for display. */
function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? ['?', ''];
    return `${k}.${stateName(v)}`;
  }
  return String(value);
}

/** Starts the live path: marketSync (ticks -> bars) and the predictor (bars -> predictions). */
export async function startSystem(deps: SystemDeps): Promise<SystemHandle> {
  const sync: MarketSyncHandle = startMarketSync(deps);
  await sync.ready();
  const predictor = await startBaselinePredictor(deps);
  return {
    status() {
      const snap = sync.actor.getSnapshot();
      return {
        sync: { state: stateName(snap.value), stats: snap.context.stats, lastError: snap.context.lastError },
        predictor: predictor.stats,
      };
    },
    async stop() {
      await sync.stop();
      await predictor.stop();
    },
  };
}
