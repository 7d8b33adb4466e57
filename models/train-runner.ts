import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../config/index.ts';
import { loadModelDir, saveModelDir, type LoadedModel } from './artifact-io.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { BackendChoice } from './backend.ts';
import { createBaselines } from './baselines.ts';
import { ModelInputError, ShapeMismatchError } from './errors.ts';
import { buildWindows, featureNames, specHorizons, windowAt, type FeatureSpec, type WindowSet } from './features.ts';
import { fitNetwork } from './fit-network.ts';
import { horizonValidationMetrics, renderHorizonSection } from './horizon-metrics.ts';
import { forecastMetrics, type ForecastMetrics } from './metrics.ts';
import { NeuralPredictor } from './neural-predictor.ts';
import { fitPreprocessor, horizonScales, specOf, type Preprocessor } from './preprocessor.ts';
import type { TrainProgress } from './progress.ts';
import { renderRunReport } from './report.ts';
import type { RunMetrics, RunPaths, SplitInfo, TrainRunConfig } from './run-metrics.ts';
import { splitWindows } from './split.ts';
import { renderChartSvg } from './svg-chart.ts';
import type { BaselineKind, Forecast, OhlcvBar } from './types.ts';

/** Run ids become directory and file names: letters, digits, `_ . -`, not starting with a dot. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type TrainRunInput = {
  bars: readonly OhlcvBar[];
  /** Market-context series (required iff `config.context`). */
  context?: readonly OhlcvBar[];
  /** Where the bars came from, for the report (file path or venue/symbol). */
  source: string;
  /** The exact command line, for the report. */
  command?: string;
  backend: BackendChoice;
  log?: Logger;
  progress?: TrainProgress;
  /** Warnings found before training (e.g. rejected input rows), carried into the report. */
  warnings?: readonly string[];
};

export type TrainRunResult = { metrics: RunMetrics; paths: RunPaths };

/** Where a run's artifacts live (the run contract: README "Command line", `signals train`). */
export function runPaths(artifactsDir: string, runId: string): RunPaths {
  const checkpointDir = join(artifactsDir, 'checkpoints', runId);
  return {
    checkpointDir,
    best: join(checkpointDir, 'best'),
    last: join(checkpointDir, 'last'),
    metrics: join(artifactsDir, 'metrics', `${runId}.json`),
    report: join(artifactsDir, 'reports', `${runId}.md`),
    chart: join(artifactsDir, 'reports', `${runId}.svg`),
  };
}

