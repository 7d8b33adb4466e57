import { fromPromise } from 'xstate';
import type { Logger } from '../../config/index.ts';
import { gateFromSettings, KvModelSource, runPhase1, type Phase1Result } from '../lifecycle/index.ts';
import type { FeatureSpec } from '../../models/index.ts';
import { startOps } from '../../ops/index.ts';
import { WorkClaims } from '../../streams/index.ts';
import { errorText, type ChildWatch } from './child-restarts.ts';
import type { ChildStarters } from './child-starters.ts';
import { INGEST_CLAIM, type IngestLease } from './ingest-lease.ts';
import type { Children, SupervisorDeps } from './phase-supervisor.effects.ts';
import { symbolRows } from './symbol-rows.ts';

/** What the phases of one supervisor share. */
export type PhaseEnv = {
  deps: SupervisorDeps;
  /** The supervisor's logger. */
  log: Logger;
  spec: FeatureSpec;
  children: Children;
  starters: ChildStarters;
  watch: ChildWatch;
  ingest: IngestLease;
};

/** Phase 1: offline pretraining of the per-regime models (skipped when pretrained versions are active). */
export function phase1Logic({ deps, spec, children }: PhaseEnv) {
  return fromPromise<Phase1Result>(async () => {
    children.phase1 = await runPhase1({
      nc: deps.nc,
      db: deps.db,
      log: deps.log,
      spec,
      backend: deps.settings.TFJS_BACKEND,
      gate: gateFromSettings(deps.settings),
      ...(deps.pretrainEpochs ? { epochs: deps.pretrainEpochs } : {}),
    });
    return children.phase1;
  });
}

/** Phase 2: live sync. Ingest starts at once, or in scale-out when this process claims the ingest lease. */
export function phase2Logic(env: PhaseEnv) {
  return fromPromise(async () => {
    if (!env.deps.settings.SCALE_OUT) return env.ingest.start();
    return startScaleOut(env);
  });
}

/** Scale-out: opens this process's work claims and follows the ingest lease; the leader's ingest is up when it resolves. */
async function startScaleOut({ deps, log, children, ingest }: PhaseEnv): Promise<void> {
  const claims = await WorkClaims.open(deps.nc, { ttlMs: deps.settings.CLAIM_TTL_MS, log: deps.log });
  children.claims = claims;
  claims.listen({
    onAcquired: (key) => {
      if (key === INGEST_CLAIM) void ingest.onLease(true);
    },
    onLost: (key) => {
      if (key === INGEST_CLAIM) void ingest.onLease(false);
    },
  });
  children.status.marketSync.state = 'standby';
  const leader = await claims.claim(INGEST_CLAIM);
  await ingest.chain;
  // Before Phase 4 nothing supervises: the leader's ingest must be up, as without scale-out.
  if (leader && !children.sync) throw new Error(`marketSync did not start: ${errorText(ingest.error)}`, { cause: ingest.error });
  log.info({ processId: claims.processId, role: leader ? 'ingest leader' : 'standby' }, 'scale-out: work claims started');
}

/** Phase 3: online learning: the model source watching KV, and the lifecycle with retraining and auto-rollback. */
export function phase3Logic({ deps, children, starters, watch }: PhaseEnv) {
  return fromPromise(async () => {
    children.models = await KvModelSource.start({ nc: deps.nc, db: deps.db, log: deps.log, name: `run-${process.pid}` });
    watch.watch('lifecycle', await starters.lifecycle());
  });
}

/** The error of a monitoring start that failed; a port in use says which setting to change. */
export function opsStartError(err: unknown, metricsPort: number): Error {
  const e = err as NodeJS.ErrnoException;
  return new Error(e.code === 'EADDRINUSE' ? `METRICS_PORT ${metricsPort} is in use: set METRICS_PORT to a free port (0 = any)` : e.message, { cause: err });
}

/** Phase 4: hybrid prediction with fine-tuning, then monitoring. */
export function phase4Logic({ deps, children, starters, watch }: PhaseEnv) {
  return fromPromise(async () => {
    watch.watch('predictor', await starters.predictor());
    // Monitoring: metrics/health HTTP, consumer lag, alerts, the `signals` NATS service.
    try {
      children.ops = await startOps({ nc: deps.nc, db: deps.db, settings: deps.settings, log: deps.log, status: () => deps.status?.() ?? {}, symbols: () => symbolRows(children) });
    } catch (err) {
      throw opsStartError(err, deps.settings.METRICS_PORT);
    }
    if (children.sync) children.ops.attachMarketSync(children.sync.actor);
    children.ops.metrics.setPhase('phase4');
  });
}

/** Stop order: no new ticks first (marketSync drains and acks), then prediction, then the lifecycle. */
export function drainLogic({ log, children, watch, ingest }: PhaseEnv) {
  return fromPromise(async () => {
    watch.stop();
    await ingest.chain;
    await children.sync?.stop().catch((err: unknown) => log.warn({ err }, 'marketSync stop'));
    await children.history?.stop().catch((err: unknown) => log.warn({ err }, 'history loader stop'));
    await children.quality?.stop(10_000).catch((err: unknown) => log.warn({ err }, 'quality supervisor stop'));
    await children.predictor?.stop().catch((err: unknown) => log.warn({ err }, 'predictor stop'));
    // Releases the ingest lease and the symbols: other processes take them over at once.
    await children.claims?.stop().catch((err: unknown) => log.warn({ err }, 'work claims stop'));
    await children.lifecycle?.stop().catch((err: unknown) => log.warn({ err }, 'lifecycle stop'));
    await children.models?.stop().catch((err: unknown) => log.warn({ err }, 'model source stop'));
    await children.ops?.stop().catch((err: unknown) => log.warn({ err }, 'ops stop'));
  });
}
