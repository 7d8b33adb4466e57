/** Public door of actors/lifecycle/. */
export * from './kv-model-source.ts';
export * from './model-lifecycle.machine.ts';
export * from './model-lifecycle.ts';
export * from './phase1-pretrain.ts';
export * from './registry-candidate-sink.ts';
export * from './registry.ts';
export * from './verification.ts';
export * from './versions.ts';
export { decideGate, DEFAULT_GATE, type GateConfig, type GateDecision } from './gate.ts';
export { gateFromSettings, scheduleFromSettings, liveSkillFromSettings, rolloutFromSettings } from './lifecycle-settings.ts';
export { startShadow, startCanary, promoteRollout, rollBackRollout, type RolloutStepResult } from './rollout-steps.ts';
export { startRollout } from './rollout-start.ts';
export { chooseCanary, stableHash } from './rollout-canary.ts';
export { judgeRollout, lookAlpha, DEFAULT_ROLLOUT_TEST, type RolloutTestConfig, type RolloutVerdict } from './rollout-evidence.ts';
export { RolloutMonitor, type RolloutConfig, type RolloutStatus } from './rollout-monitor.ts';
export { LiveSkillMonitor, DEFAULT_LIVE_SKILL, type LiveSkillConfig, type SkillReport } from './live-skill.ts';
export { feedbackDue, nextFire, parseSchedule, DEFAULT_SCHEDULE, DEFAULT_FEEDBACK, type RetrainSchedule, type ScopeSchedule, type FeedbackPolicy } from './scheduler.ts';
export { modelEventSchema, type ModelEvent } from './events.schema.ts';
