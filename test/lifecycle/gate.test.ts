import { describe, expect, it } from 'vitest';
import { decideGate, dropPct, type GateMetrics } from '../../actors/lifecycle/gate.ts';
import { compareVersions, FIRST_VERSION, majorFor, nextVersion, parseVersion } from '../../actors/lifecycle/versions.ts';
import { feedbackDue } from '../../actors/lifecycle/retrain.ts';

const m = (rocAuc: number | null, f1: number | null, rmse = 0.001, directionAccuracy = 0.55): GateMetrics => ({ n: 500, rocAuc, f1, rmse, directionAccuracy });
// Baselines: naive-zero has the best RMSE (0.0011), naive-ewma the best AUC (0.52).
const baselines = { 'naive-zero': m(0.5, null, 0.0011), 'naive-last': m(0.51, 0.48, 0.0015), 'naive-ewma': m(0.52, 0.5, 0.0012) };
const failed = (d: ReturnType<typeof decideGate>) => d.rules.filter((r) => !r.passed).map((r) => r.rule);

describe('champion/challenger gate', () => {
  it('deploys the first model of a scope when it passes the floor', () => {
    const d = decideGate({ scope: 'binance.BTCUSDT', challenger: m(0.61, 0.5), champion: undefined, baselines });
    expect(d.decision, d.reasons.join('; ')).toBe('deploy');
    expect(d.firstModel).toBe(true);
    expect(d.rules.map((r) => r.rule), 'the first model is judged by the floor only').toEqual(['floor']);
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
  const p = { minNewBars: 100, minDays: 1, urgentBars: 1000 };
  it('needs N new bars and D days, or the urgent count alone', () => {
    expect(feedbackDue(150, 2, p).due).toBe(true);
    expect(feedbackDue(150, 0.5, p).due, 'too soon').toBe(false);
    expect(feedbackDue(50, 10, p).due, 'too few bars').toBe(false);
    expect(feedbackDue(1000, 0, p).due, 'urgent').toBe(true);
  });
});
