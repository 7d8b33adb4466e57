import { mean, probit } from 'simple-statistics';
import type { RolloutOutcome } from '../../sql/index.ts';
import { difference, pairedBootstrapCi, windowLosses } from './paired-bootstrap.ts';

/**
 * The live evidence of a rollout: on every bar both the champion and the
 * challenger forecast, the loss of each (the gate's and the confidence weigher's
 * loss: |value - actual| over the mean |actual|, plus the log loss of pUp) and
 * their difference d = loss(challenger) - loss(champion). The mean of d gets a
 * moving-block bootstrap standard error (blocks keep neighbouring minutes
 * together), and the interval mean ± z·se is read at look k with the error rate
 * α_k = α · 6 / (π² k²). The α_k of all looks sum to at most α, so however long
 * the rollout is watched, the chance of a wrong rollback (or of a wrong
 * promotion) stays below α = 1 - confidence: the test is sequentially valid
 * (Bonferroni alpha spending over the looks), not a fixed-sample test read
 * repeatedly.
 *
 *   worse      lower end > 0                               -> roll back
 *   not worse  n ≥ promoteOutcomes and
 *              upper end ≤ margin · mean loss(champion)    -> promote (from canary)
 */
export type RolloutTestConfig = {
  confidence: number;
  margin: number;
  promoteOutcomes: number;
  samples: number;
  seed: number;
};

export const DEFAULT_ROLLOUT_TEST: RolloutTestConfig = { confidence: 0.95, margin: 0.02, promoteOutcomes: 360, samples: 500, seed: 11 };

export type RolloutVerdict = {
  decision: 'worse' | 'not_worse' | 'undecided';
  n: number;
  look: number;
  /** Error rate spent at this look. */
  alpha: number;
  z: number;
  meanDiff: number;
  se: number;
  lower: number;
  upper: number;
  championLoss: number;
  challengerLoss: number;
  /** Largest tolerated mean loss excess for a promotion. */
  margin: number;
  confidence: number;
};

/** Error rate of look `k` (1-based): α·6/(π²k²), so Σ over every look ≤ α. */
export function lookAlpha(alpha: number, k: number): number {
  return (alpha * 6) / (Math.PI * Math.PI * Math.max(1, k) * Math.max(1, k));
}

/** The paired test at look `look` over every outcome of the rollout so far. */
export function judgeRollout(outcomes: readonly RolloutOutcome[], look: number, config: Partial<RolloutTestConfig> = {}): RolloutVerdict {
  const c = { ...DEFAULT_ROLLOUT_TEST, ...config };
  const n = outcomes.length;
  const alpha = lookAlpha(1 - c.confidence, look);
  const z = probit(1 - alpha);
  const base = { n, look, alpha, z, margin: 0, confidence: c.confidence };
  if (n < 2) return { ...base, decision: 'undecided', meanDiff: 0, se: 0, lower: Number.NEGATIVE_INFINITY, upper: Number.POSITIVE_INFINITY, championLoss: 0, challengerLoss: 0 };
  const actual = outcomes.map((o) => o.actual);
  const champion = windowLosses(actual, outcomes.map((o) => ({ value: o.championValue, pUp: o.championPUp })));
  const challenger = windowLosses(actual, outcomes.map((o) => ({ value: o.challengerValue, pUp: o.challengerPUp })));
  const ci = pairedBootstrapCi(difference(challenger, champion), { samples: c.samples, seed: c.seed });
  const lower = ci.mean - z * ci.se;
  const upper = ci.mean + z * ci.se;
  const championLoss = mean(Array.from(champion));
  const margin = c.margin * championLoss;
  const decision = lower > 0 ? 'worse' : n >= c.promoteOutcomes && upper <= margin ? 'not_worse' : 'undecided';
  return { ...base, decision, margin, meanDiff: ci.mean, se: ci.se, lower, upper, championLoss, challengerLoss: mean(Array.from(challenger)) };
}

/** One line for deployment rows, events and alerts. */
export function verdictText(v: RolloutVerdict): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
  return `paired loss difference challenger - champion over ${v.n} outcomes: mean ${f(v.meanDiff)}, ${(100 * (1 - 2 * v.alpha)).toFixed(2)} % interval [${f(v.lower)}, ${f(v.upper)}] (look ${v.look}, losses ${f(v.challengerLoss)} vs ${f(v.championLoss)}, margin ${f(v.margin)})`;
}
