import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import { z } from 'zod';
import type { Logger, Settings } from '../../config/index.ts';
import { AutoRollbackMonitor, type AutoRollbackConfig, type LiveScoreFeed } from './auto-rollback.ts';
import type { GateConfig } from './gate.ts';
import { LifecycleError, rollback, type RegistryEnv } from './registry.ts';
import { retrainScope, runRetrain, type FeedbackPolicy, type RetrainDeps, type RetrainRequest } from './retrain.ts';
import { DEFAULT_SCHEDULE, scheduleTick, type RetrainSchedule } from './scheduler.ts';
import { childProcessTrainer, type Trainer } from './trainer.ts';
import type { VerificationLimits } from './verification.ts';
import { kvKeyOf, scopeOf } from './versions.ts';
import { isTransientDbError, type Db } from '../../sql/index.ts';
import { activeVersions, getRetrainRun, insertRetrainRun, listDeployments, listVersions, unfinishedRetrainRuns } from '../../sql/index.ts';
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
  gate?: Partial<GateConfig>;
  verification?: Partial<VerificationLimits>;
  feedback?: FeedbackPolicy;
  maxRetries?: number;
  retryBaseMs?: number;
  /** Artifacts kept per scope (retention), default 10. */
  keep?: number;
  /** Venue of retrain commands that name only a symbol. */
  defaultVenue?: string;
  /** Live scores of the confidence weigher: enables automatic rollback. */
  autoRollback?: { feed: LiveScoreFeed; config?: Partial<AutoRollbackConfig> };
  /** Status the `status` endpoint reports (the machine's state), set by the service. */
  describe?: () => Record<string, unknown>;
  /** Scheduled and feedback retrain triggers (default off: commands come from outside). */
  schedule?: Partial<RetrainSchedule>;
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
      ...(deps.maxRetries !== undefined ? { maxRetries: deps.maxRetries } : {}),
      ...(deps.retryBaseMs !== undefined ? { retryBaseMs: deps.retryBaseMs } : {}),
      ...(deps.gate ? { gate: deps.gate } : {}),
      ...(deps.verification ? { verification: deps.verification } : {}),
      ...(deps.feedback ? { feedback: deps.feedback } : {}),
      ...(deps.keep !== undefined ? { keep: deps.keep } : {}),
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
    let monitor: AutoRollbackMonitor | undefined;
    const activeCache = new Map<string, { at: number; versions: Set<string> }>();
    const timers: ReturnType<typeof setInterval>[] = [];
    const schedule: RetrainSchedule = { ...DEFAULT_SCHEDULE, ...deps.schedule };
    const every = (ms: number, kinds: { schedule: boolean; feedback: boolean }) => {
      if (ms <= 0) return;
      timers.push(
        setInterval(() => {
          scheduleTick({ db: deps.db, js: s.js }, schedule, Date.now(), kinds).catch((err: unknown) => log.warn({ err, kinds }, 'retrain schedule tick failed'));
        }, ms),
      );
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
      every(schedule.everyMs, { schedule: true, feedback: false });
      every(schedule.feedbackCheckMs, { schedule: false, feedback: true });
      if (deps.autoRollback) {
        monitor = new AutoRollbackMonitor({
          feed: deps.autoRollback.feed,
          ...(deps.autoRollback.config ? { config: deps.autoRollback.config } : {}),
          log,
          // The active set is refreshed on every rollback; scores of other versions are ignored.
          isActive: (sc) => activeCache.get(scopeOf(sc.venue, sc.symbol))?.versions.has(sc.version) ?? true,
          onDegraded: async (d) => {
            const scope = scopeOf(d.venue, d.symbol);
            const active = await activeVersions(deps.db, scope);
            const row = active.find((a) => a.version === d.version);
            if (!row) return; // already replaced
            const res = await rollback(s.env, {
              scope,
              role: d.role,
              ...(row.regime ? { regime: row.regime } : {}),
              reason: `auto: mean live score ${d.mean.toFixed(4)} < ${d.threshold} over the last ${d.window} scores`,
              actor: 'auto-rollback',
              decidedAt: d.detectedAt,
            });
            activeCache.set(scope, { at: Date.now(), versions: new Set(res.value.online ? [...Object.values(res.value.pretrained), res.value.online] : Object.values(res.value.pretrained)) });
            send({ type: 'model.rolledback', scope, version: res.version, auto: true, latencyMs: res.latencyMs });
          },
        });
        monitor.start();
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
          reply(msg, { service: LIFECYCLE_SERVICE, ...(deps.describe?.() ?? {}), queued: [...queues.values()].reduce((n, q) => n + q.length, 0), running: [...running.keys()], active });
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
      for (const t of timers) clearInterval(t);
      void (async () => {
        monitor?.stop();
        await service?.stop().catch(() => undefined);
        await consumer?.stop();
        const grace = new Promise<void>((r) => setTimeout(r, deps.stopGraceMs ?? 10_000).unref());
        await Promise.race([Promise.allSettled([...running.values()]), grace]);
        sendBack({ type: 'lifecycle.stopped' });
      })();
    });
    return () => {
      stopping = true;
      for (const t of timers) clearInterval(t);
    };
  });

  return { connect, work };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
