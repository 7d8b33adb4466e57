import { describe, expect, it } from 'vitest';
import { decideGate, type GateMetrics } from '../../../../actors/lifecycle/gate.ts';

const m = (rocAuc: number | null, f1: number | null, rmse = 0.001): GateMetrics => ({ n: 500, rocAuc, f1, rmse, directionAccuracy: 0.55 });
const baselines = { 'naive-zero': m(0.5, null, 0.0011) };
const vol = (model: number, har: number) => ({ n: 400, model, har, ewma: har * 1.1 });
const failed = (d: ReturnType<typeof decideGate>) => d.rules.filter((r) => !r.passed).map((r) => r.rule);

describe('gate: the volatility target has its own rules', () => {
  it('deploys when every horizon is no worse than HAR and within 2 % of the champion', () => {
    const d = decideGate({
      scope: 'global',
      challenger: m(0.62, 0.5),
      champion: m(0.61, 0.5),
      baselines,
      volatility: { challenger: { '15m': vol(0.33, 0.34), '60m': vol(0.36, 0.36) }, champion: { '15m': vol(0.325, 0.34), '60m': vol(0.355, 0.36) } },
    });
    expect(d.decision, d.reasons.join('; ')).toBe('deploy');
    expect(d.rules.map((r) => r.rule)).toContain('volatilityChampion');
    // 0.33 vs 0.325 is +1.54 %: inside the 2 % tolerance.
    expect(d.rules.find((r) => r.rule === 'volatilityChampion')?.numbers['15m.pct']).toBeCloseTo(((0.33 - 0.325) / 0.325) * 100, 10);
  });

  it('rejects a model whose sigma head is worse than HAR at any horizon, naming the horizon', () => {
    const d = decideGate({ scope: 'global', challenger: m(0.62, 0.5), champion: undefined, baselines, volatility: { challenger: { '15m': vol(0.33, 0.34), '60m': vol(0.37, 0.36) } } });
    expect(d.decision).toBe('reject');
    expect(failed(d)).toEqual(['volatilityHar']);
    expect(d.reasons[0]).toContain('worse at 60m');
  });

  it('rejects a model more than 2 % worse than the champion on volatility even when its direction is fine', () => {
    const d = decideGate({
      scope: 'global',
      challenger: m(0.62, 0.5),
      champion: m(0.61, 0.5),
      baselines,
      volatility: { challenger: { '60m': vol(0.35, 0.36) }, champion: { '60m': vol(0.34, 0.36) } },
    });
    expect(failed(d), '0.35 vs 0.34 is +2.9 %').toEqual(['volatilityChampion']);
  });

  it('does not judge an online candidate on volatility (the live weights do)', () => {
    const d = decideGate({ scope: 'binance.X', mode: 'online', challenger: m(0.5, 0.5), champion: undefined, baselines, volatility: { challenger: { '60m': vol(0.5, 0.36) } } });
    expect(d.rules.map((r) => r.rule)).not.toContain('volatilityHar');
  });
});
