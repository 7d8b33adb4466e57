import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import type { Alerter } from '../../ops/index.ts';
import type { OutcomeFeed } from '../prediction/index.ts';
import { unfinishedRetrainRuns, type Db } from '../../sql/index.ts';
import { ensureDurable, ensureTopology, KV_BUCKETS, openBucket, startBatchConsumer, subjects, type BatchConsumerHandle } from '../../streams/index.ts';
import { watchLiveSkill } from './auto-rollback.ts';
import type { GateConfig } from './gate.ts';
import { alertRaiser, retrainFailedAlert, type RaiseAlert } from './lifecycle-alerts.ts';
import { startLifecycleService } from './lifecycle-service.ts';
import { gateFromSettings, liveSkillFromSettings, rolloutFromSettings, scheduleFromSettings } from './lifecycle-settings.ts';
import type { LiveSkillConfig } from './live-skill.ts';
import type { LifecycleLoopEvent } from './model-lifecycle.machine.ts';
import type { RegistryEnv } from './registry.ts';
import { acceptRetrainCommands } from './retrain-commands.ts';
import { RetrainQueue } from './retrain-queue.ts';
import { runRetrain, type RetrainDeps, type RetrainRequest } from './retrain.ts';
import { RolloutMonitor, type RolloutConfig, type RolloutStatus } from './rollout-monitor.ts';
import { startRetrainScheduler, type RetrainSchedule, type ScopeSchedule } from './scheduler.ts';
import { childProcessTrainer, type Trainer } from './trainer.ts';
import type { VerificationLimits } from './verification.ts';

export { LIFECYCLE_ENDPOINTS, LIFECYCLE_SERVICE } from './lifecycle-service.ts';

export type LifecycleDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  /** Durable consumer of `model.retrain.cmd` on MODEL_EVENTS. */
  durable?: string;
  trainer?: Trainer;
  /** Gate thresholds; default from the configuration (GATE_*). */
  gate?: Partial<GateConfig>;
  verification?: Partial<VerificationLimits>;
  /** Training retries; default RETRAIN_MAX_RETRIES. */
  maxRetries?: number;
  retryBaseMs?: number;
  /** Artifacts kept per scope (retention), default 10. */
  keep?: number;
  /** Venue of retrain commands that name only a symbol. */
  defaultVenue?: string;
  /** Realised outcomes of this process's predictions: live skill, degradation alerts and automatic rollback. */
  outcomes?: OutcomeFeed;
  /** Live skill thresholds; default from the configuration (ROLLBACK_WINDOW, MODEL_DEGRADED_SKILL, ROLLBACK_SKILL). */
  liveSkill?: Partial<LiveSkillConfig>;
  /** `ops.alert.model_degraded`, `rollback`, `retrain_failed`. */
  alert?: Alerter;
  /** Status the `status` endpoint reports (the machine's state), set by the service. */
  describe?: () => Record<string, unknown>;
  /** Scheduled and feedback retrain triggers; default from the configuration (RETRAIN_SCHEDULE, FEEDBACK_*). */
  schedule?: RetrainSchedule;
  /** How long stop waits for trainings in flight before leaving them to the next start (default 10 s). */
  stopGraceMs?: number;
  /** Staged rollouts; default from the configuration (ROLLOUT_*). */
  rollout?: Partial<RolloutConfig>;
};

/** What `connect` prepared, for `work`. */
type Connection = { js: JetStreamClient; kv: KV; env: RegistryEnv };

/** State of one lifecycle that outlives a single `work` run: its connection, and the scheduler's view of the scopes. */
type LifecycleSession = {
  connection: Connection | undefined;
  /** Per symbol scope: last training, next scheduled run, corrections (the feedback rule's last evaluation). */
  scopes: ScopeSchedule[];
  /** The open rollouts as the current run follows them. */
  rollouts: () => RolloutStatus[];
};

/**
 * Effects of the modelLifecycle machine: `connect` prepares topology, the retrain
 * consumer and the KV bucket; `work` runs the retrain consumer, the per-scope
 * retrain queue, the NATS service and the automatic-rollback monitor, and sends
 * the machine one event per step.
 */
