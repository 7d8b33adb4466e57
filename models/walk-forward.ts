import type { Logger } from '../config/index.ts';
import { createBaselines } from './baselines.ts';
import { NotEnoughDataError } from './errors.ts';
import { buildWindows, sliceWindows, targetReach, warmupBars, windowAt, type FeatureSpec, type WindowSet } from './features.ts';
import { fitNetwork } from './fit-network.ts';
import { forecastMetrics, type ForecastMetrics } from './metrics.ts';
import { NeuralPredictor } from './neural-predictor.ts';
import { fitPreprocessor } from './preprocessor.ts';
import { SeededRandom } from './rng.ts';
import type { Forecast, ModelKind, OhlcvBar } from './types.ts';

export type WalkForwardConfig = {
  kinds: readonly ModelKind[];
  spec: FeatureSpec;
  folds: number;
  /** Windows each fold trains on (the last `valFraction` of them for early stopping), rolling forward. */
  trainWindows: number;
  /** Windows of each test block; blocks are consecutive and end at the last labelled window. */
  testWindows: number;
  valFraction: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  hiddenUnits: readonly number[];
  dropout: number;
  patience: number;
  seed: number;
  /** Bootstrap resamples for the confidence intervals. */
  bootstrap: number;
};

export type FoldResult = {
  fold: number;
  train: { fromTs: number; toTs: number; windows: number };
  test: { fromTs: number; toTs: number; windows: number };
  metrics: Record<string, ForecastMetrics>;
  epochsRan: Record<string, number>;
  ms: number;
};

/** Model minus baseline over all test windows, with a moving-block bootstrap 95 % interval. */
export type Comparison = {
  model: string;
  baseline: string;
  metric: 'rmse' | 'directionAccuracy';
  diff: number;
  ci: [number, number];
  /** True when the whole interval is on the model's better side (lower RMSE / higher accuracy). */
  better: boolean;
  /** True when the whole interval is on the baseline's better side. */
  worse: boolean;
};

export type WalkForwardResult = {
  config: WalkForwardConfig;
  folds: FoldResult[];
  /** Metrics over all test windows of all folds together. */
  overall: Record<string, ForecastMetrics>;
  bestBaseline: { rmse: string; directionAccuracy: string };
  comparisons: Comparison[];
  blockLength: number;
  verdict: string;
};

type Pooled = { actual: number[]; byName: Map<string, Forecast[]> };

function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))));
  return sorted[i] ?? Number.NaN;
}

function rmseOf(actual: readonly number[], f: readonly Forecast[], idx: Int32Array): number {
  let s = 0;
  for (const i of idx) s += ((f[i]?.value ?? 0) - (actual[i] ?? 0)) ** 2;
  return Math.sqrt(s / idx.length);
}

function accOf(actual: readonly number[], f: readonly Forecast[], idx: Int32Array): number {
  let c = 0;
  for (const i of idx) if (((f[i]?.pUp ?? 0.5) > 0.5 ? 1 : 0) === ((actual[i] ?? 0) > 0 ? 1 : 0)) c += 1;
  return c / idx.length;
}

/**
 * Moving-block bootstrap of (model − baseline) for RMSE and direction accuracy:
 * blocks of consecutive test windows keep the volatility clustering of returns.
 */
function compare(
  pooled: Pooled,
  model: string,
  baseline: string,
  metric: Comparison['metric'],
  resamples: number,
  blockLength: number,
  seed: number,
): Comparison {
  const n = pooled.actual.length;
  const fm = pooled.byName.get(model) ?? [];
  const fb = pooled.byName.get(baseline) ?? [];
  const stat = (idx: Int32Array) =>
    metric === 'rmse' ? rmseOf(pooled.actual, fm, idx) - rmseOf(pooled.actual, fb, idx) : accOf(pooled.actual, fm, idx) - accOf(pooled.actual, fb, idx);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const diff = stat(all);
  const rng = new SeededRandom(seed);
  const stats: number[] = [];
  const idx = new Int32Array(n);
  for (let r = 0; r < resamples; r += 1) {
    let k = 0;
    while (k < n) {
      const start = rng.int(Math.max(1, n - blockLength + 1));
      for (let j = 0; j < blockLength && k < n; j += 1) idx[k++] = start + j;
    }
    stats.push(stat(idx));
  }
  stats.sort((a, b) => a - b);
  const ci: [number, number] = [percentile(stats, 0.025), percentile(stats, 0.975)];
  const better = metric === 'rmse' ? ci[1] < 0 : ci[0] > 0;
  const worse = metric === 'rmse' ? ci[0] > 0 : ci[1] < 0;
  return { model, baseline, metric, diff, ci, better, worse };
}

/** Smallest labelled-window count the layout needs. */
function neededWindows(c: WalkForwardConfig): number {
  const embargo = targetReach(c.spec) - 1;
  return c.trainWindows + 2 * embargo + c.folds * c.testWindows;
}

/**
 * Walk-forward evaluation: for each fold, train every model kind on the
 * `trainWindows` windows just before the fold's test block (normalisation fitted
 * on that train part only), test it and every naive baseline on the block, then
 * roll forward by one block. Reports per-fold and pooled metrics and bootstrap
 * intervals of each model's difference to the best baseline.
 */
