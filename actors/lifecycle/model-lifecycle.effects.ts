import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import { z } from 'zod';
import type { Logger, Settings } from '../../config/index.ts';
import type { Alerter } from '../../ops/index.ts';
import type { OutcomeFeed } from '../prediction/index.ts';
import type { GateConfig } from './gate.ts';
import { gateFromSettings, liveSkillFromSettings, scheduleFromSettings } from './lifecycle-settings.ts';
import { rollbackDegraded } from './live-rollback.ts';
import { LiveSkillMonitor, type LiveSkillConfig, type SkillReport } from './live-skill.ts';
import { LifecycleError, rollback, type RegistryEnv } from './registry.ts';
import { retrainScope, runRetrain, type RetrainDeps, type RetrainRequest } from './retrain.ts';
import { startRetrainScheduler, type RetrainSchedule, type ScopeSchedule } from './scheduler.ts';
import { childProcessTrainer, type Trainer } from './trainer.ts';
import type { VerificationLimits } from './verification.ts';
import { kvKeyOf } from './versions.ts';
import { isTransientDbError, type Db } from '../../sql/index.ts';
import { getRetrainRun, insertRetrainRun, listDeployments, listVersions, unfinishedRetrainRuns } from '../../sql/index.ts';
import {
  decodeJson,
  ensureDurable,
  ensureTopology,
  KV_BUCKETS,
  openBucket,
  publishJson,
  retrainCommandSchema,
  subjects,
  type PulledMsg,
  type RetrainCommand,
} from '../../streams/index.ts';
import { startBatchConsumer, type BatchConsumerHandle } from '../../streams/index.ts';
import type { LifecycleLoopEvent } from './model-lifecycle.machine.ts';

/** NATS service name and endpoint subjects (`nats micro ls`, `nats req model-lifecycle.status ''`). */
export const LIFECYCLE_SERVICE = 'model-lifecycle';
export const LIFECYCLE_ENDPOINTS = ['status', 'models', 'retrain', 'rollback'] as const;

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
};

type Shared = { js: JetStreamClient; kv: KV; env: RegistryEnv };

/** Requests to the service endpoints (JSON bodies; an empty body means defaults). */
const modelsRequest = z.strictObject({ scope: z.string().optional(), limit: z.number().int().min(1).max(1000).optional() });
const rollbackRequest = z.strictObject({
  scope: z.string().min(1),
  role: z.enum(['pretrained', 'online']).optional(),
  regime: z.string().optional(),
  toVersion: z.string().optional(),
  reason: z.string().optional(),
  actor: z.string().optional(),
});
const retrainRequest = retrainCommandSchema.partial({ requestId: true, trigger: true });

function parseBody<S extends z.ZodType>(schema: S, msg: ServiceMsg): z.output<S> | { error: string } {
  const data = msg.data.length === 0 ? new TextEncoder().encode('{}') : msg.data;
  const r = decodeJson(schema, data, 65_536);
  return r.ok ? r.value : { error: `${r.reason}: ${r.issues.join('; ')}` };
}

const isError = (v: unknown): v is { error: string } => typeof v === 'object' && v !== null && 'error' in v && typeof (v as { error: unknown }).error === 'string';

/**
 * Effects of the modelLifecycle machine: `connect` prepares topology, the retrain
 * consumer and the KV bucket; `work` runs the retrain consumer, the per-scope
 * retrain queue, the NATS service and the automatic-rollback monitor, and sends
 * the machine one event per step.
 */
