import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type pg from 'pg';
import { SignalsError, type Logger } from '../../config/index.ts';
import type { PackedArtifact } from '../../models/index.ts';
import type { Db } from '../../sql/index.ts';
import { withTransaction } from '../../sql/index.ts';
import { ModelVersionConflictError, saveModelArtifact } from '../../sql/index.ts';
import {
  activeScopes,
  activeVersions,
  applyRetention,
  artifactIntact,
  countVersions,
  getVersion,
  insertDeployment,
  listDeployments,
  listVersions,
  lockScope,
  openRollouts,
  setVersionStatus,
  versionsWithPrefix,
  type RolloutRow,
  type VersionRow,
} from '../../sql/index.ts';
import { encodeJson, modelActiveSchema, publishJson, subjects, type ModelActive, type ModelEventKind } from '../../streams/index.ts';
import type { ModelEvent } from './events.schema.ts';
import { rolloutValue } from './rollout-value.ts';
import { ANY_REGIME, dayPrefix, kvKeyOf, nextVersion } from './versions.ts';

/** What the registry operations need: the database, the `model_active` bucket, JetStream for events. */
export type RegistryEnv = { db: Db; kv: KV; js: JetStreamClient; log: Logger; now?: () => number };

export type Role = 'pretrained' | 'online';

