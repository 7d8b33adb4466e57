import type { RolloutRow } from '../../sql/index.ts';
import type { RolloutValue } from '../../streams/index.ts';

/** The KV form of an open rollout (what every predictor reads). An ended one has none. */
export function rolloutValue(r: RolloutRow): RolloutValue {
  if (r.stage !== 'shadow' && r.stage !== 'canary') throw new RangeError(`rollout ${r.id} is ${r.stage}: only an open rollout goes into KV`);
  return {
    id: r.id,
    stage: r.stage,
    role: r.role,
    regime: r.regime,
    version: r.version,
    champion: r.champion,
    canary: r.stage === 'canary' ? r.canary : [],
    startedAt: r.startedAt,
    stageAt: r.stageAt,
  };
}
