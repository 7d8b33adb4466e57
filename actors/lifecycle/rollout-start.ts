import { getVersion } from '../../sql/index.ts';
import { LifecycleError, type RegistryEnv } from './registry.ts';
import { servingChampion } from './retrain.ts';
import { startShadow, type RolloutStepResult } from './rollout-steps.ts';
import { ANY_REGIME } from './versions.ts';

/**
 * Starts the staged rollout of a registered candidate by hand (service endpoint
 * `rollout`, `signals models rollout`): against the version serving its
 * scope/role/regime today, the same champion a retrain's challenger is judged
 * against. A scope with nothing serving has no champion to challenge: activate
 * the version instead.
 */
export async function startRollout(env: RegistryEnv, args: { version: string; reason: string }): Promise<RolloutStepResult> {
  const row = await getVersion(env.db, args.version);
  if (!row) throw new LifecycleError('not_found', `model version ${args.version} is not in the registry`);
  const champion = await servingChampion(env.db, row.scope, row.role, row.regime ?? ANY_REGIME);
  if (!champion) throw new LifecycleError('no_previous', `scope ${row.scope} has no ${row.role} model serving to challenge: activate ${args.version} instead`);
  return startShadow(env, { version: row.version, champion: champion.version, reason: args.reason });
}
