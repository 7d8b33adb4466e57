import { mulberry32 } from '../../market/index.ts';
import type { Forecast } from '../../models/index.ts';

/**
 * Scoring of forecast series for the hybrid walk-forward: MAE of the log return,
 * direction accuracy (pUp > 0.5 vs realised > 0) and Brier score of pUp, each
 * with a moving-block bootstrap 95 % interval (blocks keep volatility clustering),
 * and paired differences between two series on the same bars.
 */
export const SCORE_METRICS = ['mae', 'directionAccuracy', 'brier'] as const;
export type ScoreMetric = (typeof SCORE_METRICS)[number];

export type Interval = { value: number; lo: number; hi: number };
export type SeriesScore = { name: string; n: number } & Record<ScoreMetric, Interval>;
export type PairedDiff = { a: string; b: string; metric: ScoreMetric; diff: Interval; aBetter: boolean; bBetter: boolean };

type PerBar = Record<ScoreMetric, Float64Array>;

function perBar(actual: ArrayLike<number>, f: readonly Forecast[]): PerBar {
  const n = actual.length;
  const out: PerBar = { mae: new Float64Array(n), directionAccuracy: new Float64Array(n), brier: new Float64Array(n) };
  for (let i = 0; i < n; i += 1) {
    const a = actual[i] ?? 0;
    const fc = f[i] ?? { value: 0, pUp: 0.5 };
    const y = a > 0 ? 1 : 0;
    out.mae[i] = Math.abs(fc.value - a);
    out.directionAccuracy[i] = (fc.pUp > 0.5 ? 1 : 0) === y ? 1 : 0;
    out.brier[i] = (fc.pUp - y) ** 2;
  }
  return out;
}

const mean = (xs: Float64Array): number => {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : Number.NaN;
};

/** Index resamples of a moving-block bootstrap, shared so paired statistics use the same draws. */
export function blockResamples(n: number, resamples: number, blockLength: number, seed: number): Int32Array[] {
  const rng = mulberry32(seed);
  const out: Int32Array[] = [];
  const block = Math.max(1, Math.min(blockLength, n));
  for (let b = 0; b < resamples; b += 1) {
    const idx = new Int32Array(n);
    let k = 0;
    while (k < n) {
      const start = Math.floor(rng.next() * Math.max(1, n - block + 1));
      for (let j = 0; j < block && k < n; j += 1) idx[k++] = start + j;
    }
    out.push(idx);
  }
  return out;
}

function interval(values: Float64Array, draws: readonly Int32Array[]): Interval {
  const stats = draws.map((idx) => {
    let s = 0;
    for (const i of idx) s += values[i] ?? 0;
    return s / idx.length;
  });
  stats.sort((a, b) => a - b);
  const at = (p: number) => stats[Math.min(stats.length - 1, Math.max(0, Math.round(p * (stats.length - 1))))] ?? Number.NaN;
  return { value: mean(values), lo: at(0.025), hi: at(0.975) };
}

/** Scores several named forecast series against the same actuals. */
export function scoreSeries(
  actual: ArrayLike<number>,
  series: ReadonlyMap<string, readonly Forecast[]>,
  options: { resamples: number; blockLength: number; seed: number },
): { scores: SeriesScore[]; diff(a: string, b: string, metric: ScoreMetric): PairedDiff } {
  const n = actual.length;
  const draws = blockResamples(n, options.resamples, options.blockLength, options.seed);
  const bars = new Map<string, PerBar>();
  for (const [name, f] of series) bars.set(name, perBar(actual, f));
  const scores: SeriesScore[] = [...bars].map(([name, p]) => ({
    name,
    n,
    mae: interval(p.mae, draws),
    directionAccuracy: interval(p.directionAccuracy, draws),
    brier: interval(p.brier, draws),
  }));
  return {
    scores,
    diff(a, b, metric) {
      const pa = bars.get(a)?.[metric];
      const pb = bars.get(b)?.[metric];
      if (!pa || !pb) throw new RangeError(`unknown series ${a} or ${b}`);
      const d = pa.map((x, i) => x - (pb[i] ?? 0));
      const diff = interval(d, draws);
      const higherIsBetter = metric === 'directionAccuracy';
      const aBetter = higherIsBetter ? diff.lo > 0 : diff.hi < 0;
      const bBetter = higherIsBetter ? diff.hi < 0 : diff.lo > 0;
      return { a, b, metric, diff, aBetter, bBetter };
    },
  };
}

/** A markdown table of scores (MAE in units of 1e-4 log return). */
export function scoresTable(scores: readonly SeriesScore[]): string {
  const f = (i: Interval, scale: number, digits: number) =>
    `${(i.value * scale).toFixed(digits)} [${(i.lo * scale).toFixed(digits)}, ${(i.hi * scale).toFixed(digits)}]`;
  const lines = ['| model | n | MAE ×1e-4 [95% CI] | direction acc. [95% CI] | Brier [95% CI] |', '|---|---:|---|---|---|'];
  for (const s of scores) lines.push(`| ${s.name} | ${s.n} | ${f(s.mae, 1e4, 3)} | ${f(s.directionAccuracy, 1, 4)} | ${f(s.brier, 1, 4)} |`);
  return lines.join('\n');
}
