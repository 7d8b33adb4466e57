import type { Settings } from '../../config/index.ts';
import type { GateConfig } from './gate.ts';
import type { LiveSkillConfig } from './live-skill.ts';
import type { RolloutConfig } from './rollout-monitor.ts';
import { parseSchedule, type RetrainSchedule } from './scheduler.ts';

/** The gate's thresholds from the configuration (GATE_*): the only place they come from. */
export function gateFromSettings(s: Settings): Partial<GateConfig> {
  return {
    aucFloor: s.GATE_AUC_FLOOR,
    maxAucDropPct: s.GATE_MAX_AUC_DROP_PCT,
    maxF1DropPct: s.GATE_MAX_F1_DROP_PCT,
    confidence: s.GATE_CONFIDENCE,
    bootstrapSamples: s.GATE_BOOTSTRAP_SAMPLES,
    onlineMargin: s.GATE_ONLINE_MARGIN,
    baselineMargin: s.GATE_BASELINE_MARGIN,
  };
}

/** Scheduled and feedback retraining from the configuration (RETRAIN_SCHEDULE, FEEDBACK_*). */
export function scheduleFromSettings(s: Settings): RetrainSchedule {
  return {
    cron: parseSchedule(s.RETRAIN_SCHEDULE),
    feedbackCheckMs: s.FEEDBACK_CHECK_MS,
    policy: {
      minCorrections: s.FEEDBACK_MIN_CORRECTIONS,
      minDays: s.FEEDBACK_MIN_DAYS,
      urgentCorrections: s.FEEDBACK_URGENT_CORRECTIONS,
      errorBound: s.FEEDBACK_ERROR_BOUND,
    },
  };
}

/** Live skill thresholds from the configuration (ROLLBACK_WINDOW, MODEL_DEGRADED_SKILL, ROLLBACK_SKILL). */
export function liveSkillFromSettings(s: Settings): LiveSkillConfig {
  return { window: s.ROLLBACK_WINDOW, degradedSkill: s.MODEL_DEGRADED_SKILL, rollbackSkill: s.ROLLBACK_SKILL };
}

/** Staged rollouts from the configuration (ROLLOUT_*). */
export function rolloutFromSettings(s: Settings): RolloutConfig {
  return {
    shadowOutcomes: s.ROLLOUT_SHADOW_OUTCOMES,
    canaryFraction: s.ROLLOUT_CANARY_FRACTION,
    promoteOutcomes: s.ROLLOUT_PROMOTE_OUTCOMES,
    checkEvery: s.ROLLOUT_CHECK_EVERY,
    confidence: s.ROLLOUT_CONFIDENCE,
    margin: s.ROLLOUT_MARGIN,
    maxOutcomes: s.ROLLOUT_MAX_OUTCOMES,
    samples: s.GATE_BOOTSTRAP_SAMPLES,
    seed: 11,
  };
}