export function createLifecycleActors(deps: LifecycleDeps) {
  const log = deps.log.child({ actor: 'modelLifecycle' });
  const durable = deps.durable ?? 'model_lifecycle';
  const session: LifecycleSession = { connection: undefined, scopes: [], rollouts: () => [] };
  const alert = alertRaiser(deps.alert, log);

  const connect = fromPromise<void>(async () => {
    session.connection = await connectLifecycle(deps, durable, log);
  });

  const work = fromCallback<{ type: 'lifecycle.stop' }>(({ sendBack, receive }) => {
    const connection = session.connection;
    if (!connection) {
      sendBack({ type: 'lifecycle.stopped' });
      return;
    }
    const run = new LifecycleWork({ deps, durable, log, alert, connection, send: sendBack, onScopes: (x) => (session.scopes = x), schedule: () => session.scopes });
    session.rollouts = () => run.rolloutStatus();
    run.start().catch((err: unknown) => {
      log.error({ err }, 'lifecycle work could not start');
      sendBack({ type: 'lifecycle.stopped' });
    });
    receive((e) => {
      if (e.type !== 'lifecycle.stop') return;
      void run.stop().then(() => sendBack({ type: 'lifecycle.stopped' }));
    });
    return () => run.halt();
  });

  return { connect, work, schedule: (): ScopeSchedule[] => session.scopes, rollouts: (): RolloutStatus[] => session.rollouts() };
}

/** Topology, the retrain consumer and the KV bucket of active models. */
async function connectLifecycle(deps: LifecycleDeps, durable: string, log: Logger): Promise<Connection> {
  const jsm = await ensureTopology(deps.nc, {
    maxAgeDays: deps.settings.STREAM_MAX_AGE_DAYS,
    replicas: deps.settings.NATS_REPLICAS,
    maxBytesMb: deps.settings.STREAM_MAX_BYTES_MB,
    duplicateWindowS: deps.settings.DUPLICATE_WINDOW_S,
  });
  await ensureDurable(jsm, { stream: 'MODEL_EVENTS', durable, filterSubject: subjects.retrainCmd, ackWaitMs: 60_000, maxAckPending: 1_000 });
  const js = jetstream(deps.nc);
  const kv = await openBucket(deps.nc, KV_BUCKETS.modelActive);
  return { js, kv, env: { db: deps.db, kv, js, log } };
}

/** What a retrain run is given: the lifecycle's settings, with a failure raising `ops.alert.retrain_failed`. */
export function retrainDepsFrom(deps: LifecycleDeps, env: RegistryEnv, alert: RaiseAlert): RetrainDeps {
  return {
    env,
    trainer: deps.trainer ?? childProcessTrainer(),
    artifactsDir: deps.settings.ARTIFACTS_DIR,
    maxRetries: deps.maxRetries ?? deps.settings.RETRAIN_MAX_RETRIES,
    ...(deps.retryBaseMs !== undefined ? { retryBaseMs: deps.retryBaseMs } : {}),
    gate: deps.gate ?? gateFromSettings(deps.settings),
    ...(deps.verification ? { verification: deps.verification } : {}),
    ...(deps.keep !== undefined ? { keep: deps.keep } : {}),
    horizons: deps.settings.SIGNAL_HORIZONS,
    // Staged rollouts need realised outcomes to judge the challenger on: without them it is activated at once.
    rollout: deps.outcomes ? deps.settings.ROLLOUT_MODE : 'immediate',
    onFailed: (f) => alert('retrain_failed', retrainFailedAlert(f)),
  };
}

type WorkContext = {
  deps: LifecycleDeps;
  durable: string;
  log: Logger;
  alert: RaiseAlert;
  connection: Connection;
  send: (e: LifecycleLoopEvent) => void;
  onScopes: (scopes: ScopeSchedule[]) => void;
  /** The scheduler's latest view of the scopes. */
  schedule: () => ScopeSchedule[];
};

/**
 * One run of `work`, from start to stop: the retrain queue and what feeds it (the
 * consumer, the scheduler, unfinished runs), the service and the live-skill watch.
 */
class LifecycleWork {
  private readonly queue: RetrainQueue;
  private readonly retrainDeps: RetrainDeps;
  private readonly schedule: RetrainSchedule;
  private consumer: BatchConsumerHandle | undefined;
  private service: Service | undefined;
  private scheduler: ReturnType<typeof startRetrainScheduler> | undefined;
  private unsubscribeOutcomes: (() => void) | undefined;
  private unsubscribeRollouts: (() => void) | undefined;
  private rollouts: RolloutMonitor | undefined;

  constructor(private readonly ctx: WorkContext) {
    this.retrainDeps = retrainDepsFrom(ctx.deps, ctx.connection.env, ctx.alert);
    this.queue = new RetrainQueue({
      run: (req) => this.runQueued(req),
      onQueued: (req) => ctx.send({ type: 'retrain.queued', requestId: req.requestId, scope: req.scope }),
    });
    this.schedule = ctx.deps.schedule ?? scheduleFromSettings(ctx.deps.settings);
  }

