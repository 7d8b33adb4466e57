import type { Logger } from '../../config/index.ts';
import type { OutcomeFeed } from '../prediction/index.ts';
import { autoRollbackAlert, degradedAlert, notRolledBackAlert, type RaiseAlert } from './lifecycle-alerts.ts';
import { rollbackDegraded, rollbackReason } from './live-rollback.ts';
import { LiveSkillMonitor, type LiveSkillConfig, type SkillReport } from './live-skill.ts';
import type { LifecycleLoopEvent } from './model-lifecycle.machine.ts';
import type { RegistryEnv } from './registry.ts';
import type { RolloutMonitor } from './rollout-monitor.ts';

/**
 * Automatic rollback: the live skill of every model this process serves is
 * followed on its realised outcomes; a model below the degradation threshold
 * raises an alert, one below the rollback threshold is rolled back (or withdrawn).
 */

export type AutoRollbackContext = {
  env: RegistryEnv;
  log: Logger;
  alert: RaiseAlert;
  /** Tells the machine of each rollback done. */
  send(e: Extract<LifecycleLoopEvent, { type: 'model.rolledback' }>): void;
  /** Open rollouts: a challenger serving a canary that degrades ends its rollout instead. */
  rollouts?: Pick<RolloutMonitor, 'rollBackChallenger'>;
};

/** Follows the outcomes until the returned unsubscribe is called. */
export function watchLiveSkill(ctx: AutoRollbackContext, outcomes: OutcomeFeed, config: Partial<LiveSkillConfig>): () => void {
  const monitor = new LiveSkillMonitor({
    config,
    onDegraded: (r) => ctx.alert('model_degraded', degradedAlert(r)),
    onRollback: (r) => rollBackDegradedModel(ctx, r),
    onError: (err, r) => ctx.log.error({ err, version: r.version }, 'automatic rollback failed'),
  });
  return outcomes.subscribe((o) => monitor.observe(o));
}

/** Rolls a degraded model back. One that cannot be is left serving, with a critical alert. A rejection is retried by the monitor. */
export async function rollBackDegradedModel(ctx: AutoRollbackContext, r: SkillReport): Promise<void> {
  if (await ctx.rollouts?.rollBackChallenger(r.version, rollbackReason(r))) return;
  const out = await rollbackDegraded(ctx.env, r);
  if (out.action === 'none') {
    ctx.log.warn({ version: r.version, reason: out.reason }, 'degraded model not rolled back');
    ctx.alert('model_degraded', notRolledBackAlert(r, out.reason));
    return;
  }
  const res = out.result;
  ctx.alert('rollback', autoRollbackAlert(r, out));
  ctx.send({ type: 'model.rolledback', scope: res.scope, version: res.version, auto: true, latencyMs: res.latencyMs });
}
