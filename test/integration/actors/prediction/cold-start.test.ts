import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPredictors, type PredictorsHandle } from '../../../../actors/prediction/predictor.ts';
import { barMessage, synthBars } from '../../../../market/index.ts';
import { BASELINE_ROLES, NaiveBaseline, selectBackend, type OhlcvBar } from '../../../../models/index.ts';
import {
  blendWeightsSchema,
  DEFAULT_FINE_TUNE,
  DEFAULT_PRETRAIN,
  HybridEngine,
  pretrainRegimeModels,
  servingModels,
  StaticModelSource,
  type AdaptationOutcome,
  type BlendWeights,
} from '../../../../actors/prediction/index.ts';
import { readPredictions } from '../../../../sql/predictions.repo.ts';
import { predictionSchema, publishJson, publishPipelined, retrainResultSchema, subjects, type Prediction, type RetrainResult } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { LocalGateSink } from '../../../../bench/support/local-gate-sink.ts';

const spec = { lookback: 12, horizon: 1, volWindow: 20, context: false };
const VENUE = 'binance';
const SYMBOL = 'BTCNEW'; // BTCUSDT replayed as a symbol no model has seen

describe('weights move from the prior toward the better component', () => {
  it('on seeded market bars, naive-zero (good) vs naive-last (bad, Brier ≈ 0.32) as the online model, beside the naive baseline', async () => {
    const models = new StaticModelSource([{ role: 'pretrained', version: 'zero', regime: 'any', predictor: new NaiveBaseline('naive-zero', 12) }]);
    models.setOnline('v', 'S', { role: 'online', version: 'last', regime: 'any', predictor: new NaiveBaseline('naive-last', 12) });
    const engine = new HybridEngine(models, { spec });
    const bars = marketBars(400, 20_000);
    const outs = engine.step(bars.map((b) => ({ ...b, venue: 'v', symbol: 'S' }))).outputs;
    const w = (i: number, role: string) => outs[i]?.prediction.components.find((c) => c.role === role)?.weight ?? NaN;
    // Priors: the naive baseline 1, each learned model 0.2 (they must earn their weight); floor 0.01 each.
    expect(w(0, 'naive'), 'first prediction: the prior').toBeCloseTo(0.01 + 0.97 * (1 / 1.4), 12);
    expect(w(0, 'online'), 'first prediction: the prior').toBeCloseTo(0.01 + 0.97 * (0.2 / 1.4), 12);
    const mean = (from: number, to: number, role: string) => {
      let sum = 0;
      for (let i = from; i < to; i += 1) sum += w(i, role);
      return sum / (to - from);
    };
    expect(mean(1, 30, 'online'), 'over the first 30 scored bars the bad component already loses weight').toBeLessThan(w(0, 'online'));
    expect(mean(30, 130, 'online'), 'and more once evidence accrued').toBeLessThan(mean(1, 30, 'online'));
    expect(mean(outs.length - 100, outs.length, 'online'), 'and ends at the floor').toBeLessThan(0.011);
    expect(Math.min(...outs.map((_, i) => w(i, 'online'))), 'the bad one keeps the floor').toBeGreaterThanOrEqual(0.01 - 1e-12);
    // The good learned model forecasts exactly what the naive baseline does: it keeps its prior share of the two.
    const last = outs.length - 1;
    expect(w(last, 'pretrained') / w(last, 'naive')).toBeGreaterThan(0.19);
    expect(engine.status('v', 'S').weightPhase).toBe('established');
    const p = outs[last]?.prediction;
    expect(p?.value, 'the published 1m value is the 1m horizon of the blend').toBe(p?.horizons?.['1m']?.value);
    expect(p?.sigma).toBe(p?.horizons?.['1m']?.sigma);
  });
});

