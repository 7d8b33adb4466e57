import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { startPredictors, type PredictorsHandle } from '../../../../actors/prediction/predictor.ts';
import { DEFAULT_PRETRAIN, evaluateSignals, pretrainRegimeModels, servingModels, StaticModelSource } from '../../../../actors/prediction/index.ts';
import { barMessage, synthBars } from '../../../../market/index.ts';
import { outcomesFromPredictions, selectBackend, type OhlcvBar } from '../../../../models/index.ts';
import { readPredictions } from '../../../../sql/predictions.repo.ts';
import { publishPipelined, type Prediction } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

// The product's layout with the multi-horizon heads, small so the test is quick.
const spec = { lookback: 12, horizon: 1, volWindow: 20, context: false, horizons: [1, 5, 15, 60] };
const VENUE = 'binance';
const SYMBOL = 'SAMEPATH';

describe('one feature and model path for live and evaluation', () => {
  let sys: TestSystem;
  let handle: PredictorsHandle | undefined;
  let models: StaticModelSource;

  beforeAll(async () => {
    await selectBackend({ force: 'wasm' });
    sys = await startTestSystem('pred_same_path');
    const synth = new Map<string, OhlcvBar[]>();
    for (const b of synthBars({ symbols: 2, minutes: 2_000, seed: 5 })) synth.set(b.symbol, [...(synth.get(b.symbol) ?? []), b]);
    const pre = await pretrainRegimeModels([...synth].map(([name, bars]) => ({ name, bars })), {
      ...DEFAULT_PRETRAIN,
      spec,
      hiddenUnits: [8],
      epochs: 1,
      minRegimeWindows: 800,
      versionPrefix: 'same',
    });
    models = new StaticModelSource(servingModels(pre));
  });

  afterAll(async () => {
    await handle?.stop();
    for (const m of models?.models() ?? []) m.predictor.dispose();
    await sys?.dispose();
  });

  it('the predictor on NATS and PostgreSQL publishes exactly the forecasts `signals evaluate` computes for the same bars and models, and both score them alike', async () => {
    handle = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false });
    await handle.ready();
    const bars = marketBars(700, 30_000, { seed: 17 });
    await publishPipelined(jetstream(sys.nc), bars.map((b) => barMessage(VENUE, SYMBOL, { ...b })));
    const expected = evaluateSignals(bars, { venue: VENUE, symbol: SYMBOL, models, spec });
    const live = async () => (await readStream<Prediction>(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.${SYMBOL}`)).map((m) => m.data);
    await eventually(async () => (await live()).length === expected.predictions.length, 30_000, 'every bar predicted live');
    const published = await live();
    expect(published.length).toBeGreaterThan(600);
    const strip = (p: Prediction) => ({ ...p, createdAt: 0 });
    expect(published.map(strip)).toEqual(expected.predictions.map(strip));
    // Learned components forecast every horizon (their heads), beside the baselines.
    const last = published.at(-1);
    const learned = last?.components.find((c) => c.role === 'pretrained');
    expect(Object.keys(learned?.horizons ?? {}).sort()).toEqual(['15m', '1m', '5m', '60m']);
    expect(learned?.horizons?.['60m']?.sigma).toBeGreaterThan(0);
    expect(last?.components.map((c) => c.role).sort()).toEqual(['ewma', 'har', 'naive', 'pretrained']);
    // Scored from the stored rows and bars_1m as from outside: the outcomes the engine scored itself.
    await eventually(async () => (await readPredictions(sys.db, VENUE, SYMBOL)).length === published.length, 20_000, 'every prediction stored');
    const stored = await readPredictions(sys.db, VENUE, SYMBOL);
    const outside = outcomesFromPredictions(stored, bars);
    const key = (o: { ts: number; horizon: string }) => `${o.ts}/${o.horizon}`;
    const inside = new Map(expected.outcomes.map((o) => [key(o), o]));
    const comparable = outside.filter((o) => inside.has(key(o)));
    expect(comparable.length).toBeGreaterThan(2_000);
    for (const o of comparable.slice(0, 500)) {
      expect(o.realisedVariance).toBeCloseTo(inside.get(key(o))?.realisedVariance ?? Number.NaN, 14);
      expect(o.forecasts.blend?.sigma).toBeCloseTo(inside.get(key(o))?.forecasts.blend?.sigma ?? Number.NaN, 12);
    }
  });
});
