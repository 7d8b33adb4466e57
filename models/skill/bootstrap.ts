import { mulberry32 } from '../../market/index.ts';
import type { Interval } from './types.ts';

/** Settings of the moving-block bootstrap: 60-minute blocks keep an hour of volatility clustering together. */
export type BootstrapOptions = { resamples: number; blockLength: number; seed: number };
export const DEFAULT_BOOTSTRAP: BootstrapOptions = { resamples: 1000, blockLength: 60, seed: 1 };

/**
 * The resamples of a moving-block bootstrap of n consecutive observations: each resample
 * is ⌈n / L⌉ blocks of L consecutive observations with uniformly drawn starts, the last
 * block cut so the resample has n. Blocks keep serial dependence (volatility clustering,
 * overlapping horizons) inside them; an i.i.d. bootstrap would break it and understate the
 * uncertainty. One set of draws serves every statistic and every series of a sample, so
 * paired differences are resampled jointly.
 */
export type BlockDraws = { readonly n: number; readonly blockLength: number; readonly starts: readonly Int32Array[] };

export function blockDraws(n: number, options: BootstrapOptions): BlockDraws {
  const rng = mulberry32(options.seed);
  const block = Math.max(1, Math.min(Math.floor(options.blockLength), n));
  const blocks = n > 0 ? Math.ceil(n / block) : 0;
  const starts: Int32Array[] = [];
  for (let b = 0; b < options.resamples; b += 1) {
    const s = new Int32Array(blocks);
    for (let k = 0; k < blocks; k += 1) s[k] = Math.floor(rng.next() * (n - block + 1));
    starts.push(s);
  }
  return { n, blockLength: block, starts };
}

/** The observation indices of resample b, in draw order. */
export function drawIndices(draws: BlockDraws, b: number): Int32Array {
  const idx = new Int32Array(draws.n);
  let k = 0;
  for (const start of draws.starts[b] ?? []) {
    for (let j = 0; j < draws.blockLength && k < draws.n; j += 1) idx[k++] = start + j;
  }
  return idx;
}

function prefixSums(xs: ArrayLike<number>): Float64Array {
  const p = new Float64Array(xs.length + 1);
  for (let i = 0; i < xs.length; i += 1) p[i + 1] = (p[i] ?? 0) + (xs[i] ?? 0);
  return p;
}

function checkLength(columns: readonly ArrayLike<number>[], draws: BlockDraws): void {
  for (const c of columns) if (c.length !== draws.n) throw new RangeError(`column of ${c.length} values resampled with draws of ${draws.n}`);
}

/**
 * The sums of each column over each resample, from prefix sums: O(n / L) per resample
 * rather than O(n), which keeps a report over months of minutes fast.
 */
export function resampledSums(columns: readonly ArrayLike<number>[], draws: BlockDraws): Float64Array[] {
  checkLength(columns, draws);
  const prefixes = columns.map(prefixSums);
  return draws.starts.map((starts) => {
    const out = new Float64Array(columns.length);
    let remaining = draws.n;
    for (const start of starts) {
      const len = Math.min(draws.blockLength, remaining);
      remaining -= len;
      prefixes.forEach((p, c) => {
        out[c] = (out[c] ?? 0) + (p[start + len] ?? 0) - (p[start] ?? 0);
      });
    }
    return out;
  });
}

/** The 2.5 % and 97.5 % percentiles of the resampled statistics around a point value; null when none is defined. */
export function percentileInterval(value: number, stats: readonly (number | null)[]): Interval | null {
  const ok = stats.filter((s): s is number => s !== null && Number.isFinite(s)).sort((a, b) => a - b);
  if (ok.length === 0 || !Number.isFinite(value)) return null;
  const at = (p: number) => ok[Math.min(ok.length - 1, Math.max(0, Math.round(p * (ok.length - 1))))] ?? value;
  return { value, lo: at(0.025), hi: at(0.975) };
}

/**
 * A statistic that is a function of column sums (a mean, or a ratio such as R², an OLS
 * slope or ECE), recomputed on every resample; null when undefined on the whole sample.
 */
export function sumsInterval(
  columns: readonly ArrayLike<number>[],
  draws: BlockDraws,
  stat: (sums: Float64Array, n: number) => number | null,
): Interval | null {
  checkLength(columns, draws);
  const total = new Float64Array(columns.map((c) => prefixSums(c)[c.length] ?? 0));
  const value = draws.n > 0 ? stat(total, draws.n) : null;
  if (value === null) return null;
  return percentileInterval(value, resampledSums(columns, draws).map((s) => stat(s, draws.n)));
}

/** The mean of per-observation values (a loss, a hit indicator) with its interval; null for an empty sample. */
export function meanInterval(values: ArrayLike<number>, draws: BlockDraws): Interval | null {
  return sumsInterval([values], draws, (s, n) => (s[0] ?? 0) / n);
}

/** A statistic that needs the observations themselves (ROC AUC), recomputed on the indices of every resample. */
export function indexInterval(draws: BlockDraws, stat: (idx: Int32Array) => number | null): Interval | null {
  const all = Int32Array.from({ length: draws.n }, (_, i) => i);
  const value = draws.n > 0 ? stat(all) : null;
  if (value === null) return null;
  return percentileInterval(
    value,
    draws.starts.map((_, b) => stat(drawIndices(draws, b))),
  );
}
