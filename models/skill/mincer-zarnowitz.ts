import { varianceSkip } from './volatility.ts';

/**
 * An OLS fit y = a + b·x with its R² (null when y is constant). For a Mincer–Zarnowitz
 * regression of realised on forecast variance an unbiased forecast has a = 0, b = 1;
 * b < 1 means the forecasts vary too much, b > 1 too little.
 */
export type LinearFit = { a: number; b: number; r2: number | null; n: number };

/**
 * OLS from sums of centred columns [x', y', x'², x'y', y'²] (x' = x − cx, y' = y − cy):
 * the form the bootstrap recomputes on resamples. `centre` = [cx, cy] restores the
 * intercept. Null with fewer than two points or a constant x.
 */
export function olsFromSums(sums: ArrayLike<number>, n: number, centre: readonly [number, number] = [0, 0]): LinearFit | null {
  const [sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0] = Array.from(sums);
  const vxx = sxx - (sx * sx) / n;
  const vxy = sxy - (sx * sy) / n;
  const vyy = syy - (sy * sy) / n;
  if (n < 2 || !(vxx > 0)) return null;
  const b = vxy / vxx;
  const a = centre[1] + sy / n - b * (centre[0] + sx / n);
  // Residual sum of squares of the fit: vyy − b·vxy.
  const r2 = vyy > 0 ? 1 - Math.max(0, vyy - b * vxy) / vyy : null;
  return { a, b, r2, n };
}

/** The centred sum columns of (x, y) that `olsFromSums` reads, and their centre. */
export function olsColumns(x: ArrayLike<number>, y: ArrayLike<number>): { columns: Float64Array[]; centre: [number, number] } {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i += 1) {
    mx += x[i] ?? 0;
    my += y[i] ?? 0;
  }
  mx /= Math.max(1, n);
  my /= Math.max(1, n);
  const cx = new Float64Array(n);
  const cy = new Float64Array(n);
  const cxx = new Float64Array(n);
  const cxy = new Float64Array(n);
  const cyy = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    const u = (x[i] ?? 0) - mx;
    const v = (y[i] ?? 0) - my;
    cx[i] = u;
    cy[i] = v;
    cxx[i] = u * u;
    cxy[i] = u * v;
    cyy[i] = v * v;
  }
  const columns = [cx, cy, cxx, cxy, cyy];
  return { columns, centre: [mx, my] };
}

/** OLS y = a + b·x (same length, finite values). */
export function ols(x: ArrayLike<number>, y: ArrayLike<number>): LinearFit | null {
  if (x.length !== y.length) throw new RangeError(`x (${x.length}) and y (${y.length}) differ in length`);
  const { columns, centre } = olsColumns(x, y);
  const sums = columns.map((c) => c.reduce((a, v) => a + v, 0));
  return olsFromSums(sums, x.length, centre);
}

/** The (forecast, realised) pairs of a Mincer–Zarnowitz regression, in levels or in logs. */
export function mzPairs(rv: ArrayLike<number>, forecastVar: ArrayLike<number>, logs: boolean): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < rv.length; i += 1) {
    const r = rv[i] ?? Number.NaN;
    const f = forecastVar[i] ?? Number.NaN;
    // In levels a flat window (rv = 0) is a valid observation; only logs need rv > 0.
    const why = varianceSkip(r, f);
    if (why === 'invalid' || (logs && why === 'flat') || (!logs && r < 0)) continue;
    x.push(logs ? Math.log(f) : f);
    y.push(logs ? Math.log(r) : r);
  }
  return { x, y };
}

/** Mincer–Zarnowitz regression rv = a + b·f by OLS. */
export function mincerZarnowitz(rv: ArrayLike<number>, forecastVar: ArrayLike<number>): LinearFit | null {
  const { x, y } = mzPairs(rv, forecastVar, false);
  return ols(x, y);
}

/** Mincer–Zarnowitz on logs, ln rv = a + b·ln f: less dominated by the few most volatile windows. */
export function mincerZarnowitzLog(rv: ArrayLike<number>, forecastVar: ArrayLike<number>): LinearFit | null {
  const { x, y } = mzPairs(rv, forecastVar, true);
  return ols(x, y);
}
