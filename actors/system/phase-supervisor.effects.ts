import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AnyActorRef } from 'xstate';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import { KvModelSource } from '../lifecycle/index.ts';
import type { RegistryEnv } from '../lifecycle/index.ts';
import { RegistryCandidateSink } from '../lifecycle/index.ts';
import { gateFromSettings } from '../lifecycle/index.ts';
import type { FeatureSpec } from '../../models/index.ts';
import { PushOutcomeFeed, type ModelSource } from '../prediction/index.ts';
import { createAlerter, startOps, type Alerter, type OpsHandle } from '../../ops/index.ts';
import type { Db } from '../../sql/index.ts';
import { KV_BUCKETS, openBucket } from '../../streams/index.ts';
import { backoffDelay } from '../../streams/index.ts';
import { BarLane } from '../ingest/index.ts';
import { startMarketSync, type MarketSyncHandle } from '../ingest/index.ts';
import { startModelLifecycle, type ModelLifecycleHandle } from '../lifecycle/index.ts';
import {
  historyFromSettings,
  NO_HISTORY,
  parseQualitySettings,
  startHistoryLoader,
  startQualitySupervisor,
  QualityBoard,
  type HistoryLoaderHandle,
  type QualitySupervisorHandle,
} from '../quality/index.ts';
import { runPhase1, type Phase1Result } from '../lifecycle/index.ts';
import { DEFAULT_PREDICTOR_SPEC } from '../prediction/index.ts';
import { startPredictors, type PredictorsHandle } from '../prediction/index.ts';
import { WorkClaims } from '../../streams/index.ts';

/** Scale-out: the work-claim key of the ingest leader lease (marketSync and the quality supervisor). */
export const INGEST_CLAIM = 'ingest';

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

/**
 * Effects of the phase supervisor: one `fromPromise` per phase (each starts its
 * children and resolves once they are ready), the `supervise` callback that
 * restarts a crashed child with backoff (and gives up, degrading the system,
 * after `maxRestarts` within the window), and `drain` for a clean stop.
 */
