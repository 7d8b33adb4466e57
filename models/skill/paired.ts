import { meanInterval } from './bootstrap.ts';
import { brierLoss, upLabel } from './direction.ts';
import type { DrawsFor } from './series-skill.ts';
import type { HorizonOutcome, Interval } from './types.ts';
import { qlikeLoss, varianceSkip } from './volatility.ts';

/** Losses compared between series; lower is better for both. */
export const PAIRED_METRICS = ['qlike', 'brier'] as const;
export type PairedMetric = (typeof PAIRED_METRICS)[number];

/**
 * Mean of (loss of a − loss of b) over the outcomes both series can be scored on, with its
 * interval from the same block draws for both: a CI entirely below 0 means a is better.
 */
export type PairedDifference = { metric: PairedMetric; a: string; b: string; n: number; diff: Interval; aBetter: boolean; bBetter: boolean };

function loss(metric: PairedMetric, o: HorizonOutcome, series: string): number | undefined {
  const f = o.forecasts[series];
  if (metric === 'brier') return f?.pUp === undefined || !Number.isFinite(f.pUp) ? undefined : brierLoss(f.pUp, upLabel(o.realisedReturn));
  if (f?.sigma === undefined) return undefined;
  const v = f.sigma * f.sigma;
  return varianceSkip(o.realisedVariance, v) ? undefined : qlikeLoss(o.realisedVariance, v);
}

/** Series a − series b on one horizon's outcomes (in time order); null when they share no scorable outcome. */
export function pairedDifference(
  outcomes: readonly HorizonOutcome[],
  metric: PairedMetric,
  a: string,
  b: string,
  drawsFor: DrawsFor,
): PairedDifference | null {
  const d: number[] = [];
  for (const o of outcomes) {
    const la = loss(metric, o, a);
    const lb = loss(metric, o, b);
    if (la !== undefined && lb !== undefined) d.push(la - lb);
  }
  const diff = meanInterval(d, drawsFor(d.length));
  if (!diff) return null;
  return { metric, a, b, n: d.length, diff, aBetter: diff.hi < 0, bBetter: diff.lo > 0 };
}
