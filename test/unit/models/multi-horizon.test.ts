import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../market/index.ts';
import {
  buildWindows,
  decodeModel,
  encodeModel,
  fitNetwork,
  fitPreprocessor,
  horizonScales,
  meanQlike,
  NeuralPredictor,
  selectBackend,
  splitWindows,
  windowAt,
  type FeatureSpec,
  type HorizonLabel,
  type WindowSet,
} from '../../../models/index.ts';
import { barsFromReturns } from '../../support/actors/prediction/fixtures.ts';
import { predictorContract } from '../../support/models/predictor-contract.ts';

/**
 * Returns with volatility clustering: a calm and a turbulent regime (5× the
 * volatility) that persist for about 100 bars each, so recent returns tell the
 * variance of the next minutes and a constant variance is a poor forecast.
 */
function clusteredReturns(n: number, seed: number): number[] {
  const rng = mulberry32(seed);
  let turbulent = false;
  return Array.from({ length: n }, () => {
    if (rng.next() < 0.01) turbulent = !turbulent;
    return (turbulent ? 0.003 : 0.0006) * rng.gaussian();
  });
}

const HORIZONS = [1, 5, 15];
const spec: FeatureSpec = { lookback: 16, horizon: 1, volWindow: 20, context: false, horizons: HORIZONS };
const bars = barsFromReturns(clusteredReturns(2_000, 11));
let set: WindowSet;
let predictor: NeuralPredictor;
let test: WindowSet;

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  set = buildWindows(bars, spec);
  const split = splitWindows(set, bars.length);
  test = split.test;
  const pre = fitPreprocessor(split.train, { runId: 'hz', kind: 'mlp' });
  const fit = await fitNetwork(split.train, split.val, pre, {
    network: { kind: 'mlp', lookback: spec.lookback, featureCount: set.featureNames.length, hiddenUnits: [16], dropout: 0, learningRate: 5e-3, seed: 3 },
    epochs: 8,
    batchSize: 64,
    patience: 8,
  });
  predictor = new NeuralPredictor(fit.model, pre, 'hz');
});

describe('multi-horizon heads', () => {
  it('builds the three extra heads with one unit per horizon', () => {
    expect(predictor.model.outputNames).toEqual(['value', 'pUp', 'hValue', 'hUp', 'hLogVar']);
    expect(predictor.model.outputs.map((o) => o.shape)).toEqual([
      [null, 1],
      [null, 1],
      [null, 3],
      [null, 3],
      [null, 3],
    ]);
  });

  it('forecasts volatility better than a constant variance (QLIKE on the test split, volatility clustering)', () => {
    const forecasts = predictor.predictSet(test);
    const scales = horizonScales(predictor.preprocessor);
    if (!scales) throw new Error('no horizon scales');
    HORIZONS.forEach((h, j) => {
      const label: HorizonLabel = `${h}m`;
      const n = test.labelled;
      const rv = Array.from({ length: n }, (_, i) => test.horizonVariance?.[i * HORIZONS.length + j] ?? Number.NaN);
      const model = forecasts.slice(0, n).map((f) => (f.horizons?.[label]?.sigma ?? Number.NaN) ** 2);
      const constant = rv.map(() => scales.varianceScale[j] ?? Number.NaN);
      const q = meanQlike(rv, model);
      const c = meanQlike(rv, constant);
      expect(q, `${label}: QLIKE of the sigma head (${q.toFixed(4)}) must beat the train-mean variance (${c.toFixed(4)})`).toBeLessThan(c - 0.05);
    });
  });

  it('returns every horizon’s value, pUp and sigma from the same batch call, equal to predictSet', () => {
    const windows = Array.from({ length: 10 }, (_, i) => windowAt(test, i));
    const spy = { calls: 0 };
    const original = predictor.model.predictOnBatch.bind(predictor.model);
    predictor.model.predictOnBatch = (x) => {
      spy.calls += 1;
      return original(x);
    };
    let batch;
    try {
      batch = predictor.predictBatch(windows);
    } finally {
      predictor.model.predictOnBatch = original;
    }
    expect(spy.calls, 'one tensor call for the whole batch, every head included').toBe(1);
    const set10 = predictor.predictSet(test).slice(0, 10);
    batch.forEach((f, i) => {
      expect(Object.keys(f?.horizons ?? {})).toEqual(['1m', '5m', '15m']);
      for (const [label, t] of Object.entries(f?.horizons ?? {})) {
        expect(Number.isFinite(t?.value) && (t?.sigma ?? 0) > 0 && (t?.pUp ?? -1) >= 0 && (t?.pUp ?? 2) <= 1, `${label} is a finite forecast`).toBe(true);
        const other = set10[i]?.horizons?.[label as HorizonLabel];
        expect(Math.abs((t?.sigma ?? 0) - (other?.sigma ?? 0)), 'batch and set agree').toBeLessThan(1e-9);
      }
    });
    const s1 = batch[0]?.horizons?.['1m']?.sigma ?? 0;
    const s15 = batch[0]?.horizons?.['15m']?.sigma ?? 0;
    expect(s15, 'the 15-minute volatility exceeds the 1-minute one').toBeGreaterThan(s1);
  });

  it('round-trips through the artifact files with the same forecasts', async () => {
    const files = await encodeModel(predictor.model, predictor.preprocessor);
    const loaded = await decodeModel(files, { source: 'memory' });
    const copy = new NeuralPredictor(loaded.model, loaded.preprocessor);
    const w = windowAt(test, 3);
    expect(copy.predict(w)).toEqual(predictor.predict(w));
    copy.dispose();
  });

  it('leaves the forecasts of a model without horizons without a horizons field', async () => {
    const plain: FeatureSpec = { lookback: 16, horizon: 1, volWindow: 20, context: false };
    const s = splitWindows(buildWindows(bars, plain), bars.length);
    const pre = fitPreprocessor(s.train, { runId: 'plain', kind: 'mlp' });
    const fit = await fitNetwork(s.train, s.val, pre, {
      network: { kind: 'mlp', lookback: 16, featureCount: 6, hiddenUnits: [4], dropout: 0, learningRate: 1e-3, seed: 1 },
      epochs: 1,
      batchSize: 256,
      patience: 1,
    });
    const p = new NeuralPredictor(fit.model, pre);
    const f = p.predict(windowAt(s.test, 0));
    expect(f && Object.keys(f), 'exactly the fields of a one-horizon forecast').toEqual(['value', 'pUp']);
    p.dispose();
  });
});

predictorContract('mlp with horizon heads', async () => {
  await selectBackend({ force: 'wasm' });
  return { predictor: await trainedCopy(), windows: Array.from({ length: 12 }, (_, i) => windowAt(test, i)) };
});

/** An independent copy of the trained predictor (the contract disposes what it is given). */
async function trainedCopy(): Promise<NeuralPredictor> {
  const loaded = await decodeModel(await encodeModel(predictor.model, predictor.preprocessor), { source: 'contract' });
  return new NeuralPredictor(loaded.model, loaded.preprocessor, 'hz-contract');
}
