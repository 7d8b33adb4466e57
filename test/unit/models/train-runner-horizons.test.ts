import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWindows,
  FeatureBuilder,
  loadModelDir,
  loadPredictor,
  predictSeries,
  runTraining,
  selectBackend,
  ShapeMismatchError,
  specOf,
  splitWindows,
  targetTensors,
  disposeTargets,
  type BackendChoice,
  type OhlcvBar,
  type RunMetrics,
} from '../../../models/index.ts';
import { marketBars, tempDir, tinyConfig } from '../../support/models/fixtures.ts';

let backend: BackendChoice;
let dir: { path: string; dispose: () => Promise<void> };
let bars: OhlcvBar[];

beforeAll(async () => {
  backend = await selectBackend({ force: 'wasm' });
  dir = await tempDir('train-hz');
  bars = marketBars(1500, 12_000);
});
afterAll(async () => {
  await dir.dispose();
});

describe('runTraining with horizon heads', () => {
  let bestDir = '';

  it('keeps the run contract and adds per-horizon validation metrics against naive variance forecasts', async () => {
    const tensors = tf.memory().numTensors;
    const result = await runTraining(tinyConfig(dir.path, { runId: 'hz', horizons: [1, 5, 15] }), { bars, source: 'seeded market slice', backend });
    expect(tf.memory().numTensors, 'training must dispose every tensor it made').toBe(tensors);
    bestDir = result.paths.best;
    const json = JSON.parse(await readFile(result.paths.metrics, 'utf8')) as RunMetrics;
    expect(json.config.horizons).toEqual([1, 5, 15]);
    expect(json.data.embargo, 'the longest horizon sets the embargo').toBe(14);
    expect(Object.keys(json.horizonValidation ?? {})).toEqual(['1m', '5m', '15m']);
    for (const [label, m] of Object.entries(json.horizonValidation ?? {})) {
      expect(m?.n, `${label} is scored on the validation split`).toBe(json.data.val.windows);
      for (const key of ['mae', 'qlike', 'qlikeEwma', 'qlikeHistorical'] as const) expect(Number.isFinite(m?.[key]), `${label} ${key}`).toBe(true);
      expect(m?.rocAuc ?? -1).toBeGreaterThanOrEqual(0);
    }
    expect(Number.isFinite(json.test.rmse), 'the 1-step test metrics are still there').toBe(true);
    const report = await readFile(result.paths.report, 'utf8');
    expect(report).toContain('## Horizon heads (validation split)');
    expect(report).toMatch(/\| 15m \| \d+ \|/);
    const pre = JSON.parse(await readFile(`${result.paths.best}/preprocessor.json`, 'utf8')) as { format: string; horizons: number[] };
    expect(pre.format).toBe('signals-preprocessor/2');
    expect(pre.horizons).toEqual([1, 5, 15]);
  });

  it('serves the saved model through inference with every horizon', async () => {
    const predictor = await loadPredictor({ dir: bestDir });
    const series = predictSeries(predictor, bars.slice(-200));
    expect(series.length).toBeGreaterThan(0);
    const last = series[series.length - 1];
    expect(Object.keys(last?.horizons ?? {})).toEqual(['1m', '5m', '15m']);
    expect(Number.isFinite(last?.horizons?.['5m']?.sigma)).toBe(true);
    predictor.dispose();
  });

  it('refuses a warm start from a model with other horizons', async () => {
    await expect(runTraining(tinyConfig(dir.path, { runId: 'hz-warm', horizons: [1, 5], initFrom: bestDir }), { bars, source: 's', backend })).rejects.toThrow(ShapeMismatchError);
    await expect(runTraining(tinyConfig(dir.path, { runId: 'hz-warm', initFrom: bestDir }), { bars, source: 's', backend })).rejects.toThrow(/horizons/);
  });
});

describe('the univariate layout (one series, logReturn only, a multi-step target)', () => {
  it('trains on X [N, lookback, 1] and y [N, horizon] and forecasts the horizon return as the sum of its steps', async () => {
    const config = tinyConfig(dir.path, { runId: 'uni', features: 'univariate', horizon: 5 });
    const result = await runTraining(config, { bars, source: 'seeded market slice', backend });
    expect(result.metrics.featureNames).toEqual(['logReturn']);
    expect(result.metrics.warnings.join('\n')).toMatch(/univariate/);

    const loaded = await loadModelDir(result.paths.best);
    expect(loaded.model.inputs[0]?.shape, 'X is [N, lookback, 1]').toEqual([null, 12, 1]);
    expect(loaded.model.outputs.map((o) => o.shape), 'value head [N, horizon], pUp [N, 1]').toEqual([
      [null, 5],
      [null, 1],
    ]);
    const spec = specOf(loaded.preprocessor);
    expect(spec).toEqual({ lookback: 12, horizon: 5, volWindow: 20, context: false, features: 'univariate' });

    const set = buildWindows(bars, spec);
    const split = splitWindows(set, bars.length);
    const t = targetTensors(split.train, loaded.preprocessor);
    expect(t.x.shape).toEqual([split.train.count, 12, 1]);
    expect(t.ys.map((y) => y.shape)).toEqual([
      [split.train.count, 5],
      [split.train.count, 1],
    ]);
    disposeTargets(t);

    // The forecast is the sum of the five de-standardised step forecasts.
    const x = tf.tensor3d(set.x.slice(0, 12), [1, 12, 1]);
    const mean = loaded.preprocessor.featureMean[0] ?? 0;
    const std = loaded.preprocessor.featureStd[0] ?? 1;
    const normalised = tf.tidy(() => tf.div(tf.sub(x, mean), std));
    const steps = tf.tidy(() => {
      const out = loaded.model.predict(normalised);
      return Array.from((Array.isArray(out) ? out[0] : out)?.dataSync() ?? []);
    });
    tf.dispose([x, normalised]);
    const { targetMean, targetStd } = loaded.preprocessor;
    const expected = steps.reduce((s, z) => s + z * targetStd + targetMean, 0);
    const predictor = await loadPredictor({ dir: result.paths.best });
    const series = predictSeries(predictor, bars);
    expect(series[0]?.value).toBeCloseTo(expected, 6);
    expect(series[0]?.horizons, 'no horizon heads asked for').toBeUndefined();

    // The live path (one bar at a time) gives the batch path's forecast.
    const builder = new FeatureBuilder(spec);
    let live;
    for (const bar of bars.slice(0, 400)) {
      const w = builder.push(bar);
      if (w) live = predictor.predict(w);
    }
    const batchAt = series.find((f) => f.ts === bars[399]?.ts);
    expect(live?.value).toBeCloseTo(batchAt?.value ?? Number.NaN, 9);
    predictor.dispose();
    loaded.model.dispose();
  });
});