describe('cold start on market bars through NATS and PostgreSQL', () => {
  let sys: TestSystem;
  let handle: PredictorsHandle | undefined;
  let models: StaticModelSource;
  const adapted: AdaptationOutcome[] = [];
  const quality = new Map<string, 'degraded' | 'quarantined'>();

  beforeAll(async () => {
    await selectBackend({ force: 'wasm' });
    sys = await startTestSystem('pred_cold');
    // Phase 1 from other synthetic data only: the symbol is never in training.
    const synth = new Map<string, OhlcvBar[]>();
    for (const b of synthBars({ symbols: 2, minutes: 2_500, seed: 4 })) synth.set(b.symbol, [...(synth.get(b.symbol) ?? []), b]);
    const pre = await pretrainRegimeModels([...synth].map(([name, bars]) => ({ name, bars })), {
      ...DEFAULT_PRETRAIN,
      spec,
      hiddenUnits: [8],
      epochs: 2,
      minRegimeWindows: 800,
      versionPrefix: 'synth',
    });
    models = new StaticModelSource(servingModels(pre));
  });

  afterAll(async () => {
    await handle?.stop();
    for (const m of models?.models() ?? []) m.predictor.dispose();
    await sys?.dispose();
  });

  it('predicts from the warm-up bar on, fine-tunes an online model that joins the blend, exactly once', async () => {
    handle = startPredictors({
      nc: sys.nc,
      db: sys.db,
      settings: sys.settings,
      log: sys.log,
      models,
      spec,
      // The in-process gate: this test is about the predictor; the lifecycle's gate has its own tests.
      sink: new LocalGateSink(models),
      engine: { firstFineTuneBars: 300, fineTuneEvery: 250, historyBars: 400 },
      fineTune: { ...DEFAULT_FINE_TUNE, epochs: 4, heldOutWindows: 60, minTrainWindows: 80 },
      quality: (venue, symbol) => quality.get(`${venue}.${symbol}`),
      onAdapted: (o) => adapted.push(o),
    });
    await handle.ready();
    const js = jetstream(sys.nc);
    const bars = marketBars(700, 1_000);
    const need = spec.volWindow + spec.lookback;
    const publish = (list: readonly OhlcvBar[], symbol = SYMBOL) =>
      publishPipelined(js, list.map((b) => barMessage(VENUE, symbol, { ...b })));
    const preds = async () => (await readStream<Prediction>(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.${SYMBOL}`)).map((m) => m.data);

    await publish(bars.slice(0, need - 1));
    await eventually(() => handle?.status(VENUE, SYMBOL).bars === need - 1, 20_000, 'warm-up bars consumed');
    expect(handle.status(VENUE, SYMBOL).message, 'status says warming up').toBe(`warming up: ${need - 1} of ${need} bars`);
    expect(await preds(), 'no prediction before the warm-up is complete').toEqual([]);

    await publish(bars.slice(need - 1, 320));
    await eventually(async () => (await preds()).length === 320 - need + 1, 20_000, 'predictions of the first 320 bars');
    const first = (await preds())[0];
    expect(first?.ts, `the first prediction is made after bar ${need}, the first with a full window`).toBe(bars[need - 1]?.ts);
    const learned = (p: Prediction | undefined) => p?.components.filter((c) => !BASELINE_ROLES.includes(c.role)) ?? [];
    expect(learned(first).map((c) => c.role), 'cold start: pretrained model only (beside the baselines)').toEqual(['pretrained']);
    expect(learned(first)[0]?.version.startsWith('synth-'), 'a model pretrained on synthetic data').toBe(true);
    expect(Object.keys(first?.horizons ?? {}), 'every horizon forecast').toEqual(['1m', '5m', '15m', '60m']);

    await eventually(() => adapted.length >= 1, 60_000, 'the cold-start fine-tune');
    await handle.fineTunesIdle(60_000);
    const coldStart = adapted[0];
    expect(coldStart?.trigger.reason).toBe('cold_start');
    expect(coldStart?.report.heldOutWindows, 'judged on a held-out window').toBe(60);
    expect(Number.isFinite(coldStart?.report.before.mae) && Number.isFinite(coldStart?.report.after.mae), 'before/after error reported').toBe(true);

    await publish(bars.slice(320));
    await eventually(async () => (await preds()).length === bars.length - need + 1, 30_000, 'every bar predicted');
    await handle.fineTunesIdle(60_000);
    const all = await preds();
    const activated = adapted.filter((a) => a.decision.activated);
    const withOnline = all.filter((p) => p.components.some((c) => c.role === 'online'));
    expect(activated.length, `a fine-tuned candidate beat its incumbent: ${adapted.map((a) => a.decision.reason).join('; ')}`).toBeGreaterThan(0);
    expect(withOnline.length, `the online model joined the blend (${activated.map((a) => a.version).join(', ')})`).toBeGreaterThan(0);
    expect(withOnline[0]?.components.find((c) => c.role === 'online')?.version).toContain('+ft.');
    const onlineWeights = withOnline.map((p) => p.components.find((c) => c.role === 'online')?.weight ?? 0);
    expect(new Set(onlineWeights.map((x) => x.toFixed(6))).size, 'the online weight moves with evidence').toBeGreaterThan(10);
    const weights = (await readStream<BlendWeights>(sys.nc, 'SIGNALS', `signal.weights.${VENUE}.${SYMBOL}`)).map((m) => m.data);
    expect(weights.length, 'a weights message with every 5th prediction').toBe(Math.ceil(all.length / 5));
    expect(weights.every((w) => blendWeightsSchema.safeParse(w).success), 'weights messages are valid').toBe(true);
    const lastW = weights.at(-1);
    expect(lastW?.scored, 'the weighter scored every bar that closed after a prediction').toBe(all.findIndex((p) => p.ts === lastW?.ts));
    expect(all.every((p) => predictionSchema.safeParse(p).success), 'predictions are valid').toBe(true);

    // Exactly once: a redelivery (same bars under new msg ids) re-emits the same predictions, deduplicated.
    const stored = await readPredictions(sys.db, VENUE, SYMBOL);
    expect(stored.length, 'every prediction stored once').toBe(all.length);
    // The last 20 bars are in the replay cache (re-emitted, deduplicated by msg id); older ones are just skipped as stale.
    await publishPipelined(
      js,
      [...bars.slice(400, 405), ...bars.slice(-20)].map((b) => ({ ...barMessage(VENUE, SYMBOL, { ...b }), msgId: `redelivery:${b.ts}` })),
    );
    await eventually(() => (handle?.actor.getSnapshot().context.stats.replayed ?? 0) >= 20, 20_000, 'replayed bars handled');
    expect(handle.actor.getSnapshot().context.stats.stale, 'bars older than the cache are skipped').toBeGreaterThanOrEqual(5);
    expect((await preds()).length, 'no duplicate prediction on the stream').toBe(all.length);
    expect((await readPredictions(sys.db, VENUE, SYMBOL)).length, 'no duplicate row').toBe(all.length);
    const msgIds = (await readStream(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.${SYMBOL}`)).map((m) => m.msgId);
    expect(msgIds[0], 'msg id <venue>:<symbol>:<ts>:1m').toBe(`${VENUE}:${SYMBOL}:${bars[need - 1]?.ts}:1m`);
  });

  it('answers model.retrain.cmd on model.retrain.result (fine-tunes the named symbol; skips an unknown one)', async () => {
    if (!handle) throw new Error('previous test did not start the predictor');
    const js = jetstream(sys.nc);
    await publishJson(js, { subject: subjects.retrainCmd, payload: { requestId: 'req-1', symbol: SYMBOL, venue: VENUE, trigger: 'manual' } });
    await publishJson(js, { subject: subjects.retrainCmd, payload: { requestId: 'req-2', symbol: 'NOPE', trigger: 'manual' } });
    const results = async () => (await readStream<RetrainResult>(sys.nc, 'MODEL_EVENTS', subjects.retrainResult)).map((m) => m.data);
    await eventually(async () => (await results()).length === 2, 60_000, 'both retrain results');
    const byId = new Map((await results()).map((r) => [r.requestId, r]));
    expect(retrainResultSchema.safeParse(byId.get('req-1')).success, 'a valid result').toBe(true);
    expect(byId.get('req-1')?.status, JSON.stringify(byId.get('req-1'))).toBe('succeeded');
    expect(byId.get('req-1')?.version).toContain(`+ft.${VENUE}.${SYMBOL}.`);
    expect(byId.get('req-1')?.metrics?.before, 'the adaptation report travels with it').toBeDefined();
    expect(byId.get('req-2')?.status, 'no such symbol').toBe('skipped');
    await handle.fineTunesIdle(60_000);
  });

  it('publishes nothing for a quarantined symbol and flags a degraded one', async () => {
    if (!handle) throw new Error('previous test did not start the predictor');
    quality.set(`${VENUE}.QUAR`, 'quarantined');
    quality.set(`${VENUE}.DEGR`, 'degraded');
    const js = jetstream(sys.nc);
    const bars = marketBars(60, 5_000);
    await publishPipelined(js, [...bars.map((b) => barMessage(VENUE, 'QUAR', { ...b })), ...bars.map((b) => barMessage(VENUE, 'DEGR', { ...b }))]);
    await eventually(() => handle?.status(VENUE, 'QUAR').bars === 60 && handle.status(VENUE, 'DEGR').bars === 60, 20_000, 'bars of both consumed');
    await eventually(async () => (await readStream(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.DEGR`)).length === 60 - 32 + 1, 20_000, 'degraded predictions');
    const degraded = (await readStream<Prediction>(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.DEGR`)).map((m) => m.data);
    expect(degraded.every((p) => p.quality === 'degraded'), 'degraded data → quality degraded').toBe(true);
    expect(await readStream(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.QUAR`), 'quarantined → nothing published').toEqual([]);
    expect(await readPredictions(sys.db, VENUE, 'QUAR'), 'and nothing stored').toEqual([]);
  });

  it('after a restart, a known symbol is warmed up from bars_1m and predicts on its next bar', async () => {
    if (!handle) throw new Error('previous test did not start the predictor');
    await handle.stop();
    handle = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: (venue, symbol) => quality.get(`${venue}.${symbol}`) });
    await handle.ready();
    const next = (marketBars(1, 1_700))[0];
    if (!next) throw new Error('no bar');
    const before = (await readPredictions(sys.db, VENUE, SYMBOL)).length;
    await publishPipelined(jetstream(sys.nc), [barMessage(VENUE, SYMBOL, { ...next })]);
    await eventually(async () => (await readPredictions(sys.db, VENUE, SYMBOL)).length === before + 1, 20_000, 'a prediction for the next bar');
    expect(handle.status(VENUE, SYMBOL).state, 'no second warm-up').toBe('ready');
  });
});
