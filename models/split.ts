import { NotEnoughDataError } from './errors.ts';
import { sliceWindows, targetReach, warmupBars, type FeatureSpec, type WindowSet } from './features.ts';

export type SplitFractions = { readonly train: number; readonly val: number };
export const DEFAULT_SPLIT: SplitFractions = { train: 0.7, val: 0.15 };
/** Smallest split sizes, in windows, that give a meaningful fit, early stop and test. */
export const MIN_SPLIT_WINDOWS = { train: 32, val: 8, test: 8 } as const;

export type Split = { train: WindowSet; val: WindowSet; test: WindowSet; embargo: number };

function sizes(n: number, f: SplitFractions, embargo: number): { train: number; val: number; test: number } {
  const train = Math.floor(n * f.train);
  const val = Math.floor(n * f.val);
  return { train, val, test: n - train - val - 2 * embargo };
}

function fits(n: number, f: SplitFractions, embargo: number, min: typeof MIN_SPLIT_WINDOWS): boolean {
  const s = sizes(n, f, embargo);
  return s.train >= min.train && s.val >= min.val && s.test >= min.test;
}

/** Bars a run with this spec needs for the split to fit (the figure a NotEnoughDataError names). */
export function barsNeededForSplit(spec: FeatureSpec, fractions = DEFAULT_SPLIT, min = MIN_SPLIT_WINDOWS): number {
  const embargo = targetReach(spec) - 1;
  let need = 1;
  while (!fits(need, fractions, embargo, min) && need < 1e7) need += 1;
  return need + warmupBars(spec) - 1 + targetReach(spec);
}

/**
 * Time-ordered train / val / test split of the labelled windows (no shuffling
 * across the boundaries). `reach - 1` windows are dropped at each boundary
 * (embargo; reach = the farthest target, `horizon` or the longest of `horizons`)
 * so no training target overlaps a validation or test target.
 * Throws NotEnoughDataError, naming the bars needed, when a part would be too small.
 */
export function splitWindows(set: WindowSet, barCount: number, fractions = DEFAULT_SPLIT, min = MIN_SPLIT_WINDOWS): Split {
  const embargo = targetReach(set.spec) - 1;
  const n = set.labelled;
  if (!fits(n, fractions, embargo, min)) {
    const neededBars = barsNeededForSplit(set.spec, fractions, min);
    const pct = (x: number) => Math.round(x * 100);
    throw new NotEnoughDataError(
      `too few bars for lookback ${set.spec.lookback}, horizon ${targetReach(set.spec)} and a ${pct(fractions.train)}/${pct(fractions.val)}/${pct(1 - fractions.train - fractions.val)} split`,
      neededBars,
      barCount,
    );
  }
  const s = sizes(n, fractions, embargo);
  const valFrom = s.train + embargo;
  const testFrom = valFrom + s.val + embargo;
  return {
    train: sliceWindows(set, 0, s.train),
    val: sliceWindows(set, valFrom, valFrom + s.val),
    test: sliceWindows(set, testFrom, n),
    embargo,
  };
}
