import { beforeAll } from 'vitest';
import { createConfidenceWeighters } from '../../../../actors/prediction/confidence-weighter.effects.ts';
import { NaiveBaseline, selectBackend, type OhlcvBar } from '../../../../models/index.ts';
import {
  DEFAULT_PRETRAIN,
  HybridEngine,
  pretrainRegimeModels,
  servingModels,
  StaticModelSource,
  type PretrainResult,
  type ServingModel,
} from '../../../../actors/prediction/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { arReturns, barsFromReturns } from '../../../support/actors/prediction/fixtures.ts';
import { counted, predictorContract } from '../../../support/actors/prediction/predictor-contract.ts';

const spec = { lookback: 12, horizon: 1, volWindow: 20, context: false };
const now = () => 1_700_000_000_000;

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
});

predictorContract('naive components (pretrained naive-ewma, online naive-zero)', async () => {
  const counter = { calls: 0 };
  const pretrained: ServingModel = counted({ role: 'pretrained', version: 'naive-ewma', regime: 'any', predictor: new NaiveBaseline('naive-ewma', 12) }, counter);
  const online: ServingModel = counted({ role: 'online', version: 'naive-zero', regime: 'any', predictor: new NaiveBaseline('naive-zero', 12) }, counter);
  const bars = marketBars(200, 5_000);
  return {
    bars,
    calls: () => counter.calls,
    modelsPerRound: 2,
    make: () => {
      const models = new StaticModelSource([pretrained]);
      for (let i = 0; i < 10; i += 1) models.setOnline('v', `S${i}`, online);
      models.setOnline('v', 'S', online);
      return new HybridEngine(models, { spec }, { now });
    },
  };
});

let pre: PretrainResult | undefined;
async function tinyPretrained(): Promise<PretrainResult> {
  pre ??= await pretrainRegimeModels([{ name: 'ar', bars: barsFromReturns(arReturns(1_500, 0.3, 0.001, 3)) }], {
    ...DEFAULT_PRETRAIN,
    spec,
    hiddenUnits: [8],
    epochs: 2,
    minRegimeWindows: 1e9,
    versionPrefix: 'contract',
  });
  return pre;
}

predictorContract('tiny MLP pretrained on synthetic AR, confidence-weighter machines, seeded market bars', async () => {
  const counter = { calls: 0 };
  const models = servingModels(await tinyPretrained()).map((m) => counted(m, counter));
  const bars: OhlcvBar[] = marketBars(200, 12_000);
  return {
    bars,
    calls: () => counter.calls,
    modelsPerRound: 1,
    make: () => new HybridEngine(new StaticModelSource(models), { spec }, { now, weightKeeper: createConfidenceWeighters() }),
  };
});