export function createLifecycleActors(deps: LifecycleDeps) {
  const log = deps.log.child({ actor: 'modelLifecycle' });
  const durable = deps.durable ?? 'model_lifecycle';
  let shared: Shared | undefined;
  /** Per symbol scope: last training, next scheduled run, corrections (the feedback rule's last evaluation). */
  let scopes: ScopeSchedule[] = [];
  const alert = (kind: Parameters<Alerter>[0], payload: Parameters<Alerter>[1]) => {
    deps.alert?.(kind, payload).catch((err: unknown) => log.warn({ err, kind }, 'alert not raised'));
  };

  const connect = fromPromise<void>(async () => {
    const jsm = await ensureTopology(deps.nc, {
      maxAgeDays: deps.settings.STREAM_MAX_AGE_DAYS,
      maxBytesMb: deps.settings.STREAM_MAX_BYTES_MB,
      duplicateWindowS: deps.settings.DUPLICATE_WINDOW_S,
    });
    await ensureDurable(jsm, { stream: 'MODEL_EVENTS', durable, filterSubject: subjects.retrainCmd, ackWaitMs: 60_000, maxAckPending: 1_000 });
    const js = jetstream(deps.nc);
    const kv = await openBucket(deps.nc, KV_BUCKETS.modelActive);
    shared = { js, kv, env: { db: deps.db, kv, js, log } };
  });

  const work = fromCallback<{ type: 'lifecycle.stop' }>(({ sendBack, receive }) => {
    const s = shared;
    if (!s) {
      sendBack({ type: 'lifecycle.stopped' });
      return;
    }
    const send = (e: LifecycleLoopEvent) => sendBack(e);
    const retrainDeps: RetrainDeps = {
      env: s.env,
      trainer: deps.trainer ?? childProcessTrainer(),
      artifactsDir: deps.settings.ARTIFACTS_DIR,
      maxRetries: deps.maxRetries ?? deps.settings.RETRAIN_MAX_RETRIES,
      ...(deps.retryBaseMs !== undefined ? { retryBaseMs: deps.retryBaseMs } : {}),
      gate: deps.gate ?? gateFromSettings(deps.settings),
      ...(deps.verification ? { verification: deps.verification } : {}),
      ...(deps.keep !== undefined ? { keep: deps.keep } : {}),
      onFailed: (f) =>
        alert('retrain_failed', {
          severity: 'warning',
          message: `retrain ${f.requestId} of ${f.scope} (${f.trigger}) failed after ${f.attempts} attempt(s): ${f.error}`.slice(0, 1_000),
          details: { requestId: f.requestId, scope: f.scope, trigger: f.trigger, attempts: f.attempts },
        }),
    };

    // --- one retrain at a time per scope --------------------------------------------
    const queues = new Map<string, RetrainRequest[]>();
    const running = new Map<string, Promise<void>>();
    const known = new Set<string>();
    let stopping = false;
    const pump = (scope: string) => {
      if (stopping || running.has(scope)) return;
      const next = queues.get(scope)?.shift();
      if (!next) return;
      const p = (async () => {
        send({ type: 'retrain.started', requestId: next.requestId, scope, attempt: 1 });
        try {
          const r = await runRetrain(retrainDeps, next);
          send({
            type: 'retrain.finished',
            requestId: next.requestId,
            scope,
            status: r.status,
            ...(r.version !== undefined ? { version: r.version } : {}),
            deployed: r.deployed,
          });
        } catch (err) {
          // Infrastructure failure (database, NATS) outside the training retries: the run stays
          // unfinished in retrain_runs and is resumed on the next start.
          log.error({ err, requestId: next.requestId }, 'retrain aborted');
          send({ type: 'retrain.finished', requestId: next.requestId, scope, status: 'failed', deployed: false });
        }
      })().finally(() => {
        running.delete(scope);
        known.delete(next.requestId);
        pump(scope);
      });
      running.set(scope, p);
    };
    const enqueue = (req: RetrainRequest) => {
      if (known.has(req.requestId)) return;
      known.add(req.requestId);
      const q = queues.get(req.scope) ?? [];
      q.push(req);
      queues.set(req.scope, q);
      send({ type: 'retrain.queued', requestId: req.requestId, scope: req.scope });
      pump(req.scope);
    };

    const handle = async (batch: PulledMsg[]): Promise<PulledMsg[]> => {
      const ack: PulledMsg[] = [];
      for (const msg of batch) {
        const r = decodeJson(retrainCommandSchema, msg.data, 65_536);
        if (!r.ok) {
          log.warn({ reason: r.reason, issues: r.issues }, 'invalid retrain command terminated');
          const id = z.object({ requestId: z.string().min(1).max(128) }).safeParse(safeJson(msg.data));
          if (id.success) {
            await publishJson(s.js, {
              subject: subjects.retrainResult,
              payload: { requestId: id.data.requestId, status: 'failed', deployed: false, error: `invalid retrain command: ${r.issues.join('; ')}` },
              msgId: `retrain-result:${id.data.requestId}`,
            });
          }
          msg.term();
          continue;
        }
        const cmd: RetrainCommand = r.value;
        const scope = retrainScope(cmd, deps.defaultVenue);
        const inserted = await insertRetrainRun(deps.db, { requestId: cmd.requestId, scope, trigger: cmd.trigger, config: cmd.config ?? {} });
        const run = inserted ? undefined : await getRetrainRun(deps.db, cmd.requestId);
        // A redelivered command whose run already finished is not run twice.
        if (inserted || (run && (run.status === 'queued' || run.status === 'running'))) {
          enqueue({ requestId: cmd.requestId, scope, trigger: cmd.trigger, config: cmd.config ?? {} });
        }
        ack.push(msg);
      }
      return ack;
    };

    let consumer: BatchConsumerHandle | undefined;
    let service: Service | undefined;
    let unsubscribeOutcomes: (() => void) | undefined;
    let scheduler: ReturnType<typeof startRetrainScheduler> | undefined;
    const schedule: RetrainSchedule = deps.schedule ?? scheduleFromSettings(deps.settings);
    const onDegraded = (r: SkillReport) =>
      alert('model_degraded', {
        severity: 'warning',
        message: `${r.role} model ${r.version} on ${r.venue}/${r.symbol}: live skill ${r.skill.toFixed(3)} < ${r.threshold} (1 = the naive forecast) over the last ${r.window} outcomes`,
        venue: r.venue,
        symbol: r.symbol,
        details: { role: r.role, version: r.version, skill: r.skill, maeRatio: r.maeRatio, meanLogLoss: r.meanLogLoss, window: r.window, threshold: r.threshold },
      });
    const onRollback = async (r: SkillReport) => {
      const out = await rollbackDegraded(s.env, r);
      if (out.action === 'none') {
        log.warn({ version: r.version, reason: out.reason }, 'degraded model not rolled back');
        alert('model_degraded', {
          severity: 'critical',
          message: `${r.role} model ${r.version} on ${r.venue}/${r.symbol}: live skill ${r.skill.toFixed(3)} < ${r.threshold}, not rolled back: ${out.reason}`.slice(0, 1_000),
          venue: r.venue,
          symbol: r.symbol,
          details: { role: r.role, version: r.version, skill: r.skill, window: r.window, threshold: r.threshold },
        });
        return;
      }
      const res = out.result;
      alert('rollback', {
        severity: 'critical',
        message: (out.action === 'withdraw' ? `online model ${r.version} of ${res.scope} withdrawn: ${out.reason}` : `${res.scope} ${res.role} rolled back from ${r.version} to ${res.version}: ${out.reason}`).slice(0, 1_000),
        venue: r.venue,
        symbol: r.symbol,
        details: { action: out.action, scope: res.scope, role: res.role, from: r.version, to: out.action === 'withdraw' ? null : res.version, latencyMs: res.latencyMs, deploymentId: res.deploymentId },
      });
      send({ type: 'model.rolledback', scope: res.scope, version: res.version, auto: true, latencyMs: res.latencyMs });
    };

    const start = async () => {
      // Requests accepted before a restart and never finished.
      for (const run of await unfinishedRetrainRuns(deps.db)) {
        enqueue({ requestId: run.requestId, scope: run.scope, trigger: run.trigger, config: run.config });
      }
      consumer = startBatchConsumer({
        nc: deps.nc,
        stream: 'MODEL_EVENTS',
        durable,
        batchSize: 100,
        retryMinMs: deps.settings.RETRY_MIN_MS,
        retryMaxMs: deps.settings.RETRY_MAX_MS,
        ackWaitMs: 60_000,
        log,
        handle,
        onDegraded: (reason) => send({ type: 'lifecycle.degraded', reason }),
        onRecovered: () => send({ type: 'lifecycle.recovered' }),
      });
      consumer.done.catch((err: unknown) => log.error({ err }, 'retrain consumer stopped'));
      service = await startService(s);
      scheduler = startRetrainScheduler(
        { db: deps.db, js: s.js, onError: (err, what) => log.warn({ err }, `${what} failed`), onScopes: (x) => (scopes = x) },
        schedule,
      );
      if (deps.outcomes) {
        const monitor = new LiveSkillMonitor({
          config: { ...liveSkillFromSettings(deps.settings), ...deps.liveSkill },
          onDegraded,
          onRollback,
          onError: (err, r) => log.error({ err, version: r.version }, 'automatic rollback failed'),
        });
        unsubscribeOutcomes = deps.outcomes.subscribe((o) => monitor.observe(o));
      }
    };

    const startService = async (sh: Shared): Promise<Service> => {
      // @nats-io/services 3.0.0-25 pins its own pre-release nats-core whose types differ from
      // 3.4.0 only in optional-property details; the connection object is the same at runtime.
      const srv = await new Svcm(deps.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
        name: LIFECYCLE_SERVICE,
        version: '0.1.0',
        description: 'model registry, champion/challenger gate, activation, rollback and retraining',
      });
      const g = srv.addGroup(LIFECYCLE_SERVICE);
      const reply = (msg: ServiceMsg, body: unknown) => msg.respond(new TextEncoder().encode(JSON.stringify(body)));
      const fail = (msg: ServiceMsg, err: unknown) => {
        const code = err instanceof LifecycleError ? (err.code === 'not_found' ? 404 : 409) : isTransientDbError(err) ? 503 : 500;
        msg.respondError(code, err instanceof Error ? err.message : String(err));
      };
      g.addEndpoint('status', (_err, msg) => {
        void (async () => {
          const scopes = [...new Set((await listVersions(deps.db, { status: 'active' })).map((v) => v.scope))];
          const active: Record<string, unknown> = {};
          for (const scope of scopes) {
            const e = await sh.kv.get(kvKeyOf(scope));
            active[scope] = e ? safeJson(e.value) : null;
          }
          reply(msg, { service: LIFECYCLE_SERVICE, ...(deps.describe?.() ?? {}), schedule: scopes, queued: [...queues.values()].reduce((n, q) => n + q.length, 0), running: [...running.keys()], active });
        })().catch((err: unknown) => fail(msg, err));
      });
      g.addEndpoint('models', (_err, msg) => {
        void (async () => {
          const body = parseBody(modelsRequest, msg);
          if (isError(body)) return msg.respondError(400, body.error);
          const versions = await listVersions(deps.db, { ...(body.scope ? { scope: body.scope } : {}), limit: body.limit ?? 100 });
          const deployments = await listDeployments(deps.db, { ...(body.scope ? { scope: body.scope } : {}), limit: 20 });
          return reply(msg, { versions: versions.map(({ params: _p, metrics, ...v }) => ({ ...v, test: metrics.test ?? null })), deployments });
        })().catch((err: unknown) => fail(msg, err));
      });
      g.addEndpoint('retrain', (_err, msg) => {
        void (async () => {
          const body = parseBody(retrainRequest, msg);
          if (isError(body)) return msg.respondError(400, body.error);
          const cmd: RetrainCommand = { ...body, requestId: body.requestId ?? `svc-${crypto.randomUUID()}`, trigger: body.trigger ?? 'manual' };
          // Through the stream, like every other command: durable and deduplicated.
          await publishJson(sh.js, { subject: subjects.retrainCmd, payload: cmd, msgId: `retrain-cmd:${cmd.requestId}` });
          return reply(msg, { requestId: cmd.requestId, scope: retrainScope(cmd, deps.defaultVenue) });
        })().catch((err: unknown) => fail(msg, err));
      });
      g.addEndpoint('rollback', (_err, msg) => {
        void (async () => {
          const decidedAt = Date.now();
          const body = parseBody(rollbackRequest, msg);
          if (isError(body)) return msg.respondError(400, body.error);
          const res = await rollback(sh.env, {
            scope: body.scope,
            ...(body.role ? { role: body.role } : {}),
            ...(body.regime ? { regime: body.regime } : {}),
            ...(body.toVersion ? { toVersion: body.toVersion } : {}),
            reason: body.reason ?? 'manual rollback (service)',
            actor: body.actor ?? 'service',
            decidedAt,
          });
          send({ type: 'model.rolledback', scope: res.scope, version: res.version, auto: false, latencyMs: res.latencyMs });
          alert('rollback', {
            severity: 'warning',
            message: `${res.scope} ${res.role} rolled back by hand${res.from ? ` from ${res.from}` : ''} to ${res.version}: ${body.reason ?? 'manual rollback (service)'}`.slice(0, 1_000),
            details: { action: 'rollback', scope: res.scope, role: res.role, from: res.from ?? null, to: res.version, actor: body.actor ?? 'service', latencyMs: res.latencyMs },
          });
          return reply(msg, { version: res.version, from: res.from ?? null, scope: res.scope, latencyMs: res.latencyMs, active: res.value });
        })().catch((err: unknown) => fail(msg, err));
      });
      return srv;
    };

    start().catch((err: unknown) => {
      log.error({ err }, 'lifecycle work could not start');
      sendBack({ type: 'lifecycle.stopped' });
    });

    receive((e) => {
      if (e.type !== 'lifecycle.stop') return;
      stopping = true;
      scheduler?.stop();
      unsubscribeOutcomes?.();
      void (async () => {
        await service?.stop().catch(() => undefined);
        await consumer?.stop();
        const grace = new Promise<void>((r) => setTimeout(r, deps.stopGraceMs ?? 10_000).unref());
        await Promise.race([Promise.allSettled([...running.values()]), grace]);
        sendBack({ type: 'lifecycle.stopped' });
      })();
    });
    return () => {
      stopping = true;
      scheduler?.stop();
      unsubscribeOutcomes?.();
    };
  });

  return { connect, work, schedule: (): ScopeSchedule[] => scopes };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
