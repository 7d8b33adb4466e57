import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../../models/index.ts';
import {
  adaptOnline,
  DEFAULT_FINE_TUNE,
  DEFAULT_PAGE_HINKLEY,
  DEFAULT_PRETRAIN,
  DriftMonitor,
  PageHinkley,
  HybridEngine,
  pretrainRegimeModels,
  servingModels,
  StaticModelSource,
  type AdaptationOutcome,
} from '../../../../actors/prediction/index.ts';
import { arReturns, barsFromReturns, MINUTE } from '../../../support/actors/prediction/fixtures.ts';
import { LocalGateSink } from '../../../../bench/support/local-gate-sink.ts';

/**
 * Stated bounds for the default Page-Hinkley (delta 0.1, lambda 20, clip 4) on
 * AR(1) returns flipping from phi = +0.5 to -0.5 (the stale model's normalised
 * error rises from ~0.87 to ~1.32): every detection within 300 bars, median
 * within 100, and at most 2 false alarms over 10 × 3,000 stationary bars.
 */
const DETECT_WITHIN = 300;

describe('drift detection', () => {
  it('fires within the stated number of bars after an abrupt change, rarely before', () => {
    const change = 3_000;
    let falseAlarms = 0;
    const delays: number[] = [];
    for (let seed = 1; seed <= 10; seed += 1) {
      const r = arReturns(4_000, 0.5, 0.001, seed, change, -0.5);
      const monitor = new DriftMonitor(DEFAULT_PAGE_HINKLEY);
      let first: number | undefined;
      // The model that learnt phase 1 exactly: forecast = 0.5 · last return.
      for (let t = 1; t < r.length; t += 1) {
        if (!monitor.observe(0.5 * (r[t - 1] ?? 0), r[t] ?? 0)) continue;
        if (t < change) falseAlarms += 1;
        else first ??= t - change;
      }
      expect(first, `seed ${seed}: the change is detected`).toBeDefined();
      delays.push(first ?? Infinity);
    }
    delays.sort((a, b) => a - b);
    expect(Math.max(...delays), `detection delays ${delays.join(',')}`).toBeLessThanOrEqual(DETECT_WITHIN);
    expect(delays[4] ?? Infinity, 'median delay').toBeLessThanOrEqual(100);
    expect(falseAlarms, 'false alarms over 30,000 stationary bars').toBeLessThanOrEqual(2);
  });

  it('Page-Hinkley ignores a constant stream and fires on a step up', () => {
    const ph = new PageHinkley({ delta: 0.1, lambda: 5, minObservations: 10, clip: 10 });
    for (let i = 0; i < 500; i += 1) expect(ph.update(1), 'constant input never fires').toBe(false);
    let fired = -1;
    for (let i = 0; i < 50 && fired < 0; i += 1) if (ph.update(2)) fired = i;
    // Each step adds 1 - (mean shift) - delta ≈ 0.9: lambda 5 is crossed on the 6th bar.
    expect(fired, 'fires within a handful of bars of a step of +1').toBeGreaterThanOrEqual(4);
    expect(fired).toBeLessThanOrEqual(7);
  });
});

describe('drift → fine-tune → recovery (engine, tiny MLP)', () => {
  beforeAll(async () => {
    await selectBackend({ force: 'wasm' });
  });

  it('retrains the online model after an abrupt regime change and its error recovers', async () => {
    const change = 2_000;
    const total = 3_400;
    const bars = barsFromReturns(arReturns(total, 0.5, 0.001, 5, change, -0.5));
    const spec = { lookback: 8, horizon: 1, volWindow: 10, context: false };
    // Pretrained on phase-1 dynamics only (another seed), one `any` model.
    const pre = await pretrainRegimeModels([{ name: 'ar', bars: barsFromReturns(arReturns(2_500, 0.5, 0.001, 99)) }], {
      ...DEFAULT_PRETRAIN,
      spec,
      hiddenUnits: [16],
      epochs: 6,
      minRegimeWindows: 1e9,
      versionPrefix: 'ar',
    });
    const models = new StaticModelSource(servingModels(pre));
    const sink = new LocalGateSink(models);
    const engine = new HybridEngine(models, { spec, firstFineTuneBars: 500, fineTuneEvery: 0, historyBars: 500 }, { now: () => 0 });
    const outcomes: AdaptationOutcome[] = [];
    const alarms: number[] = [];
    const errors = new Map<number, { hybrid: number; pretrained: number }>();
    let prevPred: { ts: number; hybrid: number; pretrained: number } | undefined;
    for (let i = 0; i < bars.length; i += 1) {
      const bar = bars[i];
      if (!bar) continue;
      if (prevPred && prevPred.ts === bar.ts - MINUTE) {
        const actual = Math.log(bar.close / (bars[i - 1]?.close ?? bar.close));
        errors.set(i, { hybrid: Math.abs(prevPred.hybrid - actual), pretrained: Math.abs(prevPred.pretrained - actual) });
      }
      const r = engine.step([{ ...bar, venue: 'sim', symbol: 'AR' }]);
      for (const d of r.drifts) alarms.push((d.ts - (bars[0]?.ts ?? 0)) / MINUTE);
      const o = r.outputs[0];
      prevPred = o ? { ts: o.prediction.ts, hybrid: o.prediction.value, pretrained: o.components.find((c) => c.role === 'pretrained')?.forecast.value ?? 0 } : undefined;
      for (const t of r.triggers) outcomes.push(await adaptOnline(t, sink, { ...DEFAULT_FINE_TUNE, learningRate: 2e-3, epochs: 25, patience: 5 }));
    }
    const firstAlarm = alarms.find((t) => t >= change) ?? Infinity;
    expect(firstAlarm - change, `drift alarms at bars ${alarms.join(',')}; change at ${change}`).toBeLessThanOrEqual(DETECT_WITHIN);
    const retrains = outcomes.filter((o) => o.trigger.reason === 'drift' && o.trigger.ts >= (bars[change]?.ts ?? 0));
    expect(retrains.length, 'the alarm leads to a fine-tune on post-change bars').toBeGreaterThan(0);
    const retrain = retrains[0];
    expect(retrain?.report.maeImprovement ?? 0, 'the retrained model beats its stale parent on the held-out post-change window').toBeGreaterThan(0);
    expect(retrain?.decision.activated, `and is activated: ${retrain?.decision.reason ?? ''}`).toBe(true);
    const mae = (from: number, to: number, key: 'hybrid' | 'pretrained') => {
      let s = 0;
      let n = 0;
      for (let i = from; i < to; i += 1) {
        const e = errors.get(i);
        if (e) {
          s += e[key];
          n += 1;
        }
      }
      return s / n;
    };
    const justAfter = mae(change, change + 150, 'hybrid');
    const late = mae(total - 600, total, 'hybrid');
    const stale = mae(total - 600, total, 'pretrained');
    expect(late, `hybrid MAE recovers: ${late.toExponential(3)} late vs ${justAfter.toExponential(3)} right after the change`).toBeLessThan(justAfter);
    expect(late, `and beats the stale pretrained model on the same bars (${stale.toExponential(3)})`).toBeLessThan(stale);
    for (const m of models.models()) m.predictor.dispose();
  });
});
