import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../../../config/index.ts';
import { FeatureBuilder, selectBackend, type FeatureSpec, type FeatureWindow, type Forecast, type NeuralPredictor, type OhlcvBar } from '../../../../models/index.ts';
import {
  DEFAULT_FINE_TUNE,
  DEFAULT_PREDICTOR_SPEC,
  DEFAULT_PRETRAIN,
  fineTune,
  pretrainRegimeModels,
  TrainingThread,
  type PretrainedModel,
} from '../../../../actors/prediction/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

/** The product's feature spec with the multi-horizon heads switched on: the one-line change this test guards. */
const spec: FeatureSpec = { ...DEFAULT_PREDICTOR_SPEC, horizons: [1, 5, 15, 60] };
const LABELS = ['1m', '5m', '15m', '60m'] as const;
const config = { ...DEFAULT_FINE_TUNE, epochs: 2, patience: 2, freezeLayers: 1, heldOutWindows: 60 };
const thread = new TrainingThread({ log: createRootLogger('silent'), backend: 'wasm', timeoutMs: 120_000 });
let base: PretrainedModel;
let recent: OhlcvBar[];

/** The latest windows of a series as the live path builds them. */
function liveWindows(bars: readonly OhlcvBar[], n: number): FeatureWindow[] {
  const builder = new FeatureBuilder(spec);
  const out: FeatureWindow[] = [];
  for (const bar of bars) {
    const w = builder.push(bar);
    if (w) out.push(w);
  }
  return out.slice(-n);
}

function expectFiniteHorizons(forecasts: readonly (Forecast | undefined)[], who: string): void {
  expect(forecasts.length).toBeGreaterThan(0);
  for (const f of forecasts) {
    expect(Object.keys(f?.horizons ?? {}), `${who}: every horizon`).toEqual([...LABELS]);
    for (const label of LABELS) {
      const t = f?.horizons?.[label];
      expect(Number.isFinite(t?.value), `${who} ${label} value`).toBe(true);
      expect(t?.pUp ?? -1, `${who} ${label} pUp`).toBeGreaterThanOrEqual(0);
      expect(t?.pUp ?? 2, `${who} ${label} pUp`).toBeLessThanOrEqual(1);
      expect(Number.isFinite(t?.sigma) && (t?.sigma ?? 0) > 0, `${who} ${label} sigma`).toBe(true);
    }
    expect(f?.horizons?.['60m']?.sigma ?? 0, `${who}: an hour is more volatile than a minute`).toBeGreaterThan(f?.horizons?.['1m']?.sigma ?? 0);
  }
}

const headWeights = (p: NeuralPredictor) => Array.from(p.model.getLayer('hLogVar').getWeights()[0]?.dataSync() ?? []);

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  const pre = await pretrainRegimeModels([{ name: 'm0', bars: marketBars(2_500, 0) }], {
    ...DEFAULT_PRETRAIN,
    spec,
    hiddenUnits: [16, 8],
    epochs: 2,
    minRegimeWindows: 1e9,
    versionPrefix: 'hz-base',
  });
  const any = pre.models[0];
  if (!any) throw new Error('no pretrained model');
  base = any;
  recent = marketBars(900, 0, { symbol: 1, symbols: 2 });
});
afterAll(() => thread.close());

describe('multi-horizon models through pretraining and fine-tuning', () => {
  it('pretrains a multi-horizon regime model that forecasts every horizon in one predictBatch', () => {
    expect(base.predictor.model.outputNames).toEqual(['value', 'pUp', 'hValue', 'hUp', 'hLogVar']);
    expect(base.predictor.preprocessor.format).toBe('signals-preprocessor/2');
    expectFiniteHorizons(base.predictor.predictBatch(liveWindows(recent, 8)), 'pretrained');
  });

  it('fine-tunes it into a multi-horizon online model with the same heads, the base untouched', async () => {
    const before = headWeights(base.predictor);
    const result = await fineTune(base.predictor, recent, 'hz-online', config);
    try {
      expect(result.predictor.model.outputNames, 'same heads as the base').toEqual(base.predictor.model.outputNames);
      expect(result.report.frozenLayers, 'only a hidden layer is frozen, never a head').toBe(1);
      expect(result.report.trainWindows + result.report.valWindows + result.report.heldOutWindows + 60, 'embargo of the longest horizon').toBe(
        recent.length - 30 - 24 + 1 - 60,
      );
      expect(headWeights(base.predictor), 'the base model is not touched').toEqual(before);
      expectFiniteHorizons(result.predictor.predictBatch(liveWindows(recent, 8)), 'fine-tuned');
    } finally {
      result.predictor.dispose();
    }
  });

  it('fine-tunes the same way on the training thread (the production path)', async () => {
    const inThread = await thread.fineTune(base.predictor, recent, 'hz-thread', config);
    const inProcess = await fineTune(base.predictor, recent, 'hz-local', config);
    try {
      const windows = liveWindows(recent, 4);
      const a = inThread.predictor.predictBatch(windows);
      const b = inProcess.predictor.predictBatch(windows);
      expectFiniteHorizons(a, 'thread');
      a.forEach((f, i) => expect(f?.horizons?.['15m']?.sigma).toBeCloseTo(b[i]?.horizons?.['15m']?.sigma ?? Number.NaN, 9));
    } finally {
      inThread.predictor.dispose();
      inProcess.predictor.dispose();
    }
  });
});
