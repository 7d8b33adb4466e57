import type { HorizonLabel, OhlcvBar } from './types.ts';

/**
 * Training targets beyond the one `horizon`-bar return: per forecast horizon h
 * (in bars, which are minutes for 1-minute bars) the cumulative log return
 * ln(close[e+h] / close[e]) and the realised variance Σ_{k=1..h} r²_{e+k}
 * (r_j = ln(close[j] / close[j-1])) after the window's last bar e; and, for the
 * univariate layout, the next `horizon` one-step log returns (a multi-step target).
 */

/** The published key of a horizon: `${minutes}m`. */
export const horizonKey = (minutes: number): HorizonLabel => `${minutes}m`;

/** Per window and horizon, row-major [windows × H]; NaN where a future bar is missing. */
export type HorizonTargetArrays = { readonly ret: Float64Array; readonly rv: Float64Array };

/**
 * Cumulative returns and realised variances for windows ending at bar indices
 * `ends`. Summed one return at a time (not from prefix sums), so a window's
 * variance does not depend on how long the series before it is.
 */
export function horizonTargets(bars: readonly OhlcvBar[], ends: ArrayLike<number>, horizons: readonly number[]): HorizonTargetArrays {
  const count = ends.length;
  const hs = horizons.length;
  const ret = new Float64Array(count * hs).fill(Number.NaN);
  const rv = new Float64Array(count * hs).fill(Number.NaN);
  const longest = horizons[hs - 1] ?? 0;
  for (let i = 0; i < count; i += 1) {
    const e = ends[i] ?? 0;
    const start = bars[e]?.close;
    if (start === undefined) continue;
    let prev = start;
    let sq = 0;
    let j = 0;
    for (let k = 1; k <= longest && j < hs; k += 1) {
      const bar = bars[e + k];
      if (bar === undefined) break;
      const r = Math.log(bar.close / prev);
      sq += r * r;
      prev = bar.close;
      if (k === horizons[j]) {
        ret[i * hs + j] = Math.log(bar.close / start);
        rv[i * hs + j] = sq;
        j += 1;
      }
    }
  }
  return { ret, rv };
}

/** The next `steps` one-step log returns after each window's last bar, row-major [windows × steps]; NaN where missing. */
export function stepTargets(bars: readonly OhlcvBar[], ends: ArrayLike<number>, steps: number): Float64Array {
  const count = ends.length;
  const out = new Float64Array(count * steps).fill(Number.NaN);
  for (let i = 0; i < count; i += 1) {
    const e = ends[i] ?? 0;
    for (let k = 0; k < steps; k += 1) {
      const from = bars[e + k];
      const to = bars[e + k + 1];
      if (from === undefined || to === undefined) break;
      out[i * steps + k] = Math.log(to.close / from.close);
    }
  }
  return out;
}

/** True when the `width` values of row `i` of a row-major matrix are all finite. */
export function rowFinite(m: Float64Array, i: number, width: number): boolean {
  for (let j = 0; j < width; j += 1) if (!Number.isFinite(m[i * width + j] ?? Number.NaN)) return false;
  return true;
}