/** A lifecycle operation that cannot be done as asked (unknown version, no artifact, nothing to roll back to). */
export class LifecycleError extends SignalsError {
  override readonly name = 'LifecycleError';
  override readonly retryable = false;
  constructor(
    readonly code: 'not_found' | 'no_artifact' | 'no_previous' | 'invalid' | 'corrupt',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type CandidateInput = {
  scope: string;
  role: Role;
  kind: string;
  /** Pretrained models: the regime served (`any` = all). */
  regime?: string;
  runId: string;
  artifact: PackedArtifact;
  params?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  parentVersion?: string;
  dataFrom?: number;
  dataTo?: number;
  /** Major line (versions.ts `majorFor`); default 1. */
  major?: number;
};

/**
 * Registers a candidate under the next free version name (retrying when another
 * registration took the same name at the same moment). Returns the version.
 */
export async function registerCandidate(db: Db, c: CandidateInput, nowMs = Date.now()): Promise<string> {
  const major = c.major ?? 1;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const version = nextVersion({
      major,
      atMs: nowMs,
      existingCount: await countVersions(db),
      sameDay: await versionsWithPrefix(db, dayPrefix(major, nowMs)),
    });
    try {
      await saveModelArtifact(db, {
        version,
        scope: c.scope,
        role: c.role,
        kind: c.kind,
        runId: c.runId,
        artifact: c.artifact.bytes,
        artifactSha256: c.artifact.sha256,
        ...(c.params ? { params: c.params } : {}),
        ...(c.metrics ? { metrics: c.metrics } : {}),
        ...(c.parentVersion !== undefined ? { parentVersion: c.parentVersion } : {}),
        ...(c.role === 'pretrained' ? { regime: c.regime ?? ANY_REGIME } : c.regime !== undefined ? { regime: c.regime } : {}),
        ...(c.dataFrom !== undefined ? { dataFrom: c.dataFrom } : {}),
        ...(c.dataTo !== undefined ? { dataTo: c.dataTo } : {}),
      });
      return version;
    } catch (err) {
      if (!(err instanceof ModelVersionConflictError)) throw err;
    }
  }
  throw new LifecycleError('invalid', 'could not allocate a version name after 5 attempts (concurrent registrations?)');
}

/** The KV `model_active` value of a scope, derived from the database's active rows and open rollout (the source of truth). */
export function activeValue(rows: readonly VersionRow[], reason: string, atMs: number, rollout?: RolloutRow): ModelActive {
  const pretrained: Record<string, string> = {};
  let online: string | undefined;
  for (const r of rows) {
    if (r.status !== 'active') continue;
    if (r.role === 'pretrained') pretrained[r.regime ?? ANY_REGIME] = r.version;
    else online = r.version;
  }
  return { pretrained, ...(online !== undefined ? { online } : {}), ...(rollout ? { rollout: rolloutValue(rollout) } : {}), updatedAt: atMs, reason };
}

/** Writes the scope's KV entry from the database (also repairs a KV that drifted). */
export async function syncKv(kv: KV, db: Db | pg.ClientBase, scope: string, reason: string, atMs: number): Promise<ModelActive> {
  const rollout = (await openRollouts(db, scope))[0];
  const value = modelActiveSchema.parse(activeValue(await activeVersions(db, scope), reason, atMs, rollout));
  await kv.put(kvKeyOf(scope), encodeJson(value));
  return value;
}

/**
 * Writes the KV entry of every scope that has active versions in the database but
 * none in KV: after a restore into a new database beside a fresh NATS (or a lost KV
 * bucket), the predictors serve what the registry says is active, and Phase 1 does
 * not retrain what is already there. Entries present in KV are left alone. Returns
 * the scopes written.
 */
export async function repairKvFromRegistry(kv: KV, db: Db | pg.ClientBase, reason: string, atMs: number): Promise<string[]> {
  const repaired: string[] = [];
  const scopes = new Set([...(await activeScopes(db)), ...(await openRollouts(db)).map((r) => r.scope)]);
  for (const scope of scopes) {
    const entry = await kv.get(kvKeyOf(scope));
    if (entry && entry.operation === 'PUT') continue;
    await syncKv(kv, db, scope, reason, atMs);
    repaired.push(scope);
  }
  return repaired;
}

export async function publishEvent(env: RegistryEnv, event: ModelEvent, msgId?: string): Promise<void> {
  await publishJson(env.js, { subject: subjects.modelEvent(event.kind), payload: event, ...(msgId ? { msgId } : {}) });
}

export type ActivationResult = {
  version: string;
  from: string | undefined;
  scope: string;
  role: Role;
  regime: string | undefined;
  deploymentId: number;
  value: ModelActive;
  /** Decision -> KV written. */
  latencyMs: number;
};

/**
 * Makes `version` the active model of its scope/role (and regime): the previous
 * one is retired, the deployment recorded, the KV entry rewritten (inside the
 * transaction, so a failed KV write leaves the database unchanged), then
 * `model.events.deployed|rolledback` and `retired` are published and retention runs.
 */
export async function activateVersion(
  env: RegistryEnv,
  args: {
    version: string;
    reason: string;
    actor: string;
    action?: 'activate' | 'rollback' | 'promote';
    comparison?: Record<string, unknown>;
    /** Runs in the activation's transaction before the KV entry is written (a promotion closes its rollout there). */
    inTransaction?: (client: pg.ClientBase) => Promise<void>;
    keep?: number;
    decidedAt?: number;
    /** Needed to activate a version the gate or verification rejected; the deployment's reason says it was forced. */
    force?: boolean;
  },
): Promise<ActivationResult> {
  const now = env.now ?? Date.now;
  const decidedAt = args.decidedAt ?? now();
  const action = args.action ?? 'activate';
  const result = await withTransaction(env.db, async (client) => {
    const row = await getVersion(client, args.version);
    if (!row) throw new LifecycleError('not_found', `model version ${args.version} is not in the registry`);
    await lockScope(client, row.scope);
    if (row.artifactBytes === null || row.artifactSha256 === null) {
      throw new LifecycleError('no_artifact', `model version ${args.version} has no stored artifact (removed by retention)`);
    }
    if (row.status === 'rejected' && args.force !== true) {
      throw new LifecycleError('invalid', `model version ${args.version} was rejected (gate or verification); activating it needs force with a reason`);
    }
    if (!(await artifactIntact(client, row.version))) {
      throw new LifecycleError('corrupt', `model version ${args.version}: stored artifact does not match its sha256 ${row.artifactSha256}; refusing to activate it`);
    }
    const regime = row.role === 'pretrained' ? (row.regime ?? ANY_REGIME) : undefined;
    const current = (await activeVersions(client, row.scope)).find(
      (r) => r.role === row.role && (row.role === 'online' || (r.regime ?? ANY_REGIME) === regime),
    );
    const at = now();
    if (current && current.version !== row.version) await setVersionStatus(client, current.version, 'retired', at);
    await setVersionStatus(client, row.version, 'active', at);
    const forced = row.status === 'rejected';
    const deploymentId = await insertDeployment(client, {
      scope: row.scope,
      role: row.role,
      fromVersion: current?.version ?? null,
      toVersion: row.version,
      action,
      reason: forced && !args.reason.startsWith('forced') ? `forced (rejected version): ${args.reason}` : args.reason,
      actor: args.actor,
      at,
    });
    await args.inTransaction?.(client);
    const value = await syncKv(env.kv, client, row.scope, `${action} ${row.version}: ${args.reason}`, at);
    return { version: row.version, from: current && current.version !== row.version ? current.version : undefined, scope: row.scope, role: row.role, regime, deploymentId, value, latencyMs: now() - decidedAt };
  });
  const base = { scope: result.scope, role: result.role, ...(result.regime ? { regime: result.regime } : {}), actor: args.actor, at: now() };
  const kind: ModelEventKind = action === 'rollback' ? 'rolledback' : action === 'promote' ? 'promoted' : 'deployed';
  await publishEvent(
    env,
    {
      ...base,
      kind,
      version: result.version,
      ...(result.from ? { from: result.from } : {}),
      reasons: [args.reason],
      latencyMs: result.latencyMs,
      ...(args.comparison ? { comparison: args.comparison } : {}),
    },
    `deployment:${result.deploymentId}`,
  );
  if (result.from) {
    await publishEvent(env, { ...base, kind: 'retired', version: result.from, reasons: [`replaced by ${result.version} (${action})`] }, `retired:${result.deploymentId}`);
  }
  const removed = await applyRetention(env.db, result.scope, args.keep ?? 10);
  if (removed.length) env.log.info({ scope: result.scope, removed }, 'retention removed old artifacts');
  env.log.info({ version: result.version, from: result.from, scope: result.scope, action, latencyMs: result.latencyMs }, 'model activated');
  return result;
}

/**
 * Takes an active online model out of service without a successor: the scope then
 * serves its pretrained models alone (the online weight goes to them). Recorded as
 * a `withdraw` deployment and published as `model.events.withdrawn`.
 */
export async function withdrawVersion(env: RegistryEnv, args: { version: string; reason: string; actor: string; decidedAt?: number }): Promise<ActivationResult> {
  const now = env.now ?? Date.now;
  const decidedAt = args.decidedAt ?? now();
  const result = await withTransaction(env.db, async (client) => {
    const row = await getVersion(client, args.version);
    if (!row) throw new LifecycleError('not_found', `model version ${args.version} is not in the registry`);
    await lockScope(client, row.scope);
    if (row.status !== 'active') throw new LifecycleError('invalid', `model version ${args.version} is ${row.status}, not active`);
    if (row.role !== 'online') throw new LifecycleError('invalid', `only an online model can be withdrawn without a successor (${args.version} is ${row.role})`);
    const at = now();
    await setVersionStatus(client, row.version, 'retired', at);
    const deploymentId = await insertDeployment(client, {
      scope: row.scope,
      role: row.role,
      fromVersion: row.version,
      toVersion: row.version,
      action: 'withdraw',
      reason: args.reason,
      actor: args.actor,
      at,
    });
    const value = await syncKv(env.kv, client, row.scope, `withdraw ${row.version}: ${args.reason}`, at);
    return { version: row.version, from: row.version, scope: row.scope, role: row.role, regime: undefined, deploymentId, value, latencyMs: now() - decidedAt };
  });
  await publishEvent(
    env,
    { kind: 'withdrawn', scope: result.scope, role: result.role, version: result.version, reasons: [args.reason], actor: args.actor, at: now(), latencyMs: result.latencyMs },
    `deployment:${result.deploymentId}`,
  );
  env.log.warn({ version: result.version, scope: result.scope, latencyMs: result.latencyMs }, 'online model withdrawn');
  return result;
}

/** Marks a candidate rejected (gate or verification) and publishes why. */
export async function rejectVersion(
  env: RegistryEnv,
  args: { version: string; kind: 'rejected' | 'verification_failed'; reasons: string[]; actor: string; stage: string; comparison?: Record<string, unknown> },
): Promise<void> {
  const row = await getVersion(env.db, args.version);
  if (!row) throw new LifecycleError('not_found', `model version ${args.version} is not in the registry`);
  if (row.status === 'candidate') await setVersionStatus(env.db, args.version, 'rejected', (env.now ?? Date.now)());
  await publishEvent(
    env,
    {
      kind: args.kind,
      scope: row.scope,
      role: row.role,
      ...(row.regime ? { regime: row.regime } : {}),
      version: args.version,
      reasons: args.reasons,
      actor: args.actor,
      at: (env.now ?? Date.now)(),
      stage: args.stage,
      ...(args.comparison ? { comparison: args.comparison } : {}),
    },
    `${args.kind}:${args.version}`,
  );
}

/**
 * The version a rollback returns to: the most recently activated earlier version
 * of the same scope/role/regime that still has its artifact and was not itself
 * rolled back from. Undefined when there is none.
 */
export async function previousVersion(db: Db, current: VersionRow): Promise<string | undefined> {
  const rolledBackFrom = new Set(
    (await listDeployments(db, { scope: current.scope })).filter((d) => d.action === 'rollback' && d.fromVersion !== null).map((d) => d.fromVersion),
  );
  const candidates = (await listVersions(db, { scope: current.scope, role: current.role }))
    .filter(
      (v) =>
        v.version !== current.version &&
        v.everActive &&
        v.status !== 'active' &&
        v.artifactBytes !== null &&
        (v.regime ?? ANY_REGIME) === (current.regime ?? ANY_REGIME) &&
        !rolledBackFrom.has(v.version),
    )
    .sort((a, b) => (b.activatedAt ?? 0) - (a.activatedAt ?? 0));
  return candidates[0]?.version;
}

/**
 * Rolls a scope/role back to `toVersion`, or to the previous version. The
 * version rolled back from is retired and never chosen as "previous" again.
 */
export async function rollback(
  env: RegistryEnv,
  args: { scope: string; role?: Role; regime?: string; toVersion?: string; reason: string; actor: string; decidedAt?: number },
): Promise<ActivationResult> {
  const role = args.role ?? 'pretrained';
  const active = (await activeVersions(env.db, args.scope)).filter(
    (r) => r.role === role && (args.regime === undefined || (r.regime ?? ANY_REGIME) === args.regime),
  );
  let target = args.toVersion;
  if (target === undefined) {
    const current = active[0];
    if (!current) throw new LifecycleError('no_previous', `scope ${args.scope} has no active ${role} model to roll back from`);
    target = await previousVersion(env.db, current);
    if (target === undefined) throw new LifecycleError('no_previous', `scope ${args.scope} has no earlier ${role} version to roll back to`);
  } else {
    const row = await getVersion(env.db, target);
    if (!row) throw new LifecycleError('not_found', `model version ${target} is not in the registry`);
    if (row.scope !== args.scope) throw new LifecycleError('invalid', `model version ${target} belongs to scope ${row.scope}, not ${args.scope}`);
  }
  return activateVersion(env, {
    version: target,
    reason: args.reason,
    actor: args.actor,
    action: 'rollback',
    ...(args.decidedAt !== undefined ? { decidedAt: args.decidedAt } : {}),
  });
}
