import type pg from 'pg';
import { getRollout, getVersion, insertDeployment, insertRollout, lockScope, setVersionStatus, updateRolloutStage, withTransaction, type RolloutRow } from '../../sql/index.ts';
import type { ModelEventKind } from '../../streams/index.ts';
import { activateVersion, LifecycleError, publishEvent, syncKv, type RegistryEnv } from './registry.ts';
import { ANY_REGIME } from './versions.ts';

/**
 * The steps of a staged rollout, each one transaction: the rollout row, a
 * model_deployments row and the scope's KV entry (which tells every predictor
 * what to run) change together; the `model.events.<kind>` follows the commit.
 *
 *   shadow   the challenger forecasts every bar of its scope beside the champion
 *   canary   it serves the chosen symbols in the champion's place
 *   promote  it becomes the active version of its scope (every symbol)
 *   rollback it is rejected; the champion serves everything again
 */

export type RolloutStepResult = { rollout: RolloutRow; deploymentId: number };

async function announce(env: RegistryEnv, r: RolloutRow, kind: ModelEventKind, version: string, from: string, reasons: string[], deploymentId: number, comparison?: Record<string, unknown>): Promise<void> {
  await publishEvent(
    env,
    {
      kind,
      scope: r.scope,
      role: r.role,
      regime: r.regime,
      version,
      from,
      reasons,
      actor: 'rollout',
      at: (env.now ?? Date.now)(),
      stage: kind === 'rolledback' ? r.stage : kind.replace(/_started$/, ''),
      comparison: { rolloutId: r.id, deploymentId, ...(comparison ?? {}) },
    },
    `rollout:${r.id}:${kind}`,
  );
}

/**
 * Starts a rollout of `version` (a candidate) against `champion`, the version
 * serving its scope/role/regime today: shadow first. Refused when the scope has a
 * rollout open already or the version cannot serve.
 */
export async function startShadow(env: RegistryEnv, args: { version: string; champion: string; reason: string }): Promise<RolloutStepResult> {
  const now = env.now ?? Date.now;
  const result = await withTransaction(env.db, async (client) => {
    const row = await getVersion(client, args.version);
    if (!row) throw new LifecycleError('not_found', `model version ${args.version} is not in the registry`);
    await lockScope(client, row.scope);
    if (row.status !== 'candidate') throw new LifecycleError('invalid', `model version ${args.version} is ${row.status}: only a candidate can be rolled out`);
    if (row.artifactBytes === null) throw new LifecycleError('no_artifact', `model version ${args.version} has no stored artifact`);
    if (args.champion === row.version) throw new LifecycleError('invalid', `model version ${args.version} cannot challenge itself`);
    const at = now();
    let rollout: RolloutRow;
    try {
      rollout = await insertRollout(client, { scope: row.scope, role: row.role, regime: row.regime ?? ANY_REGIME, version: row.version, champion: args.champion, reason: args.reason, at });
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505') throw new LifecycleError('invalid', `scope ${row.scope} has a rollout in progress already`, { cause: err });
      throw err;
    }
    const deploymentId = await insertDeployment(client, { scope: row.scope, role: row.role, fromVersion: args.champion, toVersion: row.version, action: 'shadow', reason: args.reason, actor: 'rollout', at });
    await syncKv(env.kv, client, row.scope, `shadow ${row.version}: ${args.reason}`, at);
    return { rollout, deploymentId };
  });
  await announce(env, result.rollout, 'shadow_started', result.rollout.version, result.rollout.champion, [args.reason], result.deploymentId);
  env.log.info({ rolloutId: result.rollout.id, scope: result.rollout.scope, version: result.rollout.version, champion: result.rollout.champion }, 'rollout: shadow started');
  return result;
}

/** Shadow -> canary on `canary` (`<venue>.<symbol>` keys). Undefined when the rollout is no longer in shadow. */
export async function startCanary(env: RegistryEnv, r: RolloutRow, args: { canary: string[]; reason: string; comparison?: Record<string, unknown> }): Promise<RolloutStepResult | undefined> {
  const now = env.now ?? Date.now;
  const result = await withTransaction(env.db, async (client) => {
    await lockScope(client, r.scope);
    const at = now();
    const rollout = await updateRolloutStage(client, r.id, 'shadow', { stage: 'canary', at, canary: args.canary });
    if (!rollout) return undefined;
    const deploymentId = await insertDeployment(client, { scope: r.scope, role: r.role, fromVersion: r.champion, toVersion: r.version, action: 'canary', reason: args.reason, actor: 'rollout', at });
    await syncKv(env.kv, client, r.scope, `canary ${r.version}: ${args.reason}`, at);
    return { rollout, deploymentId };
  });
  if (!result) return undefined;
  await announce(env, result.rollout, 'canary_started', r.version, r.champion, [args.reason], result.deploymentId, { canary: args.canary, ...(args.comparison ?? {}) });
  env.log.info({ rolloutId: r.id, scope: r.scope, version: r.version, canary: args.canary }, 'rollout: canary started');
  return result;
}

