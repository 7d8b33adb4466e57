import type { ModelSnapshot, ServingModel } from './model-source.ts';

/**
 * What one bar of a symbol runs: the models that serve it (blended and
 * published) and the one that forecasts beside them without serving (`shadow`).
 * Without a rollout, or when the rollout's champion is not what this bar would
 * be served by (another regime's model, the symbol's own model), nothing
 * changes. In shadow, and in canary for a symbol outside the canary, the
 * challenger is the shadow; for a canary symbol the challenger serves in the
 * champion's place and the champion is the shadow. Either way one extra model
 * runs per bar, and the champion and the challenger are scored on the same bars.
 */
export type ServePlan = {
  readonly pretrained: ServingModel | undefined;
  readonly online: ServingModel | undefined;
  readonly shadow: ServingModel | undefined;
  /** The shadow is the challenger (its forecast goes out on `signal.shadow.*`). */
  readonly challengerInShadow: boolean;
};

export function servePlan(snap: ModelSnapshot, pretrained: ServingModel | undefined): ServePlan {
  const plain: ServePlan = { pretrained, online: snap.online, shadow: undefined, challengerInShadow: false };
  const ro = snap.rollout;
  if (!ro) return plain;
  const champion = ro.role === 'pretrained' ? pretrained : snap.online;
  if (!champion || champion.version !== ro.champion || ro.challenger.version === champion.version) return plain;
  if (ro.stage === 'canary' && ro.canary) {
    return ro.role === 'pretrained'
      ? { pretrained: ro.challenger, online: snap.online, shadow: champion, challengerInShadow: false }
      : { pretrained, online: ro.challenger, shadow: champion, challengerInShadow: false };
  }
  return { ...plain, shadow: ro.challenger, challengerInShadow: true };
}