function splitInfo(set: WindowSet): SplitInfo {
  return { windows: set.count, fromTs: set.count ? (set.ts[0] ?? null) : null, toTs: set.count ? (set.ts[set.count - 1] ?? null) : null };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function checkConfig(c: TrainRunConfig): void {
  if (!RUN_ID_PATTERN.test(c.runId)) throw new ModelInputError(`run_id ${JSON.stringify(c.runId)} must match ${RUN_ID_PATTERN.source}`);
  for (const key of ['epochs', 'batchSize', 'patience'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new ModelInputError(`${key} must be an integer >= 1 (got ${c[key]})`);
  }
  if (!(c.split.train > 0 && c.split.val > 0 && c.split.train + c.split.val < 1)) {
    throw new ModelInputError(`split fractions train ${c.split.train} and val ${c.split.val} must be > 0 and leave room for a test part`);
  }
}

/** The feature spec of a run: horizons and the univariate layout only when asked for, so other runs keep today's spec. */
export function runSpec(c: TrainRunConfig): FeatureSpec {
  return {
    lookback: c.lookback,
    horizon: c.horizon,
    volWindow: c.volWindow,
    context: c.context,
    ...(c.horizons !== undefined && c.horizons.length > 0 ? { horizons: c.horizons } : {}),
    ...(c.features === 'univariate' ? { features: c.features } : {}),
  };
}

/** The parent checkpoint must have the architecture and data layout this run asks for. */
function checkParent(parent: LoadedModel, c: TrainRunConfig, spec: FeatureSpec, source: string): void {
  const p = parent.preprocessor;
  const ps = specOf(p);
  if ((ps.features ?? 'full') !== (spec.features ?? 'full')) throw new ShapeMismatchError('features (--features vs --init-from)', ps.features ?? 'full', spec.features ?? 'full', source);
  if (specHorizons(ps).join(',') !== specHorizons(spec).join(',')) throw new ShapeMismatchError('horizons (--horizons vs --init-from)', specHorizons(ps), specHorizons(spec), source);
  if (p.kind !== c.kind) throw new ShapeMismatchError('model kind (--model vs --init-from)', p.kind, c.kind, source);
  if (p.lookback !== spec.lookback) throw new ShapeMismatchError('lookback (--lookback vs --init-from)', p.lookback, spec.lookback, source);
  if (p.horizon !== spec.horizon) throw new ShapeMismatchError('horizon (--horizon vs --init-from)', p.horizon, spec.horizon, source);
  if (p.volWindow !== spec.volWindow) throw new ShapeMismatchError('rolling window (--vol-window vs --init-from)', p.volWindow, spec.volWindow, source);
  const names = featureNames(spec);
  if (p.featureNames.join(',') !== names.join(',')) throw new ShapeMismatchError('features (data vs --init-from)', p.featureNames, names, source);
}

function chartSvg(test: WindowSet, forecasts: readonly Forecast[], m: Pick<RunMetrics, 'history' | 'kind'>): string {
  // The last 300 test windows: enough to see the fit, few enough to read.
  const from = Math.max(0, test.count - 300);
  return renderChartSvg([
    {
      title: `Test window: predicted vs actual log return (last ${test.count - from} of ${test.count} windows)`,
      xLabel: 'test window (time order)',
      series: [
        { name: 'actual', color: '#999999', values: Array.from(test.target.subarray(from)) },
        { name: `${m.kind} predicted`, color: '#d62728', values: forecasts.slice(from).map((f) => f.value) },
      ],
    },
    {
      title: 'Training curves (sum of both heads’ losses)',
      xLabel: 'epoch',
      series: [
        { name: 'train loss', color: '#1f77b4', values: m.history.map((h) => h.loss) },
        { name: 'val loss', color: '#ff7f0e', values: m.history.map((h) => h.valLoss) },
      ],
    },
  ]);
}

/**
 * Runs one training run (the run contract): features, time-ordered
 * train/val/test split, normalisation fitted on train only, seeded training
 * with early stopping on val loss, checkpoints `best/` (written on every
 * improvement) and `last/`, test metrics of the saved best model and of every
 * naive baseline on the same windows, then metrics JSON, markdown report and SVG chart.
 */
export async function runTraining(config: TrainRunConfig, input: TrainRunInput): Promise<TrainRunResult> {
  const t0 = performance.now();
  checkConfig(config);
  const paths = runPaths(config.artifactsDir, config.runId);
  const log = input.log?.child({ runId: config.runId });
  if (!config.overwrite && (await exists(paths.checkpointDir))) {
    throw new ModelInputError(`run_id ${config.runId} already has artifacts in ${paths.checkpointDir}; choose a new --run-id or pass --overwrite`);
  }
  const warnings = [...(input.warnings ?? [])];
  const spec = runSpec(config);

  let parent: LoadedModel | undefined;
  if (config.initFrom !== undefined) parent = await loadModelDir(config.initFrom);
  try {
    if (parent && config.initFrom !== undefined) checkParent(parent, config, spec, config.initFrom);

    const set = buildWindows(input.bars, spec, input.context);
    const split = splitWindows(set, input.bars.length, config.split);
    const featuresMs = performance.now() - t0;
    log?.info({ bars: input.bars.length, train: split.train.count, val: split.val.count, test: split.test.count }, 'windows built');

    // Warm start keeps the parent's normalisation: its weights were learnt on those inputs.
    const fitted = fitPreprocessor(split.train, { runId: config.runId, kind: config.kind });
    const pre: Preprocessor = parent ? { ...parent.preprocessor, runId: config.runId, createdAt: fitted.createdAt } : fitted;
    if (parent) warnings.push(`warm start from ${config.initFrom ?? '?'} (run ${parent.runId}): its normalisation is reused, not refitted`);

    const network = {
      kind: config.kind,
      lookback: spec.lookback,
      featureCount: pre.featureNames.length,
      hiddenUnits: config.hiddenUnits,
      dropout: config.dropout,
      learningRate: config.learningRate,
      seed: config.seed,
    };
    const initialWeights = parent?.model.getWeights();
    const fit = await fitNetwork(
      split.train,
      split.val,
      pre,
      { network, epochs: config.epochs, batchSize: config.batchSize, patience: config.patience },
      {
        ...(input.progress ? { progress: input.progress } : {}),
        ...(initialWeights ? { initialWeights } : {}),
        onImproved: async (_epoch, model) => {
          await saveModelDir(paths.best, model, pre);
        },
        onLastEpoch: async (_epoch, model) => {
          await saveModelDir(paths.last, model, pre);
        },
      },
    );
    fit.model.dispose();

    // Test metrics come from the checkpoint as saved, so they describe the artifact.
    const tEval = performance.now();
    const saved = await loadModelDir(paths.best, { expectRunId: config.runId });
    const predictor = new NeuralPredictor(saved.model, saved.preprocessor, config.runId);
    const actual = split.test.target;
    const forecasts = predictor.predictSet(split.test);
    const scales = horizonScales(saved.preprocessor);
    const horizonValidation = scales ? horizonValidationMetrics(split.val, predictor.predictSet(split.val), input.bars, scales.varianceScale) : undefined;
    predictor.dispose();
    const test = forecastMetrics(actual, forecasts);
    const baselines = {} as Record<BaselineKind, ForecastMetrics>;
    const testWindows = Array.from({ length: split.test.count }, (_, i) => windowAt(split.test, i));
    for (const b of createBaselines(spec.lookback, spec.horizon)) {
      baselines[b.kind] = forecastMetrics(actual, b.predictBatch(testWindows).map((f) => f ?? { value: 0, pUp: 0.5 }));
    }
    const evalMs = performance.now() - tEval;
    const best = (Object.entries(baselines) as [BaselineKind, ForecastMetrics][]).reduce((a, b) => (b[1].rmse < a[1].rmse ? b : a));
    const beats = { rmse: test.rmse < best[1].rmse, directionAccuracy: test.directionAccuracy > best[1].directionAccuracy };
    if (!beats.rmse) warnings.push(`the model does not beat the best naive baseline (${best[0]}) on test RMSE`);
    if (fit.bestEpoch === fit.epochsRan && !fit.stoppedEarly && fit.epochsRan === config.epochs && config.epochs > 1) {
      warnings.push('val loss was still improving at the last epoch: more epochs may help');
    }
    if (fit.bestEpoch === 1 && fit.epochsRan > 1) warnings.push('the best val loss was after the first epoch: the model may be overfitting from the start');
    if (split.test.count < 200) warnings.push(`small test set (${split.test.count} windows): metrics are noisy`);
    if (test.rocAuc === null) warnings.push('ROC AUC undefined: the test window has only one direction class');
    if (spec.features === 'univariate') warnings.push('univariate windows have no volatility feature: the naive baselines’ pUp is the sign of their forecast');

    const totalMs = performance.now() - t0;
    const metrics: RunMetrics = {
      runId: config.runId,
      kind: config.kind,
      createdAt: new Date().toISOString(),
      command: input.command ?? null,
      source: input.source,
      backend: { name: input.backend.backend, how: input.backend.how, threads: input.backend.threads ?? null },
      config,
      lookback: spec.lookback,
      horizon: spec.horizon,
      featureNames: set.featureNames,
      data: {
        bars: input.bars.length,
        fromTs: input.bars[0]?.ts ?? null,
        toTs: input.bars[input.bars.length - 1]?.ts ?? null,
        windows: set.count,
        labelled: set.labelled,
        embargo: split.embargo,
        train: splitInfo(split.train),
        val: splitInfo(split.val),
        test: splitInfo(split.test),
      },
      epochsRequested: config.epochs,
      epochsRan: fit.epochsRan,
      bestEpoch: fit.bestEpoch,
      bestValLoss: fit.bestValLoss,
      stoppedEarly: fit.stoppedEarly,
      history: fit.history,
      test,
      baselines,
      bestBaseline: { kind: best[0], rmse: best[1].rmse },
      beatsBestBaseline: beats,
      timings: {
        featuresMs,
        trainMs: fit.trainMs,
        evalMs,
        totalMs,
        msPerEpoch: fit.trainMs / Math.max(1, fit.epochsRan),
        trainSamplesPerSecond: (split.train.count * fit.epochsRan) / (fit.trainMs / 1000),
      },
      warnings,
      parentRunId: parent?.runId ?? null,
      artifacts: paths,
      ...(horizonValidation ? { horizonValidation } : {}),
    };
    await writeFileAtomic(paths.chart, chartSvg(split.test, forecasts, metrics));
    await writeFileAtomic(paths.metrics, `${JSON.stringify(metrics, null, 2)}\n`);
    await writeFileAtomic(paths.report, renderRunReport(metrics) + (horizonValidation ? renderHorizonSection(horizonValidation) : ''));
    log?.info({ rmse: test.rmse, bestBaseline: best[0], beats: beats.rmse, ms: Math.round(totalMs) }, 'training run finished');
    return { metrics, paths };
  } finally {
    parent?.model.dispose();
  }
}