/** Canary -> promoted: the challenger becomes the active version of its scope (the champion there is retired). */
export async function promoteRollout(env: RegistryEnv, r: RolloutRow, args: { reason: string; decision: Record<string, unknown> }): Promise<boolean> {
  let closed = false;
  await activateVersion(env, {
    version: r.version,
    reason: args.reason,
    actor: 'rollout',
    action: 'promote',
    comparison: { rolloutId: r.id, ...args.decision },
    inTransaction: async (client: pg.ClientBase) => {
      const at = (env.now ?? Date.now)();
      const row = await updateRolloutStage(client, r.id, 'canary', { stage: 'promoted', at, reason: args.reason, decision: args.decision });
      // Someone else ended it meanwhile: the activation is undone with the transaction.
      if (!row) throw new LifecycleError('invalid', `rollout ${r.id} is no longer in canary`);
      closed = true;
    },
  });
  env.log.info({ rolloutId: r.id, scope: r.scope, version: r.version, champion: r.champion }, 'rollout: promoted');
  return closed;
}

/**
 * Ends a rollout in shadow or canary, keeping the champion: the challenger is
 * rejected, a `rollback` deployment (challenger -> champion) is recorded and
 * `model.events.rolledback` published. False when the rollout had ended already.
 */
export async function rollBackRollout(env: RegistryEnv, r: RolloutRow, args: { reason: string; decision?: Record<string, unknown>; actor?: string }): Promise<RolloutStepResult | undefined> {
  const now = env.now ?? Date.now;
  const decidedAt = now();
  const result = await withTransaction(env.db, async (client) => {
    await lockScope(client, r.scope);
    const current = await getRollout(client, r.id);
    if (!current || (current.stage !== 'shadow' && current.stage !== 'canary')) return undefined;
    const at = now();
    const rollout = await updateRolloutStage(client, r.id, current.stage, { stage: 'rolledback', at, reason: args.reason, ...(args.decision ? { decision: args.decision } : {}) });
    if (!rollout) return undefined;
    const challenger = await getVersion(client, r.version);
    if (challenger?.status === 'candidate') await setVersionStatus(client, r.version, 'rejected', at);
    const deploymentId = await insertDeployment(client, { scope: r.scope, role: r.role, fromVersion: r.version, toVersion: r.champion, action: 'rollback', reason: args.reason, actor: args.actor ?? 'rollout', at });
    await syncKv(env.kv, client, r.scope, `rollback of ${r.version} (${current.stage}): ${args.reason}`, at);
    return { rollout: { ...rollout, stage: current.stage }, deploymentId };
  });
  if (!result) return undefined;
  await publishEvent(
    env,
    {
      kind: 'rolledback',
      scope: r.scope,
      role: r.role,
      regime: r.regime,
      version: r.champion,
      from: r.version,
      reasons: [args.reason],
      actor: args.actor ?? 'rollout',
      at: now(),
      stage: result.rollout.stage,
      latencyMs: now() - decidedAt,
      comparison: { rolloutId: r.id, ...(args.decision ?? {}) },
    },
    `rollout:${r.id}:rolledback`,
  );
  env.log.warn({ rolloutId: r.id, scope: r.scope, version: r.version, champion: r.champion, stage: result.rollout.stage, reason: args.reason }, 'rollout: rolled back');
  return { rollout: { ...result.rollout, stage: 'rolledback' }, deploymentId: result.deploymentId };
}

/**
 * Closes a rollout overtaken by a decision made elsewhere: its challenger was
 * activated by hand (closed as promoted). The KV entry drops the rollout; the
 * activation itself was recorded and announced when it was made.
 */
export async function closeOvertakenRollout(env: RegistryEnv, r: RolloutRow, reason: string): Promise<boolean> {
  return withTransaction(env.db, async (client) => {
    await lockScope(client, r.scope);
    const at = (env.now ?? Date.now)();
    const row = await updateRolloutStage(client, r.id, r.stage, { stage: 'promoted', at, reason });
    if (!row) return false;
    await syncKv(env.kv, client, r.scope, `rollout ${r.id} closed: ${reason}`, at);
    return true;
  });
}
