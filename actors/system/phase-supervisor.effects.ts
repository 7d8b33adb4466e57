import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../../config/index.ts';
import type { KvModelSource, Phase1Result, ModelLifecycleHandle } from '../lifecycle/index.ts';
import type { FeatureSpec } from '../../models/index.ts';
import { DEFAULT_PREDICTOR_SPEC, PushOutcomeFeed, type ModelSource, type PredictorsHandle } from '../prediction/index.ts';
import { createAlerter, type Alerter, type OpsHandle } from '../../ops/index.ts';
import type { Db } from '../../sql/index.ts';
import type { WorkClaims } from '../../streams/index.ts';
import type { MarketSyncHandle } from '../ingest/index.ts';
import type { HistoryLoaderHandle, QualitySupervisorHandle } from '../quality/index.ts';
import { ChildWatch, superviseLogic } from './child-restarts.ts';
import { ChildStarters } from './child-starters.ts';
import { IngestLease } from './ingest-lease.ts';
import { drainLogic, phase1Logic, phase2Logic, phase3Logic, phase4Logic, type PhaseEnv } from './phases.ts';

export { INGEST_CLAIM } from './ingest-lease.ts';

export type SupervisorDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  spec?: FeatureSpec;
  /** Epochs of Phase 1 pretraining (default: the pretraining default). */
  pretrainEpochs?: number;
  /** Restarts of one child within `restartWindowMs` before the system is degraded instead of restarting again. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Test seam: wraps the model source the predictor reads (e.g. to inject a model that fails on one symbol). */
  wrapModels?: (models: ModelSource) => ModelSource;
  /** What the `signals.status` endpoint answers (the system's status). */
  status?: () => unknown;
};

export type ChildName = 'marketSync' | 'predictor' | 'lifecycle';
export type ChildStatus = { state: string; restarts: number; lastError: string | undefined };

/** Events the supervision callback sends the phase machine. */
export type SupervisionEvent =
  | { type: 'child.failed'; child: ChildName; error: string }
  | { type: 'child.restarted'; child: ChildName; restarts: number }
  | { type: 'child.gave_up'; child: ChildName; error: string };

/** The running children, as the status view and the drain see them. */
export type Children = {
  sync: MarketSyncHandle | undefined;
  predictor: PredictorsHandle | undefined;
  lifecycle: ModelLifecycleHandle | undefined;
  models: KvModelSource | undefined;
  quality: QualitySupervisorHandle | undefined;
  /** Phase 2: loads a new symbol's history and joins it to its live bars (with a history source configured). */
  history: HistoryLoaderHandle | undefined;
  ops: OpsHandle | undefined;
  /** Realised outcomes of this process's predictions, from the predictor to the lifecycle; outlives restarts of both. */
  outcomes: PushOutcomeFeed;
  phase1: Phase1Result | undefined;
  /** Scale-out (SCALE_OUT=true): this process's work claims. */
  claims: WorkClaims | undefined;
  status: Record<ChildName, ChildStatus>;
};

function createChildren(): Children {
  return {
    sync: undefined,
    predictor: undefined,
    lifecycle: undefined,
    models: undefined,
    quality: undefined,
    history: undefined,
    ops: undefined,
    outcomes: new PushOutcomeFeed(),
    phase1: undefined,
    claims: undefined,
    status: {
      marketSync: { state: 'not started', restarts: 0, lastError: undefined },
      predictor: { state: 'not started', restarts: 0, lastError: undefined },
      lifecycle: { state: 'not started', restarts: 0, lastError: undefined },
    },
  };
}

/** Alerts go through monitoring's metered alerter once it runs (Phase 4); ingest raises alerts from Phase 2 on. */
function routeAlerts(deps: SupervisorDeps, children: Children): Alerter {
  const earlyAlert = createAlerter(jetstream(deps.nc), { log: deps.log });
  return (kind, payload) => (children.ops ? children.ops.alert(kind, payload) : earlyAlert(kind, payload));
}

/**
 * Effects of the phase supervisor: one `fromPromise` per phase (each starts its
 * children and resolves once they are ready), the `supervise` callback that
 * restarts a crashed child with backoff (and gives up, degrading the system,
 * after `maxRestarts` within the window), and `drain` for a clean stop.
 */
export function createSupervisorActors(deps: SupervisorDeps) {
  const log = deps.log.child({ actor: 'phaseSupervisor' });
  // The learned models get a head for every published horizon, so they can earn weight on each.
  const spec = deps.spec ?? { ...DEFAULT_PREDICTOR_SPEC, horizons: [...deps.settings.SIGNAL_HORIZONS] };
  const children = createChildren();
  const starters = new ChildStarters({ deps, log, spec, children, alert: routeAlerts(deps, children) });
  const watch = new ChildWatch(children.status);
  const ingest = new IngestLease({ log, children, starters, watch });
  const env: PhaseEnv = { deps, log, spec, children, starters, watch, ingest };
  return {
    actors: {
      phase1: phase1Logic(env),
      phase2: phase2Logic(env),
      phase3: phase3Logic(env),
      phase4: phase4Logic(env),
      supervise: superviseLogic(env),
      drain: drainLogic(env),
    },
    children,
  };
}
