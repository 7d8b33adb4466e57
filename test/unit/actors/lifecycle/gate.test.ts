import { describe, expect, it } from 'vitest';
import { decideGate, dropPct, type GateMetrics } from '../../../../actors/lifecycle/gate.ts';
import { compareVersions, FIRST_VERSION, majorFor, nextVersion, parseVersion } from '../../../../actors/lifecycle/versions.ts';
import { feedbackDue } from '../../../../actors/lifecycle/scheduler.ts';
import { retrainConfigSchema } from '../../../../actors/lifecycle/retrain.ts';

const m = (rocAuc: number | null, f1: number | null, rmse = 0.001, directionAccuracy = 0.55): GateMetrics => ({ n: 500, rocAuc, f1, rmse, directionAccuracy });
// Baselines: naive-zero has the best RMSE (0.0011), naive-ewma the best AUC (0.52).
const baselines = { 'naive-zero': m(0.5, null, 0.0011), 'naive-last': m(0.51, 0.48, 0.0015), 'naive-ewma': m(0.52, 0.5, 0.0012) };
const failed = (d: ReturnType<typeof decideGate>) => d.rules.filter((r) => !r.passed).map((r) => r.rule);

describe('champion/challenger gate', () => {
  it('deploys the first model of a scope when it passes the floor and is not worse than the naive baselines', () => {
    const d = decideGate({ scope: 'binance.BTCUSDT', challenger: m(0.61, 0.5), champion: undefined, baselines });
    expect(d.decision, d.reasons.join('; ')).toBe('deploy');
    expect(d.firstModel).toBe(true);
    expect(d.rules.map((r) => r.rule), 'the first model: the floor and the baselines').toEqual(['floor', 'baselineRmse', 'baselineAuc']);
  });

  it('rejects a first model worse than the best naive baseline, even above the floor', () => {
    const d = decideGate({ scope: 'binance.BTCUSDT', challenger: m(0.61, 0.5, 0.0012), champion: undefined, baselines });
    expect(d.decision).toBe('reject');
    expect(failed(d), 'RMSE 0.0012 > naive-zero 0.0011').toEqual(['baselineRmse']);
  });

  it('judges on per-window losses with a bootstrap interval when it has them: significantly worse than naive is rejected', () => {
    const n = 400;
    const naive = Float64Array.from({ length: n }, (_, i) => 1.6 + 0.3 * Math.sin(i));
    const worse = naive.map((v, i) => v + 0.05 + 0.02 * Math.cos(i * 7));
    const noisy = naive.map((v, i) => v + 0.3 * Math.sin(i * 13));
    const losses = (challenger: Float64Array) => ({ challenger, baselines: { 'naive-zero': naive, 'naive-last': naive.map((v) => v + 0.2) } });
    const bad = decideGate({ scope: 's', challenger: m(0.61, 0.5), champion: undefined, baselines, losses: losses(worse) });
    expect(failed(bad)).toEqual(['baselineLoss']);
    expect(bad.intervals.vsBaseline).toMatchObject({ kind: 'naive-zero', n });
    expect(bad.intervals.vsBaseline?.lower, 'the whole interval is above 0').toBeGreaterThan(0);
    const ok = decideGate({ scope: 's', challenger: m(0.61, 0.5), champion: undefined, baselines, losses: losses(noisy) });
    expect(ok.decision, 'noise around the baseline is not "worse"').toBe('deploy');
    expect(ok.rules.map((r) => r.rule), 'the interval rule replaces the point rules').toEqual(['floor', 'baselineLoss']);
  });

  it('lets an online model join when it is non-inferior to the model it serves beside, within the margin', () => {
    const n = 300;
    const incumbent = Float64Array.from({ length: n }, (_, i) => 1.7 + 0.4 * Math.sin(i * 3));
    const base = { 'naive-zero': incumbent.map((v) => v + 0.01) };
    const same = incumbent.map((v, i) => v + 0.002 * Math.sin(i));
    const worse = incumbent.map((v) => v + 0.05);
    const join = decideGate({ scope: 's', mode: 'online', challenger: m(0.5, 0.5), champion: m(0.5, 0.5), baselines, losses: { challenger: same, champion: incumbent, baselines: base } });
    expect(join.decision, 'no AUC floor for an online model: non-inferiority decides').toBe('deploy');
    expect(join.rules.map((r) => r.rule)).toEqual(['nonInferior']);
    const out = decideGate({ scope: 's', mode: 'online', challenger: m(0.5, 0.5), champion: m(0.5, 0.5), baselines, losses: { challenger: worse, champion: incumbent, baselines: base } });
    expect(failed(out)).toEqual(['nonInferior']);
    expect(out.intervals.vsChampion?.upper).toBeGreaterThan(0.02);
    const wider = decideGate({ scope: 's', mode: 'online', challenger: m(0.5, 0.5), champion: m(0.5, 0.5), baselines, losses: { challenger: worse, champion: incumbent, baselines: base }, config: { onlineMargin: 0.06 } });
    expect(wider.decision, 'a 0.05 excess is within a 0.06 margin').toBe('deploy');
  });

  it('passes boundaries exactly: AUC 0.60, an AUC drop of 2 %, an F1 drop of 5 %', () => {
    expect(decideGate({ scope: 's', challenger: m(0.6, 0.5), champion: undefined, baselines }).decision).toBe('deploy');
    expect(decideGate({ scope: 's', challenger: m(0.6 - 1e-6, 0.5), champion: undefined, baselines }).decision).toBe('reject');
    const champion = m(0.7, 0.6);
    expect(decideGate({ scope: 's', challenger: m(0.7 * 0.98, 0.6), champion, baselines }).decision, 'AUC drop of exactly 2 %').toBe('deploy');
    expect(failed(decideGate({ scope: 's', challenger: m(0.7 * 0.98 - 1e-4, 0.6), champion, baselines })), 'just over 2 %').toEqual(['aucDrop']);
    expect(decideGate({ scope: 's', challenger: m(0.7, 0.6 * 0.95), champion, baselines }).decision, 'F1 drop of exactly 5 %').toBe('deploy');
    expect(failed(decideGate({ scope: 's', challenger: m(0.7, 0.6 * 0.95 - 1e-4), champion, baselines })), 'just over 5 %').toEqual(['f1Drop']);
  });

  it('takes no thresholds from a retrain command: a command that tries to lower a floor is invalid', () => {
    const r = retrainConfigSchema.safeParse({ gate: { aucFloor: 0 } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/gate/);
    expect(retrainConfigSchema.safeParse({ verification: { minDirectionAccuracy: 0 } }).success).toBe(false);
    expect(retrainConfigSchema.safeParse({ epochs: 3, maxBars: 500 }).success, 'model size and data range are still the command\'s').toBe(true);
  });

  it('rejects the first model below the default 0.60 floor, with the numbers', () => {
    const d = decideGate({ scope: 'binance.BTCUSDT', challenger: m(0.59, 0.5), champion: undefined, baselines });
    expect(d.decision).toBe('reject');
    expect(failed(d)).toEqual(['floor']);
    expect(d.rules[0]?.numbers).toEqual({ rocAuc: 0.59, floor: 0.6 });
    expect(d.reasons[0]).toMatch(/floor: ROC AUC 0\.5900 vs floor 0\.60/);
  });

  it('applies a per-scope floor over the global one', () => {
    const config = { aucFloorByScope: { 'binance.BTCUSDT': 0.52 } };
    expect(decideGate({ scope: 'binance.BTCUSDT', challenger: m(0.53, 0.5), champion: undefined, baselines, config }).decision).toBe('deploy');
    expect(decideGate({ scope: 'binance.ETHUSDT', challenger: m(0.53, 0.5), champion: undefined, baselines, config }).decision, 'other scopes keep 0.60').toBe('reject');
    expect(decideGate({ scope: 'binance.BTCUSDT', challenger: m(0.53, 0.5), champion: undefined, baselines, config }).config.aucFloorApplied).toBe(0.52);
  });

  it('rejects an undefined challenger AUC (one class in the test window)', () => {
    const d = decideGate({ scope: 's', challenger: m(null, 0.5), champion: undefined, baselines });
    expect(d.decision).toBe('reject');
    expect(d.reasons[0]).toMatch(/undefined/);
    expect(failed(d)).toEqual(['floor', 'baselineAuc']);
  });

  it('rejects an AUC drop of more than 2 % against the champion, accepts one within', () => {
    const champion = m(0.7, 0.5);
    // 0.7 -> 0.685 = 2.14 % drop; 0.7 -> 0.687 = 1.86 % drop.
    const bad = decideGate({ scope: 's', challenger: m(0.685, 0.5), champion, baselines });
    expect(bad.decision).toBe('reject');
    expect(failed(bad)).toEqual(['aucDrop']);
    expect(bad.rules.find((r) => r.rule === 'aucDrop')?.numbers.dropPct).toBeCloseTo(2.142857, 5);
    const ok = decideGate({ scope: 's', challenger: m(0.687, 0.5), champion, baselines });
    expect(ok.decision, ok.reasons.join('; ')).toBe('deploy');
  });

  it('rejects an F1 drop of more than 5 % when AUC did not improve', () => {
    // F1 0.60 -> 0.56 = 6.7 % drop, AUC equal.
    const d = decideGate({ scope: 's', challenger: m(0.7, 0.56), champion: m(0.7, 0.6), baselines });
    expect(d.decision).toBe('reject');
    expect(failed(d)).toEqual(['f1Drop']);
    const within = decideGate({ scope: 's', challenger: m(0.7, 0.58), champion: m(0.7, 0.6), baselines });
    expect(within.decision, '3.3 % F1 drop is within 5 %').toBe('deploy');
  });

  it('waives the F1 rule when AUC improved', () => {
    const d = decideGate({ scope: 's', challenger: m(0.71, 0.4), champion: m(0.7, 0.6), baselines });
    expect(d.decision, d.reasons.join('; ')).toBe('deploy');
    expect(d.rules.find((r) => r.rule === 'f1Drop')?.detail).toMatch(/waived: AUC improved/);
  });

  it('rejects a challenger worse than the best naive baseline on RMSE or AUC', () => {
    const champion = m(0.65, 0.5, 0.001);
    const rmse = decideGate({ scope: 's', challenger: m(0.66, 0.5, 0.00111), champion, baselines });
    expect(failed(rmse), 'RMSE 0.00111 > naive-zero 0.0011').toEqual(['baselineRmse']);
    expect(rmse.bestBaseline.rmse).toEqual({ kind: 'naive-zero', value: 0.0011 });
    const tolerated = decideGate({ scope: 's', challenger: m(0.66, 0.5, 0.00111), champion, baselines, config: { baselineRmseTolerancePct: 1 } });
    expect(tolerated.decision, 'within a 1 % tolerance').toBe('deploy');
    const auc = decideGate({
      scope: 's',
      challenger: m(0.515, 0.5, 0.001),
      champion: m(0.515, 0.5),
      baselines,
      config: { aucFloor: 0.5 },
    });
    expect(failed(auc), 'AUC 0.515 < naive-ewma 0.52').toEqual(['baselineAuc']);
  });

  it('lists every failed rule and the full comparison', () => {
    const d = decideGate({ scope: 's', challenger: m(0.51, 0.3, 0.01), champion: m(0.7, 0.6), baselines });
    expect(failed(d)).toEqual(['floor', 'aucDrop', 'f1Drop', 'baselineRmse', 'baselineAuc']);
    expect(d.reasons).toHaveLength(5);
    expect(d.champion).toEqual(m(0.7, 0.6));
    expect(JSON.parse(JSON.stringify(d)).config.maxAucDropPct, 'the comparison is plain JSON').toBe(2);
  });

  it('computes relative drops', () => {
    expect(dropPct(0.5, 0.49)).toBeCloseTo(2, 10);
    expect(dropPct(0.5, 0.55)).toBeCloseTo(-10, 10);
  });
});

describe('version names', () => {
  const at = Date.UTC(2026, 10, 20, 12);
  it('names the first model ever v1.0.0, then v<major>.<yymm>.<dd>-<n>', () => {
    expect(nextVersion({ major: 1, atMs: at, existingCount: 0, sameDay: [] })).toBe(FIRST_VERSION);
    expect(nextVersion({ major: 1, atMs: at, existingCount: 1, sameDay: [] })).toBe('v1.2611.20-1');
    expect(nextVersion({ major: 1, atMs: at, existingCount: 5, sameDay: ['v1.2611.20-1', 'v1.2611.20-9', 'v2.2611.20-4'] })).toBe('v1.2611.20-10');
  });
  it('sorts in registration order, also past n = 9', () => {
    const names = ['v1.2611.20-10', 'v1.2611.20-2', 'v1.0.0', 'v2.2610.01-1', 'v1.2612.01-1'];
    expect([...names].sort(compareVersions)).toEqual(['v1.0.0', 'v1.2611.20-2', 'v1.2611.20-10', 'v1.2612.01-1', 'v2.2610.01-1']);
    expect(parseVersion('run-42'), 'names outside the scheme are not parsed').toBeUndefined();
  });
  it('bumps the major line when the architecture or layout changes', () => {
    expect(majorFor(undefined, { kind: 'mlp', layout: '24/1/30' })).toBe(1);
    expect(majorFor({ version: 'v1.2611.20-3', kind: 'mlp', layout: '24/1/30' }, { kind: 'mlp', layout: '24/1/30' })).toBe(1);
    expect(majorFor({ version: 'v1.2611.20-3', kind: 'mlp', layout: '24/1/30' }, { kind: 'lstm', layout: '24/1/30' })).toBe(2);
  });
});

describe('feedback trigger policy', () => {
  const p = { minCorrections: 100, minDays: 7, urgentCorrections: 1000, errorBound: 0.01 };
  it('needs 100 corrections and 7 days, or the urgent count alone', () => {
    expect(feedbackDue(100, 7, p).due, 'exactly at both thresholds').toBe(true);
    expect(feedbackDue(150, 6.9, p).due, 'too soon').toBe(false);
    expect(feedbackDue(99, 10, p).due, 'too few corrections').toBe(false);
    expect(feedbackDue(1000, 0, p).due, 'urgent').toBe(true);
    expect(feedbackDue(999, 0, p).due, 'one short of urgent').toBe(false);
    expect(feedbackDue(100, Number.POSITIVE_INFINITY, p).due, 'never trained before').toBe(true);
  });
});
