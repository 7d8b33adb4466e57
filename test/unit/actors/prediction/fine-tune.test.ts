import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NaiveBaseline, selectBackend, type NeuralPredictor } from '../../../../models/index.ts';
import {
  DEFAULT_FINE_TUNE,
  DEFAULT_PRETRAIN,
  fineTune,
  FineTuneUnavailableError,
  pretrainRegimeModels,
  StaticModelSource,
  type FineTuneResult,
  type PretrainedModel,
} from '../../../../actors/prediction/index.ts';
import { arReturns, barsFromReturns } from '../../../support/actors/prediction/fixtures.ts';
import { LocalGateSink } from '../../../../bench/support/local-gate-sink.ts';

const spec = { lookback: 8, horizon: 1, volWindow: 10, context: false };
let base: PretrainedModel;

const weightsOf = (p: NeuralPredictor, layer: string) => Array.from(p.model.getLayer(layer).getWeights()[0]?.dataSync() ?? []);

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  const pre = await pretrainRegimeModels([{ name: 'ar', bars: barsFromReturns(arReturns(1_500, 0.5, 0.001, 21)) }], {
    ...DEFAULT_PRETRAIN,
    spec,
    hiddenUnits: [8, 8],
    epochs: 2,
    minRegimeWindows: 1e9,
    versionPrefix: 'ft-base',
  });
  const any = pre.models[0];
  if (!any) throw new Error('no pretrained model');
  base = any;
});

describe('fine-tuning (transfer learning)', () => {
  it('trains a copy with frozen lower layers, leaves the base untouched, reports before/after on a held-out window, and yields to the event loop', async () => {
    const bars = barsFromReturns(arReturns(700, -0.4, 0.001, 22));
    const baseDense0 = weightsOf(base.predictor, 'dense_0');
    const baseDense1 = weightsOf(base.predictor, 'dense_1');
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks += 1;
    }, 1);
    let result: FineTuneResult;
    try {
      result = await fineTune(base.predictor, bars, 'ft-test', { ...DEFAULT_FINE_TUNE, freezeLayers: 1, epochs: 6, patience: 6, learningRate: 2e-3, heldOutWindows: 100 });
    } finally {
      clearInterval(timer);
    }
    const { predictor, report } = result;
    expect(predictor.version).toBe('ft-test');
    expect(weightsOf(predictor, 'dense_0'), 'the frozen first layer keeps the pretrained weights').toEqual(baseDense0);
    expect(weightsOf(predictor, 'dense_1'), 'the second layer was trained').not.toEqual(baseDense1);
    expect(weightsOf(base.predictor, 'dense_1'), 'the base model is not touched').toEqual(baseDense1);
    expect(report.frozenLayers).toBe(1);
    expect(report.heldOutWindows).toBe(100);
    expect(report.trainWindows + report.valWindows + report.heldOutWindows + spec.horizon, 'every labelled window used once').toBe(700 - spec.volWindow - spec.lookback);
    expect(report.maeImprovement, `sign-flipped dynamics: the fine-tuned copy beats its parent (${report.before.mae} → ${report.after.mae})`).toBeGreaterThan(0);
    expect(ticks, 'timers ran while training').toBeGreaterThan(report.epochsRan);
    expect(maxGap, 'no long block of the event loop').toBeLessThan(250);
    const tensors = tf.memory().numTensors;
    predictor.dispose();
    expect(tf.memory().numTensors, 'disposing the candidate frees its tensors').toBeLessThan(tensors);
  });

  it('refuses too few bars (retryable) and a model without weights (not retryable)', async () => {
    await expect(fineTune(base.predictor, barsFromReturns(arReturns(100, 0.1, 0.001, 1)), 'x')).rejects.toMatchObject({ name: 'FineTuneUnavailableError', retryable: true });
    const err = await fineTune(new NaiveBaseline('naive-zero', 8), barsFromReturns(arReturns(700, 0.1, 0.001, 1)), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FineTuneUnavailableError);
    expect((err as FineTuneUnavailableError).retryable).toBe(false);
  });
});

describe('LocalGateSink', () => {
  it('activates a candidate only if it beats the incumbent on the held-out window', async () => {
    const models = new StaticModelSource([{ role: 'pretrained', version: base.version, regime: 'any', predictor: base.predictor }]);
    const sink = new LocalGateSink(models);
    const bars = barsFromReturns(arReturns(700, -0.4, 0.001, 23));
    const good = await fineTune(base.predictor, bars, 'good', { ...DEFAULT_FINE_TUNE, epochs: 6, learningRate: 2e-3 });
    const submit = (r: FineTuneResult, version: string) =>
      sink.submit({ venue: 'v', symbol: 'S', version, parentVersion: base.version, regime: 'any', reason: 'manual', predictor: r.predictor, report: r.report, heldOut: r.heldOut });
    const first = await submit(good, 'good');
    expect(first.activated, first.reason).toBe(true);
    expect(first.incumbent.version, 'before any online model, the parent is the incumbent').toBe(base.version);
    expect(models.snapshot('v', 'S').online?.version).toBe('good');
    // A copy trained for one tiny step barely moves from the parent: it cannot beat the active online model.
    const weak = await fineTune(base.predictor, bars, 'weak', { ...DEFAULT_FINE_TUNE, epochs: 1, learningRate: 1e-6 });
    const second = await submit({ ...weak, heldOut: good.heldOut }, 'weak');
    expect(second.activated, second.reason).toBe(false);
    expect(second.incumbent.version).toBe('good');
    expect(models.snapshot('v', 'S').online?.version, 'the better model stays').toBe('good');
  });
});