export async function walkForward(bars: readonly OhlcvBar[], config: WalkForwardConfig, log?: Logger, context?: readonly OhlcvBar[]): Promise<WalkForwardResult> {
  const set = buildWindows(bars, config.spec, context);
  const embargo = targetReach(config.spec) - 1;
  const need = neededWindows(config);
  if (set.labelled < need) {
    throw new NotEnoughDataError(
      `too few bars for ${config.folds} folds of ${config.testWindows} test windows after ${config.trainWindows} training windows`,
      need + warmupBars(config.spec) - 1 + targetReach(config.spec),
      bars.length,
    );
  }
  const baselines = createBaselines(config.spec.lookback, config.spec.horizon);
  const names = [...config.kinds, ...baselines.map((b) => b.kind)];
  const pooled: Pooled = { actual: [], byName: new Map(names.map((n) => [n, []])) };
  const folds: FoldResult[] = [];
  const firstTest = set.labelled - config.folds * config.testWindows;
  for (let k = 0; k < config.folds; k += 1) {
    const t0 = performance.now();
    const testFrom = firstTest + k * config.testWindows;
    const test = sliceWindows(set, testFrom, testFrom + config.testWindows);
    const trainEnd = testFrom - embargo;
    const trainStart = trainEnd - config.trainWindows;
    const nVal = Math.max(1, Math.floor(config.trainWindows * config.valFraction));
    const train = sliceWindows(set, trainStart, trainEnd - nVal - embargo);
    const val = sliceWindows(set, trainEnd - nVal, trainEnd);
    const actual = Array.from(test.target);
    const metrics: Record<string, ForecastMetrics> = {};
    const epochsRan: Record<string, number> = {};
    const record = (name: string, f: Forecast[]) => {
      metrics[name] = forecastMetrics(actual, f);
      pooled.byName.get(name)?.push(...f);
    };
    for (const kind of config.kinds) {
      const pre = fitPreprocessor(train, { runId: `walk-forward-${k}`, kind });
      const fit = await fitNetwork(train, val, pre, {
        network: {
          kind,
          lookback: config.spec.lookback,
          featureCount: set.featureNames.length,
          hiddenUnits: config.hiddenUnits,
          dropout: config.dropout,
          learningRate: config.learningRate,
          seed: config.seed + k,
        },
        epochs: config.epochs,
        batchSize: config.batchSize,
        patience: config.patience,
      });
      const predictor = new NeuralPredictor(fit.model, pre);
      record(kind, predictor.predictSet(test));
      predictor.dispose();
      epochsRan[kind] = fit.epochsRan;
    }
    const windows = Array.from({ length: test.count }, (_, i) => windowAt(test, i));
    for (const b of baselines) record(b.kind, b.predictBatch(windows).map((f) => f ?? { value: 0, pUp: 0.5 }));
    pooled.actual.push(...actual);
    const span = (s: WindowSet) => ({ fromTs: s.ts[0] ?? 0, toTs: s.ts[s.count - 1] ?? 0, windows: s.count });
    folds.push({ fold: k + 1, train: span(sliceWindows(set, trainStart, trainEnd)), test: span(test), metrics, epochsRan, ms: performance.now() - t0 });
    log?.info({ fold: k + 1, of: config.folds, ms: Math.round(performance.now() - t0) }, 'walk-forward fold done');
  }

  const overall: Record<string, ForecastMetrics> = {};
  for (const name of names) overall[name] = forecastMetrics(pooled.actual, pooled.byName.get(name) ?? []);
  const baseNames = baselines.map((b) => b.kind);
  const by = (m: 'rmse' | 'directionAccuracy', better: (a: number, b: number) => boolean) =>
    baseNames.reduce((best, n) => (better(overall[n]?.[m] ?? Number.NaN, overall[best]?.[m] ?? Number.NaN) ? n : best));
  const bestBaseline = { rmse: by('rmse', (a, b) => a < b), directionAccuracy: by('directionAccuracy', (a, b) => a > b) };
  const blockLength = Math.max(1, Math.ceil(Math.sqrt(pooled.actual.length)));
  const comparisons: Comparison[] = [];
  for (const kind of config.kinds) {
    comparisons.push(compare(pooled, kind, bestBaseline.rmse, 'rmse', config.bootstrap, blockLength, config.seed));
    comparisons.push(compare(pooled, kind, bestBaseline.directionAccuracy, 'directionAccuracy', config.bootstrap, blockLength, config.seed + 1));
  }
  const winners = comparisons.filter((c) => c.better);
  const verdict =
    winners.length === 0
      ? `No model beats the best naive baseline: every 95 % interval of the difference includes 0 or favours the baseline.`
      : winners.map((c) => `${c.model} beats ${c.baseline} on ${c.metric} (95 % interval ${c.ci[0].toExponential(2)} .. ${c.ci[1].toExponential(2)} excludes 0)`).join('; ') +
        (winners.length < comparisons.length ? '; the other comparisons are not significant.' : '.');
  return { config, folds, overall, bestBaseline, comparisons, blockLength, verdict };
}
