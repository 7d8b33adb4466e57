import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { isTransientDbError, listDeployments, listVersions, type Db } from '../../sql/index.ts';
import { decodeJson, publishJson, retrainCommandSchema, subjects, type RetrainCommand } from '../../streams/index.ts';
import { manualRollbackAlert, type RaiseAlert } from './lifecycle-alerts.ts';
import type { LifecycleLoopEvent } from './model-lifecycle.machine.ts';
import { LifecycleError, rollback, type RegistryEnv } from './registry.ts';
import type { ScopeSchedule } from './scheduler.ts';
import type { RetrainQueue } from './retrain-queue.ts';
import { retrainScope } from './retrain.ts';
import type { RolloutStatus } from './rollout-monitor.ts';
import { startRollout } from './rollout-start.ts';
import { safeJson } from './safe-json.ts';
import { kvKeyOf } from './versions.ts';

/** NATS service name and endpoint subjects (`nats micro ls`, `nats req model-lifecycle.status ''`). */
export const LIFECYCLE_SERVICE = 'model-lifecycle';
export const LIFECYCLE_ENDPOINTS = ['status', 'models', 'retrain', 'rollback', 'rollout'] as const;
type LifecycleEndpoint = (typeof LIFECYCLE_ENDPOINTS)[number];

/** What the endpoints read and act on, for one running lifecycle. */
export type LifecycleServiceContext = {
  nc: NatsConnection;
  db: Db;
  js: JetStreamClient;
  kv: KV;
  env: RegistryEnv;
  /** Venue of retrain requests that name only a symbol. */
  defaultVenue: string | undefined;
  /** The machine's state, for `status`. */
  describe: (() => Record<string, unknown>) | undefined;
  /** The scheduler's view of each scope (last training, next scheduled run, corrections), for `status`. */
  schedule: () => readonly ScopeSchedule[];
  queue: Pick<RetrainQueue, 'queuedCount' | 'runningScopes'>;
  alert: RaiseAlert;
  /** Tells the machine of a rollback done by hand. */
  send(e: Extract<LifecycleLoopEvent, { type: 'model.rolledback' }>): void;
  /** The open rollouts as the monitor follows them, for `status`. */
  rollouts?: () => RolloutStatus[];
};

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
/** Starts the staged rollout of a registered candidate against the version serving its scope today. */
const rolloutRequest = z.strictObject({ version: z.string().min(1).max(128), reason: z.string().max(1_000).optional() });

/** A request body through its schema; an empty body is `{}`, so every field takes its default. */
export function parseBody<S extends z.ZodType>(schema: S, body: Uint8Array): z.output<S> | { error: string } {
  const data = body.length === 0 ? new TextEncoder().encode('{}') : body;
  const r = decodeJson(schema, data, 65_536);
  return r.ok ? r.value : { error: `${r.reason}: ${r.issues.join('; ')}` };
}

const isError = (v: unknown): v is { error: string } => typeof v === 'object' && v !== null && 'error' in v && typeof (v as { error: unknown }).error === 'string';

/** Status code of a failed request: what cannot be done as asked (404/409) apart from what may work on a retry (503) and bugs (500). */
export function errorStatus(err: unknown): number {
  if (err instanceof LifecycleError) return err.code === 'not_found' ? 404 : 409;
  return isTransientDbError(err) ? 503 : 500;
}

const reply = (msg: ServiceMsg, body: unknown) => msg.respond(new TextEncoder().encode(JSON.stringify(body)));

function fail(msg: ServiceMsg, err: unknown): void {
  msg.respondError(errorStatus(err), err instanceof Error ? err.message : String(err));
}

const ENDPOINTS: Record<LifecycleEndpoint, (ctx: LifecycleServiceContext, msg: ServiceMsg) => Promise<void>> = {
  status: serveStatus,
  models: serveModels,
  retrain: serveRetrain,
  rollback: serveRollback,
  rollout: serveRollout,
};

/** Starts the `model-lifecycle` NATS service with its endpoints. */
export async function startLifecycleService(ctx: LifecycleServiceContext): Promise<Service> {
  // @nats-io/services 3.0.0-25 pins its own pre-release nats-core whose types differ from
  // 3.4.0 only in optional-property details; the connection object is the same at runtime.
  const srv = await new Svcm(ctx.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: LIFECYCLE_SERVICE,
    version: '0.1.0',
    description: 'model registry, champion/challenger gate, activation, rollback and retraining',
  });
  const g = srv.addGroup(LIFECYCLE_SERVICE);
  for (const name of LIFECYCLE_ENDPOINTS) {
    const serve = ENDPOINTS[name];
    g.addEndpoint(name, (_err, msg) => {
      void serve(ctx, msg).catch((err: unknown) => fail(msg, err));
    });
  }
  return srv;
}

