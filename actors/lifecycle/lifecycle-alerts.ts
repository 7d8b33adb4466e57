import type { Logger } from '../../config/index.ts';
import type { AlertInput, AlertKind, Alerter } from '../../ops/index.ts';
import type { LiveRollbackOutcome } from './live-rollback.ts';
import type { SkillReport } from './live-skill.ts';
import type { RolloutRow } from '../../sql/index.ts';
import type { ActivationResult } from './registry.ts';
import type { RetrainDeps } from './retrain-request.ts';

/**
 * The lifecycle's alerts (`ops.alert.retrain_failed`, `model_degraded`,
 * `rollback`): their payloads, built from what happened, and the raiser that
 * sends them without ever failing the step that raised them.
 */

/** Raises an alert in the background. */
export type RaiseAlert = (kind: AlertKind, payload: AlertInput) => void;

/** An alert that could not be raised is logged: the retrain or rollback it reports has happened all the same. */
export function alertRaiser(alerter: Alerter | undefined, log: Logger): RaiseAlert {
  return (kind, payload) => {
    alerter?.(kind, payload).catch((err: unknown) => log.warn({ err, kind }, 'alert not raised'));
  };
}

/** Alert messages are one line of at most 1 000 characters (the alert schema's limit). */
const line = (s: string): string => s.slice(0, 1_000);

export type RetrainFailure = Parameters<NonNullable<RetrainDeps['onFailed']>>[0];

export function retrainFailedAlert(f: RetrainFailure): AlertInput {
  return {
    severity: 'warning',
    message: line(`retrain ${f.requestId} of ${f.scope} (${f.trigger}) failed after ${f.attempts} attempt(s): ${f.error}`),
    details: { requestId: f.requestId, scope: f.scope, trigger: f.trigger, attempts: f.attempts },
  };
}

/** A serving model's live skill fell below the degradation threshold. */
export function degradedAlert(r: SkillReport): AlertInput {
  return {
    severity: 'warning',
    message: `${r.role} model ${r.version} on ${r.venue}/${r.symbol}: live skill ${r.skill.toFixed(3)} < ${r.threshold} (1 = the naive forecast) over the last ${r.window} outcomes`,
    venue: r.venue,
    symbol: r.symbol,
    details: { role: r.role, version: r.version, skill: r.skill, maeRatio: r.maeRatio, meanLogLoss: r.meanLogLoss, window: r.window, threshold: r.threshold },
  };
}

/** A model past the rollback threshold that could not be rolled back: critical, someone has to act. */
export function notRolledBackAlert(r: SkillReport, reason: string): AlertInput {
  return {
    severity: 'critical',
    message: line(`${r.role} model ${r.version} on ${r.venue}/${r.symbol}: live skill ${r.skill.toFixed(3)} < ${r.threshold}, not rolled back: ${reason}`),
    venue: r.venue,
    symbol: r.symbol,
    details: { role: r.role, version: r.version, skill: r.skill, window: r.window, threshold: r.threshold },
  };
}

/** A degraded model rolled back to its previous version, or (an online model without one) withdrawn. */
export function autoRollbackAlert(r: SkillReport, out: Extract<LiveRollbackOutcome, { action: 'rollback' | 'withdraw' }>): AlertInput {
  const res = out.result;
  const withdrawn = out.action === 'withdraw';
  return {
    severity: 'critical',
    message: line(withdrawn ? `online model ${r.version} of ${res.scope} withdrawn: ${out.reason}` : `${res.scope} ${res.role} rolled back from ${r.version} to ${res.version}: ${out.reason}`),
    venue: r.venue,
    symbol: r.symbol,
    details: { action: out.action, scope: res.scope, role: res.role, from: r.version, to: withdrawn ? null : res.version, latencyMs: res.latencyMs, deploymentId: res.deploymentId },
  };
}

/** A rollback asked for through the service. */
export function manualRollbackAlert(res: ActivationResult, reason: string, actor: string): AlertInput {
  return {
    severity: 'warning',
    message: line(`${res.scope} ${res.role} rolled back by hand${res.from ? ` from ${res.from}` : ''} to ${res.version}: ${reason}`),
    details: { action: 'rollback', scope: res.scope, role: res.role, from: res.from ?? null, to: res.version, actor, latencyMs: res.latencyMs },
  };
}

/** A challenger rolled back during its rollout (shadow or canary): the champion serves every symbol again. */
export function rolloutRollbackAlert(r: RolloutRow, reason: string): AlertInput {
  return {
    severity: 'warning',
    message: line(`${r.scope} ${r.role}: challenger ${r.version} rolled back in ${r.stage}, ${r.champion} serves: ${reason}`),
    details: { action: 'rollback', scope: r.scope, role: r.role, from: r.version, to: r.champion, stage: r.stage, rolloutId: r.id },
  };
}
