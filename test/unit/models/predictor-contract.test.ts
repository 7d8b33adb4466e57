import { describe, expect, it } from 'vitest';
import {
  buildWindows,
  createBaselines,
  fitNetwork,
  fitPreprocessor,
  NaiveBaseline,
  NeuralPredictor,
  selectBackend,
  sliceWindows,
  windowAt,
  type FeatureSpec,
  type ModelKind,
  type WindowSet,
} from '../../../models/index.ts';
import { marketBars } from '../../support/models/fixtures.ts';
import { predictorContract } from '../../support/models/predictor-contract.ts';

const spec: FeatureSpec = { lookback: 16, horizon: 1, volWindow: 20, context: false };

let cached: WindowSet | undefined;
async function windowSet(): Promise<WindowSet> {
  cached ??= buildWindows(marketBars(700, 20_000), spec);
  return cached;
}

async function testWindows() {
  const set = await windowSet();
  return Array.from({ length: 12 }, (_, i) => windowAt(set, set.count - 12 + i));
}

for (const baseline of createBaselines(spec.lookback, spec.horizon)) {
  predictorContract(baseline.kind, async () => ({ predictor: new NaiveBaseline(baseline.kind, spec.lookback, spec.horizon), windows: await testWindows() }));
}

for (const kind of ['mlp', 'lstm'] as const satisfies readonly ModelKind[]) {
  predictorContract(`${kind} (trained one epoch on seeded market bars)`, async () => {
    await selectBackend({ force: 'wasm' });
    const set = await windowSet();
    const train = sliceWindows(set, 0, 500);
    const val = sliceWindows(set, 500, 600);
    const pre = fitPreprocessor(train, { runId: `contract-${kind}`, kind });
    const fit = await fitNetwork(train, val, pre, {
      network: { kind, lookback: spec.lookback, featureCount: set.featureNames.length, hiddenUnits: [8], dropout: 0.1, learningRate: 0.01, seed: 3 },
      epochs: 1,
      batchSize: 64,
      patience: 1,
    });
    return { predictor: new NeuralPredictor(fit.model, pre, `contract-${kind}`), windows: await testWindows() };
  });
}

describe('naive baselines', () => {
  it('forecast zero, the last return and the EWMA of the window, scaled by the horizon', async () => {
    const [w] = await testWindows();
    if (!w) throw new Error('no window');
    const returns = w.rows.map((r) => r[0] ?? 0);
    const last = returns[returns.length - 1] ?? 0;
    const alpha = 2 / (spec.lookback + 1);
    const ewma = returns.slice(1).reduce((m, r) => alpha * r + (1 - alpha) * m, returns[0] ?? 0);
    const [zero, lastB, ewmaB] = createBaselines(spec.lookback, 3);
    expect(zero?.predict(w)).toEqual({ value: 0, pUp: 0.5 });
    expect(lastB?.predict(w)?.value, 'naive-last: horizon · last return').toBeCloseTo(3 * last, 12);
    expect(ewmaB?.predict(w)?.value, 'naive-ewma: horizon · EWMA').toBeCloseTo(3 * ewma, 12);
    const p = lastB?.predict(w)?.pUp ?? Number.NaN;
    expect(p > 0.5, 'pUp > 0.5 exactly when the forecast is positive').toBe(last > 0);
  });
});
