import { getVersion } from '../../sql/index.ts';
import type { SkillReport } from './live-skill.ts';
import { previousVersion, rollback, withdrawVersion, type ActivationResult, type RegistryEnv } from './registry.ts';
import { ANY_REGIME } from './versions.ts';

export type LiveRollbackOutcome =
  | { action: 'rollback' | 'withdraw'; result: ActivationResult; reason: string }
  | { action: 'none'; reason: string };

/** Why a version is being rolled back, in one line (deployment row, event, alert). */
export function rollbackReason(r: SkillReport): string {
  return `auto: live skill ${r.skill.toFixed(3)} < ${r.threshold} over the last ${r.window} outcomes of ${r.venue}/${r.symbol} (MAE ${r.maeRatio.toFixed(3)} x naive, log loss ${r.meanLogLoss.toFixed(3)})`;
}

/**
 * Acts on a version whose live skill fell below the rollback threshold, in the
 * scope it is served from (a Phase 1 model lives in `global`): back to its
 * previous version; an online model without one is withdrawn (the pretrained
 * models then serve alone). A version no longer active, or a pretrained one with
 * nothing to return to, is left as it is (`none`).
 */
export async function rollbackDegraded(env: RegistryEnv, r: SkillReport): Promise<LiveRollbackOutcome> {
  const row = await getVersion(env.db, r.version);
  if (!row) return { action: 'none', reason: `${r.version} is not in the registry` };
  if (row.status !== 'active') return { action: 'none', reason: `${r.version} is ${row.status} already` };
  const reason = rollbackReason(r);
  const prev = await previousVersion(env.db, row);
  if (prev !== undefined) {
    const result = await rollback(env, {
      scope: row.scope,
      role: row.role,
      ...(row.role === 'pretrained' ? { regime: row.regime ?? ANY_REGIME } : {}),
      toVersion: prev,
      reason,
      actor: 'auto-rollback',
      decidedAt: r.detectedAt,
    });
    return { action: 'rollback', result, reason };
  }
  if (row.role === 'online') return { action: 'withdraw', result: await withdrawVersion(env, { version: row.version, reason, actor: 'auto-rollback', decidedAt: r.detectedAt }), reason };
  return { action: 'none', reason: `${r.version} has no earlier ${row.role} version in ${row.scope} to return to` };
}
