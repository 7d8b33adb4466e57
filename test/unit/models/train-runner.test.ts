import { access, readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWindows,
  ModelInputError,
  NotEnoughDataError,
  runTraining,
  selectBackend,
  ShapeMismatchError,
  splitWindows,
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
  dir = await tempDir('train');
  bars = marketBars(1500, 12_000);
});
afterAll(async () => {
  await dir.dispose();
});

describe('runTraining (run contract)', () => {
  let first: RunMetrics;

  it('writes best/ and last/ checkpoints, metrics JSON, a report and an SVG chart', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const lines: string[] = [];
    const result = await runTraining(tinyConfig(dir.path, { runId: 'run-a' }), {
      bars,
      source: 'seeded market slice',
      command: 'signals train --run-id run-a',
      backend,
      progress: {
        epochStart: () => undefined,
        batch: () => undefined,
        epochEnd: (s) => lines.push(`epoch ${s.epoch}`),
        done: () => undefined,
      },
    });
    first = result.metrics;
    expect(tf.memory().numTensors, 'training must dispose every tensor it made').toBe(tensorsBefore);
    for (const f of ['model.json', 'weights.bin', 'preprocessor.json']) {
      await access(`${result.paths.best}/${f}`);
      await access(`${result.paths.last}/${f}`);
    }
    expect(result.paths.best).toBe(`${dir.path}/checkpoints/run-a/best`);
    expect(result.paths.metrics).toBe(`${dir.path}/metrics/run-a.json`);
    expect(result.paths.report).toBe(`${dir.path}/reports/run-a.md`);
    const json = JSON.parse(await readFile(result.paths.metrics, 'utf8')) as RunMetrics;
    expect(json.runId).toBe('run-a');
    expect(json.backend.name).toBe('wasm');
    expect(json.lookback).toBe(12);
    expect(json.horizon).toBe(1);
    expect(json.epochsRequested).toBe(3);
    expect(json.epochsRan).toBe(lines.length);
    expect(json.bestEpoch).toBeGreaterThanOrEqual(1);
    expect(json.bestEpoch).toBeLessThanOrEqual(json.epochsRan);
    expect(json.bestValLoss, 'best val loss is the minimum of the history').toBe(Math.min(...json.history.map((h) => h.valLoss)));
    for (const key of ['mae', 'rmse', 'mape', 'r2', 'directionAccuracy', 'rocAuc', 'f1', 'brier'] as const) {
      expect(Number.isFinite(json.test[key]), `test ${key} is a number`).toBe(true);
    }
    expect(Object.keys(json.baselines).sort()).toEqual(['naive-ewma', 'naive-last', 'naive-zero']);
    expect(json.baselines['naive-zero'].n, 'baselines use the same test windows').toBe(json.test.n);
    expect(json.data.train.windows + json.data.val.windows + json.data.test.windows).toBe(json.data.labelled);
    expect(json.data.train.toTs ?? 0, 'time-ordered: train before val').toBeLessThan(json.data.val.fromTs ?? 0);
    expect(json.data.val.toTs ?? 0, 'time-ordered: val before test').toBeLessThan(json.data.test.fromTs ?? 0);
    expect(json.timings.trainMs).toBeGreaterThan(0);

    const report = await readFile(result.paths.report, 'utf8');
    expect(report).toContain('signals train --run-id run-a');
    expect(report).toMatch(/\| naive-zero \| \d+ \|/);
    expect(report).toMatch(/\| naive-last \|/);
    expect(report).toMatch(/\| naive-ewma \|/);
    expect(report).toContain('](run-a.svg)');
    expect(report).toContain(result.paths.best);
    const svg = await readFile(result.paths.chart, 'utf8');
    expect(svg.startsWith('<svg'), 'a standalone SVG').toBe(true);
    expect(svg.match(/<polyline/g)?.length, 'actual, predicted, train loss, val loss').toBe(4);
  });

  it('fits the normalisation on the training split only', async () => {
    const pre = JSON.parse(await readFile(`${dir.path}/checkpoints/run-a/best/preprocessor.json`, 'utf8')) as {
      featureMean: number[];
      featureStd: number[];
      targetMean: number;
      fittedOn: { windows: number; toTs: number };
    };
    const set = buildWindows(bars, { lookback: 12, horizon: 1, volWindow: 20, context: false });
    const split = splitWindows(set, bars.length);
    expect(pre.fittedOn.windows).toBe(split.train.count);
    expect(pre.fittedOn.toTs).toBe(first.data.train.toTs);
    // Independent: mean of logReturn over the distinct bars that the train windows cover.
    const firstBar = (split.train.end[0] ?? 0) - 11;
    const lastBar = split.train.end[split.train.count - 1] ?? 0;
    const returns = bars.slice(firstBar, lastBar + 1).map((b, k) => Math.log(b.close / (bars[firstBar + k - 1]?.close ?? Number.NaN)));
    const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
    expect(pre.featureMean[0], 'logReturn mean over train bars only').toBeCloseTo(mean, 7);
    const targets = Array.from(split.train.target);
    expect(pre.targetMean).toBeCloseTo(targets.reduce((a, b) => a + b, 0) / targets.length, 10);
  });

  it('is reproducible: the same seed gives the same metrics, another seed does not', async () => {
    const again = await runTraining(tinyConfig(dir.path, { runId: 'run-a2' }), { bars, source: 'seeded market slice', backend });
    const rel = Math.abs(again.metrics.test.rmse - first.test.rmse) / first.test.rmse;
    expect(rel, 'same seed -> RMSE within 1 %').toBeLessThan(0.01);
    expect(again.metrics.history.map((h) => h.valLoss), 'same seed -> same val-loss curve').toEqual(first.history.map((h) => h.valLoss));
    const other = await runTraining(tinyConfig(dir.path, { runId: 'run-b', seed: 8 }), { bars, source: 'seeded market slice', backend });
    expect(other.metrics.history[0]?.loss, 'another seed -> another training path').not.toBe(first.history[0]?.loss);
  });

  it('is reproducible for the LSTM with dropout too', async () => {
    const cfg = (runId: string) => tinyConfig(dir.path, { runId, kind: 'lstm', hiddenUnits: [8], dropout: 0.3, epochs: 2 });
    const a = await runTraining(cfg('lstm-1'), { bars: bars.slice(0, 900), source: 'slice', backend });
    const b = await runTraining(cfg('lstm-2'), { bars: bars.slice(0, 900), source: 'slice', backend });
    expect(Math.abs(a.metrics.test.rmse - b.metrics.test.rmse) / a.metrics.test.rmse).toBeLessThan(0.01);
    expect(b.metrics.history.map((h) => h.loss)).toEqual(a.metrics.history.map((h) => h.loss));
  });

  it('stops early when val loss stops improving', async () => {
    const r = await runTraining(tinyConfig(dir.path, { runId: 'early', epochs: 40, patience: 1, learningRate: 0.05 }), { bars, source: 'slice', backend });
    const m = r.metrics;
    expect(m.stoppedEarly, `ran ${m.epochsRan} of 40 epochs`).toBe(true);
    expect(m.epochsRan, 'stops patience epochs after the best one').toBe(m.bestEpoch + 1);
  });

  it('fails fast: too little data, a reused run id, a warm start with another lookback', async () => {
    const few = await runTraining(tinyConfig(dir.path, { runId: 'few' }), { bars: bars.slice(0, 60), source: 'slice', backend }).catch((e: unknown) => e);
    expect(few).toBeInstanceOf(NotEnoughDataError);
    expect((few as NotEnoughDataError).message).toMatch(/^too few bars for lookback 12, horizon 1 and a 70\/15\/15 split \(need \d+, got 60\)$/);
    const need = (few as NotEnoughDataError).needed;
    // The stated minimum is enough, one bar less is not.
    await expect(runTraining(tinyConfig(dir.path, { runId: 'min-1', epochs: 1 }), { bars: bars.slice(0, need - 1), source: 's', backend })).rejects.toThrow(NotEnoughDataError);
    await runTraining(tinyConfig(dir.path, { runId: 'min', epochs: 1 }), { bars: bars.slice(0, need), source: 's', backend });

    await expect(runTraining(tinyConfig(dir.path, { runId: 'run-a' }), { bars, source: 'slice', backend }), 'run-a exists').rejects.toThrow(ModelInputError);
    await expect(runTraining(tinyConfig(dir.path, { runId: '../x' }), { bars, source: 'slice', backend })).rejects.toThrow(/run_id "..\/x" must match/);

    const warm = await runTraining(tinyConfig(dir.path, { runId: 'warm', lookback: 16, initFrom: `${dir.path}/checkpoints/run-a/best` }), {
      bars,
      source: 'slice',
      backend,
    }).catch((e: unknown) => e);
    expect(warm).toBeInstanceOf(ShapeMismatchError);
    expect((warm as Error).message).toBe(`lookback (--lookback vs --init-from) mismatch in ${dir.path}/checkpoints/run-a/best: expected 12, got 16`);
  });

  it('warm-starts from a checkpoint with the same architecture', async () => {
    const r = await runTraining(tinyConfig(dir.path, { runId: 'warm-ok', epochs: 1, initFrom: `${dir.path}/checkpoints/run-a/best` }), { bars, source: 'slice', backend });
    expect(r.metrics.parentRunId).toBe('run-a');
    expect(r.metrics.warnings.some((w) => w.includes('normalisation is reused'))).toBe(true);
    await expect(
      runTraining(tinyConfig(dir.path, { runId: 'warm-bad', epochs: 1, hiddenUnits: [4], initFrom: `${dir.path}/checkpoints/run-a/best` }), { bars, source: 'slice', backend }),
      'other hidden units',
    ).rejects.toThrow(ShapeMismatchError);
  });
});