/** The machine's state, each scope's schedule, the retrain queue, and the KV entry of every scope with an active model. */
async function serveStatus(ctx: LifecycleServiceContext, msg: ServiceMsg): Promise<void> {
  const activeScopes = [...new Set((await listVersions(ctx.db, { status: 'active' })).map((v) => v.scope))];
  const active: Record<string, unknown> = {};
  for (const scope of activeScopes) {
    const e = await ctx.kv.get(kvKeyOf(scope));
    active[scope] = e ? safeJson(e.value) : null;
  }
  reply(msg, {
    service: LIFECYCLE_SERVICE,
    ...(ctx.describe?.() ?? {}),
    schedule: ctx.schedule(),
    queued: ctx.queue.queuedCount(),
    running: ctx.queue.runningScopes(),
    active,
    rollouts: ctx.rollouts?.() ?? [],
  });
}

/** Versions (without their params) and the latest deployments, of one scope or all. */
async function serveModels(ctx: LifecycleServiceContext, msg: ServiceMsg): Promise<void> {
  const body = parseBody(modelsRequest, msg.data);
  if (isError(body)) {
    msg.respondError(400, body.error);
    return;
  }
  const versions = await listVersions(ctx.db, { ...(body.scope ? { scope: body.scope } : {}), limit: body.limit ?? 100 });
  const deployments = await listDeployments(ctx.db, { ...(body.scope ? { scope: body.scope } : {}), limit: 20 });
  reply(msg, { versions: versions.map(({ params: _p, metrics, ...v }) => ({ ...v, test: metrics.test ?? null })), deployments });
}

async function serveRetrain(ctx: LifecycleServiceContext, msg: ServiceMsg): Promise<void> {
  const body = parseBody(retrainRequest, msg.data);
  if (isError(body)) {
    msg.respondError(400, body.error);
    return;
  }
  const cmd: RetrainCommand = { ...body, requestId: body.requestId ?? `svc-${crypto.randomUUID()}`, trigger: body.trigger ?? 'manual' };
  // Through the stream, like every other command: durable and deduplicated.
  await publishJson(ctx.js, { subject: subjects.retrainCmd, payload: cmd, msgId: `retrain-cmd:${cmd.requestId}` });
  reply(msg, { requestId: cmd.requestId, scope: retrainScope(cmd, ctx.defaultVenue) });
}

async function serveRollback(ctx: LifecycleServiceContext, msg: ServiceMsg): Promise<void> {
  const decidedAt = Date.now();
  const body = parseBody(rollbackRequest, msg.data);
  if (isError(body)) {
    msg.respondError(400, body.error);
    return;
  }
  const reason = body.reason ?? 'manual rollback (service)';
  const actor = body.actor ?? 'service';
  const res = await rollback(ctx.env, {
    scope: body.scope,
    ...(body.role ? { role: body.role } : {}),
    ...(body.regime ? { regime: body.regime } : {}),
    ...(body.toVersion ? { toVersion: body.toVersion } : {}),
    reason,
    actor,
    decidedAt,
  });
  ctx.send({ type: 'model.rolledback', scope: res.scope, version: res.version, auto: false, latencyMs: res.latencyMs });
  ctx.alert('rollback', manualRollbackAlert(res, reason, actor));
  reply(msg, { version: res.version, from: res.from ?? null, scope: res.scope, latencyMs: res.latencyMs, active: res.value });
}

async function serveRollout(ctx: LifecycleServiceContext, msg: ServiceMsg): Promise<void> {
  const body = parseBody(rolloutRequest, msg.data);
  if (isError(body)) {
    msg.respondError(400, body.error);
    return;
  }
  const res = await startRollout(ctx.env, { version: body.version, reason: body.reason ?? 'rollout requested (service)' });
  reply(msg, { rolloutId: res.rollout.id, scope: res.rollout.scope, stage: res.rollout.stage, version: res.rollout.version, champion: res.rollout.champion });
}