export function createSupervisorActors(deps: SupervisorDeps) {
  const log = deps.log.child({ actor: 'phaseSupervisor' });
  const spec = deps.spec ?? DEFAULT_PREDICTOR_SPEC;
  const children: Children = {
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
  let stopping = false;
  // Ingest raises alerts from Phase 2 on, before monitoring (and its metered alerter) starts in Phase 4.
  const earlyAlert = createAlerter(jetstream(deps.nc), { log: deps.log });
  const alert: Alerter = (kind, payload) => (children.ops ? children.ops.alert(kind, payload) : earlyAlert(kind, payload));
  /** Closed bars from marketSync to the predictor of this process, ahead of their commit; outlives restarts of both. */
  const lane = new BarLane();

  const registryEnv = async (): Promise<RegistryEnv> => ({
    db: deps.db,
    kv: await openBucket(deps.nc, KV_BUCKETS.modelActive),
    js: jetstream(deps.nc),
    log: deps.log,
  });
  /**
   * A crashed child's handle may still hold resources (the predictor's fine-tuner
   * and weight keepers, timers, a consumer): stop it, bounded, before its
   * replacement starts.
   */
  const retire = async (handle: { stop(): Promise<void> } | undefined, name: string) => {
    if (!handle) return;
    const bounded = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref());
    await Promise.race([handle.stop().catch((err: unknown) => log.warn({ err, child: name }, 'stopping the crashed child failed')), bounded]);
  };
  const startSync = async () => {
    await retire(children.sync, 'marketSync');
    const sync = startMarketSync({ ...deps, lane, alert });
    await sync.ready();
    children.sync = sync;
    return sync.actor;
  };
  /** The predictor's failed handlings per bar: a poison bar crashes it, and the count must outlive the restart. */
  const predictorFailures = new Map<number, number>();
  /** The symbols' health: the quality supervisor announces it, the predictor withholds quarantined symbols by it. */
  const board = new QualityBoard();
  const startPredictor = async () => {
    if (!children.models) throw new Error('model source not started');
    await retire(children.predictor, 'predictor');
    const predictor = startPredictors({
      nc: deps.nc,
      db: deps.db,
      settings: deps.settings,
      log: deps.log,
      models: deps.wrapModels?.(children.models) ?? children.models,
      spec,
      sink: new RegistryCandidateSink({ env: await registryEnv(), models: children.models, actor: 'fine-tuner', gate: gateFromSettings(deps.settings) }),
      onOutcome: (o) => children.outcomes.push(o),
      poisonFailures: predictorFailures,
      quality: (venue, symbol) => board.get(venue, symbol)?.state,
      // Retrain commands are the lifecycle's; the predictor fine-tunes on its own triggers.
      retrainCommands: false,
      lane,
      ...(children.claims ? { claims: children.claims } : {}),
    });
    await predictor.ready();
    children.predictor = predictor;
    return predictor.actor;
  };
  const startLifecycle = async () => {
    await retire(children.lifecycle, 'lifecycle');
    const lifecycle = startModelLifecycle({ nc: deps.nc, db: deps.db, settings: deps.settings, log: deps.log, outcomes: children.outcomes, alert });
    await lifecycle.ready();
    children.lifecycle = lifecycle;
    return lifecycle.actor;
  };
  const starters: Record<ChildName, () => Promise<AnyActorRef>> = { marketSync: startSync, predictor: startPredictor, lifecycle: startLifecycle };

  /** Calls `onExit` when a child's actor errors or stops while the system is not stopping. */
  const watchers = new Map<ChildName, { unsubscribe(): void }>();
  const watch = (name: ChildName, actor: AnyActorRef, onExit: (name: ChildName, error: string) => void) => {
    children.status[name].state = 'running';
    watchers.get(name)?.unsubscribe();
    watchers.set(
      name,
      actor.subscribe({
        error: (err: unknown) => onExit(name, err instanceof Error ? err.message : String(err)),
        complete: () => {
          if (!stopping) onExit(name, 'stopped unexpectedly');
        },
      }),
    );
  };
  let onExit: (name: ChildName, error: string) => void = () => undefined;

  const phase1 = fromPromise<Phase1Result>(async () => {
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
  const attachSync = () => {
    if (children.ops && children.sync) children.ops.attachMarketSync(children.sync.actor);
  };
  const startQuality = async () => {
    const quality = parseQualitySettings(deps.settings);
    const provider = historyFromSettings(quality, deps.log, deps.db);
    const history =
      provider === NO_HISTORY || quality.historyDays <= 0
        ? undefined
        : startHistoryLoader({
            nc: deps.nc,
            db: deps.db,
            settings: deps.settings,
            log: deps.log,
            provider,
            days: quality.historyDays,
            calendars: quality.calendars,
            // A new symbol still warming up is warmed up from its history and predicted from its next bar;
            // the backfill checks the joined series, so a hole no source has is recorded unfillable.
            onLoaded: (load) => {
              if (load.firstBarTs !== undefined && load.watermark !== undefined) children.quality?.scan(load.venue, load.symbol, load.firstBarTs, load.watermark);
              children.predictor
                ?.historyLoaded(load.venue, load.symbol)
                .catch((err: unknown) => log.warn({ err, venue: load.venue, symbol: load.symbol }, 'warm-up from history failed'));
            },
          });
    children.history = history;
    children.quality = await startQualitySupervisor({
      nc: deps.nc,
      db: deps.db,
      settings: deps.settings,
      log: deps.log,
      provider,
      alert,
      board,
      ...(history ? { onNewSymbol: (venue: string, symbol: string, firstTs: number) => history.add(venue, symbol, firstTs) } : {}),
    });
  };
  /** Ingest: marketSync and the quality supervisor (in scale-out, only while this process holds the ingest lease). */
  const startIngest = async () => {
    watch('marketSync', await startSync(), (n, e) => onExit(n, e));
    attachSync();
    await startQuality();
  };
  /** Scale-out: the quality supervisor of a new ingest leader; a failure is logged (ingest goes on without it). */
  const startQualityUnderLease = () =>
    children.quality ? Promise.resolve() : startQuality().catch((err: unknown) => log.error({ err }, 'quality supervisor did not start'));
  const stopIngest = async () => {
    watchers.get('marketSync')?.unsubscribe();
    watchers.delete('marketSync');
    const { sync, quality, history } = children;
    children.sync = undefined;
    children.quality = undefined;
    children.history = undefined;
    await history?.stop().catch((err: unknown) => log.warn({ err }, 'history loader stop'));
    children.status.marketSync.state = 'standby';
    await sync?.stop().catch((err: unknown) => log.warn({ err }, 'marketSync stop'));
    await quality?.stop(10_000).catch((err: unknown) => log.warn({ err }, 'quality supervisor stop'));
  };
  /** Lease changes are applied one after the other. */
  let ingestChain: Promise<void> = Promise.resolve();
  let ingestError: unknown;
  const onIngestLease = (acquired: boolean) => {
    ingestChain = ingestChain.then(async () => {
      if (stopping) return;
      if (acquired && !children.sync) {
        log.warn({ processId: children.claims?.processId }, 'ingest lease acquired: starting marketSync');
        // A marketSync that fails to start is restarted by the supervision like a crashed one.
        try {
          watch('marketSync', await startSync(), (n, e) => onExit(n, e));
          attachSync();
        } catch (err) {
          ingestError = err;
          onExit('marketSync', err instanceof Error ? err.message : String(err));
        }
        await startQualityUnderLease();
      } else if (!acquired && children.sync) {
        log.warn({ processId: children.claims?.processId }, 'ingest lease lost: stopping marketSync');
        await stopIngest();
      }
    });
    return ingestChain;
  };
  const phase2 = fromPromise(async () => {
    if (!deps.settings.SCALE_OUT) return startIngest();
    const claims = await WorkClaims.open(deps.nc, { ttlMs: deps.settings.CLAIM_TTL_MS, log: deps.log });
    children.claims = claims;
    claims.listen({
      onAcquired: (key) => {
        if (key === INGEST_CLAIM) void onIngestLease(true);
      },
      onLost: (key) => {
        if (key === INGEST_CLAIM) void onIngestLease(false);
      },
    });
    children.status.marketSync.state = 'standby';
    const leader = await claims.claim(INGEST_CLAIM);
    await ingestChain;
    // Before Phase 4 nothing supervises: the leader's ingest must be up, as without scale-out.
    if (leader && !children.sync) throw new Error(`marketSync did not start: ${ingestError instanceof Error ? ingestError.message : String(ingestError)}`, { cause: ingestError });
    log.info({ processId: claims.processId, role: leader ? 'ingest leader' : 'standby' }, 'scale-out: work claims started');
  });
  const phase3 = fromPromise(async () => {
    children.models = await KvModelSource.start({ nc: deps.nc, db: deps.db, log: deps.log, name: `run-${process.pid}` });
    watch('lifecycle', await startLifecycle(), (n, e) => onExit(n, e));
  });
  const phase4 = fromPromise(async () => {
    watch('predictor', await startPredictor(), (n, e) => onExit(n, e));
    // Monitoring: metrics/health HTTP, consumer lag, alerts, the `signals` NATS service.
    try {
      children.ops = await startOps({ nc: deps.nc, db: deps.db, settings: deps.settings, log: deps.log, status: () => deps.status?.() ?? {} });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(
        e.code === 'EADDRINUSE' ? `METRICS_PORT ${deps.settings.METRICS_PORT} is in use: set METRICS_PORT to a free port (0 = any)` : e.message,
        { cause: err },
      );
    }
    if (children.sync) children.ops.attachMarketSync(children.sync.actor);
    children.ops.metrics.setPhase('phase4');
  });

  const supervise = fromCallback<{ type: 'noop' }>(({ sendBack }) => {
    const max = deps.maxRestarts ?? 5;
    const windowMs = deps.restartWindowMs ?? 60_000;
    const history = new Map<ChildName, number[]>();
    onExit = (name, error) => {
      const status = children.status[name];
      status.state = 'restarting';
      status.lastError = error;
      log.error({ child: name, error }, 'child failed');
      sendBack({ type: 'child.failed', child: name, error });
      void children.ops?.alert('child_restart', { severity: 'warning', message: `${name} failed: ${error}`, details: { child: name } });
      const now = Date.now();
      const recent = (history.get(name) ?? []).filter((t) => now - t < windowMs);
      if (recent.length >= max) {
        status.state = 'failed';
        sendBack({ type: 'child.gave_up', child: name, error });
        void children.ops?.alert('degraded', { severity: 'critical', message: `${name} failed ${max} times within ${windowMs / 1000} s; running without it`, details: { child: name } });
        return;
      }
      recent.push(now);
      history.set(name, recent);
      const delay = backoffDelay(recent.length - 1, deps.settings.RETRY_MIN_MS, deps.settings.RETRY_MAX_MS);
      setTimeout(() => {
        if (stopping) return;
        // Scale-out: ingest runs only under the lease (a process that lost it is a standby).
        if (name === 'marketSync' && children.claims && !children.claims.owns(INGEST_CLAIM)) {
          status.state = 'standby';
          return;
        }
        starters[name]().then(
          (actor) => {
            status.restarts += 1;
            children.ops?.metrics.childRestarts.inc({ child: name });
            if (name === 'marketSync' && children.sync) children.ops?.attachMarketSync(children.sync.actor);
            if (name === 'marketSync' && children.claims) void startQualityUnderLease();
            watch(name, actor, (n, e) => onExit(n, e));
            sendBack({ type: 'child.restarted', child: name, restarts: status.restarts });
          },
          (err: unknown) => onExit(name, err instanceof Error ? err.message : String(err)),
        );
      }, delay);
    };
    return () => {
      onExit = () => undefined;
    };
  });

  /** Stop order: no new ticks first (marketSync drains and acks), then prediction, then the lifecycle. */
  const drain = fromPromise(async () => {
    stopping = true;
    for (const w of watchers.values()) w.unsubscribe();
    await ingestChain;
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

  return { actors: { phase1, phase2, phase3, phase4, supervise, drain }, children };
}