  async start(): Promise<void> {
    const { deps, connection, log, alert, send } = this.ctx;
    // Requests accepted before a restart and never finished.
    for (const run of await unfinishedRetrainRuns(deps.db)) {
      this.queue.enqueue({ requestId: run.requestId, scope: run.scope, trigger: run.trigger, config: run.config });
    }
    this.consumer = this.startConsumer();
    if (deps.outcomes) {
      const rollouts = new RolloutMonitor({ env: connection.env, log, alert, send, config: { ...rolloutFromSettings(deps.settings), ...deps.rollout } });
      await rollouts.start();
      this.rollouts = rollouts;
      this.unsubscribeRollouts = deps.outcomes.subscribe((o) => rollouts.observe(o));
    }
    this.service = await startLifecycleService({
      nc: deps.nc,
      db: deps.db,
      js: connection.js,
      kv: connection.kv,
      env: connection.env,
      defaultVenue: deps.defaultVenue,
      describe: deps.describe,
      schedule: this.ctx.schedule,
      queue: this.queue,
      alert,
      send,
      rollouts: () => this.rolloutStatus(),
    });
    this.scheduler = startRetrainScheduler(
      { db: deps.db, js: connection.js, onError: (err, what) => log.warn({ err }, `${what} failed`), onScopes: this.ctx.onScopes },
      this.schedule,
    );
    if (deps.outcomes) {
      this.unsubscribeOutcomes = watchLiveSkill(
        { env: connection.env, log, alert, send, ...(this.rollouts ? { rollouts: this.rollouts } : {}) },
        deps.outcomes,
        { ...liveSkillFromSettings(deps.settings), ...deps.liveSkill },
      );
    }
  }

  /** The open rollouts, their stage and latest look (status). */
  rolloutStatus(): RolloutStatus[] {
    return this.rollouts?.status() ?? [];
  }

  private startConsumer(): BatchConsumerHandle {
    const { deps, durable, log, connection, send } = this.ctx;
    const commands = { js: connection.js, db: deps.db, log, defaultVenue: deps.defaultVenue, enqueue: (req: RetrainRequest) => this.queue.enqueue(req) };
    const consumer = startBatchConsumer({
      nc: deps.nc,
      stream: 'MODEL_EVENTS',
      durable,
      batchSize: 100,
      retryMinMs: deps.settings.RETRY_MIN_MS,
      retryMaxMs: deps.settings.RETRY_MAX_MS,
      ackWaitMs: 60_000,
      log,
      handle: (batch) => acceptRetrainCommands(commands, batch),
      onDegraded: (reason) => send({ type: 'lifecycle.degraded', reason }),
      onRecovered: () => send({ type: 'lifecycle.recovered' }),
    });
    consumer.done.catch((err: unknown) => log.error({ err }, 'retrain consumer stopped'));
    return consumer;
  }

  /** Runs one queued request, telling the machine when it starts and how it ended. Never rejects. */
  private async runQueued(req: RetrainRequest): Promise<void> {
    const { send, log } = this.ctx;
    send({ type: 'retrain.started', requestId: req.requestId, scope: req.scope, attempt: 1 });
    try {
      const r = await runRetrain(this.retrainDeps, req);
      send({
        type: 'retrain.finished',
        requestId: req.requestId,
        scope: req.scope,
        status: r.status,
        ...(r.version !== undefined ? { version: r.version } : {}),
        deployed: r.deployed,
      });
    } catch (err) {
      // Infrastructure failure (database, NATS) outside the training retries: the run stays
      // unfinished in retrain_runs and is resumed on the next start.
      log.error({ err, requestId: req.requestId }, 'retrain aborted');
      send({ type: 'retrain.finished', requestId: req.requestId, scope: req.scope, status: 'failed', deployed: false });
    }
  }

  /** Stops what starts new work: queued runs, scheduled triggers, live-skill rollbacks. */
  halt(): void {
    this.queue.stop();
    this.scheduler?.stop();
    this.unsubscribeOutcomes?.();
    this.unsubscribeRollouts?.();
  }

  /** Halts, stops the service and the consumer, then waits (bounded) for the trainings in flight. */
  async stop(): Promise<void> {
    this.halt();
    await this.service?.stop().catch(() => undefined);
    await this.rollouts?.stop();
    await this.consumer?.stop();
    const grace = new Promise<void>((r) => setTimeout(r, this.ctx.deps.stopGraceMs ?? 10_000).unref());
    await Promise.race([Promise.allSettled(this.queue.inFlight()), grace]);
  }
}
