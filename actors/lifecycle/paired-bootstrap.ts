import { mean, quantileSorted, standardDeviation } from 'simple-statistics';
import { mulberry32 } from '../../market/index.ts';
import type { Forecast } from '../../models/index.ts';
import { logLoss } from '../prediction/index.ts';

/**
 * Paired comparisons of two forecasters on the same windows, with a confidence
 * interval instead of a point comparison: the per-window loss difference is
 * resampled with a moving-block bootstrap (blocks keep the autocorrelation of
 * neighbouring minutes, which an i.i.d. bootstrap would ignore and so give
 * intervals that are too narrow).
 */

/** A two-sided percentile interval of the mean of a paired difference. */
export type BootstrapCi = {
  readonly n: number;
  readonly mean: number;
  readonly lower: number;
  readonly upper: number;
  /** Standard deviation of the resampled means: the block-bootstrap standard error of `mean`. */
  readonly se: number;
  readonly confidence: number;
  readonly samples: number;
  readonly blockLength: number;
};

export type BootstrapOptions = { confidence?: number; samples?: number; blockLength?: number; seed?: number };

/** Moving-block bootstrap percentile interval of mean(diff). Deterministic for a given seed. */
export function pairedBootstrapCi(diff: ArrayLike<number>, options: BootstrapOptions = {}): BootstrapCi {
  const n = diff.length;
  const confidence = options.confidence ?? 0.95;
  const samples = options.samples ?? 1_000;
  if (n === 0) throw new RangeError('no paired observations to bootstrap');
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1) (got ${confidence})`);
  const values = Array.from(diff);
  const blockLength = Math.max(1, Math.min(n, options.blockLength ?? Math.ceil(Math.cbrt(n))));
  const rng = mulberry32(options.seed ?? 7);
  const starts = n - blockLength + 1;
  const means = new Float64Array(samples);
  for (let s = 0; s < samples; s += 1) {
    let sum = 0;
    let taken = 0;
    while (taken < n) {
      const from = Math.floor(rng.next() * starts);
      for (let k = 0; k < blockLength && taken < n; k += 1, taken += 1) sum += values[from + k] ?? 0;
    }
    means[s] = sum / n;
  }
  const sorted = Array.from(means).sort((a, b) => a - b);
  const alpha = (1 - confidence) / 2;
  return { n, mean: mean(values), lower: quantileSorted(sorted, alpha), upper: quantileSorted(sorted, 1 - alpha), se: standardDeviation(sorted), confidence, samples, blockLength };
}

/**
 * Per-window loss of a forecaster, the same loss the confidence weigher ranks
 * components by: |value - actual| normalised by the window's mean |actual| (so the
 * zero-return forecast scores 1 on average) plus the log loss of pUp.
 */
export function windowLosses(actual: ArrayLike<number>, forecasts: readonly (Forecast | undefined)[]): Float64Array {
  const n = actual.length;
  let absSum = 0;
  for (let i = 0; i < n; i += 1) absSum += Math.abs(actual[i] ?? 0);
  const scale = n > 0 ? absSum / n : 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    const a = actual[i] ?? 0;
    const f = forecasts[i] ?? { value: 0, pUp: 0.5 };
    const err = Math.abs(f.value - a);
    out[i] = (scale > 0 ? err / scale : err > 0 ? 1 : 0) + logLoss(f.pUp, a);
  }
  return out;
}

/** a[i] - b[i]. */
export function difference(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  if (a.length !== b.length) throw new RangeError(`paired series differ in length (${a.length} vs ${b.length})`);
  return Float64Array.from({ length: a.length }, (_, i) => (a[i] ?? 0) - (b[i] ?? 0));
}
