import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWindows,
  FeatureBuilder,
  fitNetwork,
  fitPreprocessor,
  NeuralPredictor,
  predictMany,
  predictSeries,
  selectBackend,
  ShapeMismatchError,
  sliceWindows,
  specOf,
  type FeatureWindow,
  type OhlcvBar,
} from '../../../models/index.ts';
import { marketBars } from '../../support/models/fixtures.ts';

let predictor: NeuralPredictor;
let bars: OhlcvBar[];

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  bars = marketBars(600, 25_000);
  const spec = { lookback: 10, horizon: 1, volWindow: 20, context: false };
  const set = buildWindows(bars, spec);
  const train = sliceWindows(set, 0, 400);
  const pre = fitPreprocessor(train, { runId: 'infer', kind: 'lstm' });
  const fit = await fitNetwork(train, sliceWindows(set, 400, 480), pre, {
    network: { kind: 'lstm', lookback: 10, featureCount: set.featureNames.length, hiddenUnits: [8], dropout: 0, learningRate: 0.01, seed: 2 },
    epochs: 1,
    batchSize: 64,
    patience: 1,
  });
  predictor = new NeuralPredictor(fit.model, pre, 'infer');
});
afterAll(() => predictor.dispose());

describe('inference', () => {
  it('predicts the same on the live path (bar by bar) as on the batch path', () => {
    const series = predictSeries(predictor, bars);
    const builder = new FeatureBuilder(specOf(predictor.preprocessor));
    const live: { ts: number; value: number; pUp: number }[] = [];
    for (const bar of bars) {
      const w = builder.push(bar);
      const f = w && predictor.predict(w);
      if (w && f) live.push({ ts: w.ts, ...f });
    }
    expect(live.length, 'a prediction after every bar once warm').toBe(series.length);
    expect(series.length).toBe(bars.length - (20 + 10) + 1);
    live.forEach((l, i) => {
      const s = series[i];
      expect(l.ts).toBe(s?.ts);
      expect(Math.abs(l.value - (s?.value ?? Number.NaN)), `value at ${i}`).toBeLessThan(1e-9);
      expect(Math.abs(l.pUp - (s?.pUp ?? Number.NaN)), `pUp at ${i}`).toBeLessThan(1e-6);
    });
  });

  it('predicts many symbols in one call, with warming-up symbols as undefined', async () => {
    const builders = new Map<string, FeatureBuilder>();
    const latest = new Map<string, FeatureWindow>();
    const series: Record<string, OhlcvBar[]> = { A: marketBars(200, 1_000), B: marketBars(200, 9_000), C: marketBars(20, 4_000) };
    for (const [sym, list] of Object.entries(series)) {
      const b = new FeatureBuilder(specOf(predictor.preprocessor));
      builders.set(sym, b);
      let last: FeatureWindow | undefined;
      for (const bar of list) last = b.push(bar) ?? last;
      latest.set(sym, last ?? { ts: 0, rows: [] });
    }
    const spy = predictor.model.predictOnBatch.bind(predictor.model);
    let calls = 0;
    predictor.model.predictOnBatch = (...args) => {
      calls += 1;
      return spy(...args);
    };
    const out = predictMany(predictor, latest);
    predictor.model.predictOnBatch = spy;
    expect(calls, 'one tensor call for all symbols').toBe(1);
    expect(out.get('C'), 'C has only 20 bars: still warming up').toBeUndefined();
    for (const sym of ['A', 'B']) {
      const single = predictor.predict(latest.get(sym) ?? { ts: 0, rows: [] });
      expect(Math.abs((out.get(sym)?.value ?? Number.NaN) - (single?.value ?? 0)), sym).toBeLessThan(1e-9);
    }
  });

  it('keeps the tensor count flat over repeated series and batch predictions', () => {
    predictSeries(predictor, bars.slice(0, 100));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i += 1) predictSeries(predictor, bars.slice(0, 100));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses data without the context series a model was trained with', async () => {
    const aapl = marketBars(500, 0, { symbol: 0, symbols: 2 });
    const spx = marketBars(500, 0, { symbol: 1, symbols: 2 });
    const spec = { lookback: 5, horizon: 1, volWindow: 10, context: true };
    const set = buildWindows(aapl, spec, spx);
    const pre = fitPreprocessor(sliceWindows(set, 0, 300), { runId: 'ctx', kind: 'mlp' });
    const fit = await fitNetwork(sliceWindows(set, 0, 300), sliceWindows(set, 300, 380), pre, {
      network: { kind: 'mlp', lookback: 5, featureCount: 7, hiddenUnits: [4], dropout: 0, learningRate: 0.01, seed: 1 },
      epochs: 1,
      batchSize: 32,
      patience: 1,
    });
    const p = new NeuralPredictor(fit.model, pre);
    expect(() => predictSeries(p, aapl), 'no context given').toThrow(ShapeMismatchError);
    expect(predictSeries(p, aapl, spx).length).toBe(set.count);
    p.dispose();
  });
});
