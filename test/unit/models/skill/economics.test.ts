import { describe, expect, it } from 'vitest';
import { directionRule, MINUTES_PER_YEAR, runExposures, volatilityTargeting } from '../../../../models/skill/index.ts';

describe('exposure backtest', () => {
  it('nets costs per unit of turnover and measures drawdown on cumulative log PnL', () => {
    // Trades 1, 0, 2 → turnover 3; PnL 0.01 − 0.001, −0.02, −0.01 − 0.002.
    const s = runExposures('hand', [1, 1, -1], [0.01, -0.02, 0.01], 0.001);
    expect(s.turnover).toBe(3);
    expect(s.totalCost).toBeCloseTo(0.003, 15);
    expect(s.grossPnl).toBeCloseTo(-0.02, 15);
    expect(s.netPnl).toBeCloseTo(-0.023, 15);
    expect(s.maxDrawdown, 'cumulative 0.009, −0.011, −0.023 from the peak 0.009').toBeCloseTo(0.032, 15);
    const pnl = [0.009, -0.02, -0.012];
    const mean = -0.023 / 3;
    const sd = Math.sqrt(pnl.reduce((a, x) => a + (x - mean) ** 2, 0) / 3);
    expect(s.annualisedVol).toBeCloseTo(sd * Math.sqrt(MINUTES_PER_YEAR), 12);
    expect(s.sharpe).toBeCloseTo((mean / sd) * Math.sqrt(MINUTES_PER_YEAR), 10);
    expect(s.meanExposure).toBeCloseTo(1 / 3, 15);
  });
});

describe('volatility targeting', () => {
  const r = [0.001, -0.001, 0.002, -0.002];
  const root60 = Math.sqrt(60);

  it('scales exposure by target / forecast per-minute sigma, capped, on the sample volatility by default', () => {
    // The fourth row has no sigma and is left out: sample RMS = √((1 + 1 + 4)·1e-6 / 3) = √2·1e-3.
    const v = volatilityTargeting(r, [0.001 * root60, 0.002 * root60, 0.0001 * root60, null]);
    expect(v?.n).toBe(3);
    expect(v?.targetSource).toBe('sample');
    expect(v?.targetAnnualisedVol).toBeCloseTo(Math.SQRT2 * 1e-3 * Math.sqrt(MINUTES_PER_YEAR), 12);
    // Exposures √2, √2/2 and min(3, 10√2) = 3.
    expect(v?.volTarget.meanExposure).toBeCloseTo((Math.SQRT2 + Math.SQRT2 / 2 + 3) / 3, 12);
    expect(v?.volTarget.turnover).toBeCloseTo(Math.SQRT2 + Math.SQRT2 / 2 + (3 - Math.SQRT2 / 2), 12);
    expect(v?.volTarget.totalCost).toBeCloseTo(0.0005 * (Math.SQRT2 + 3), 12);
    expect(v?.constant.meanExposure).toBe(1);
    expect(v?.constantMatched.meanExposure).toBeCloseTo(v?.volTarget.meanExposure ?? Number.NaN, 12);
    expect(v?.constant.n, 'every strategy trades the same minutes').toBe(3);
  });

  it('takes a configured annualised target and leverage cap', () => {
    const v = volatilityTargeting(r.slice(0, 3), [0.001 * root60, 0.002 * root60, 0.0001 * root60], {
      targetAnnualisedVol: 0.001 * Math.sqrt(MINUTES_PER_YEAR),
      maxLeverage: 2,
    });
    expect(v?.targetSource).toBe('configured');
    expect(v?.volTarget.meanExposure, 'exposures 1, 0.5, min(2, 10)').toBeCloseTo(3.5 / 3, 12);
    expect(volatilityTargeting([0.1], [null])).toBeNull();
  });
});

describe('direction rule', () => {
  it('holds 2·pUp − 1, clipped, and says plainly that it loses money after costs', () => {
    // Exposures 0.5, −0.5, 1 (1.2 clipped); the last row has no pUp. Gross −0.01, turnover 3.
    const d = directionRule('15m', [0.01, 0.01, -0.01, 0.5], [0.75, 0.25, 1.2, null]);
    expect(d?.n).toBe(3);
    expect(d?.grossPnl).toBeCloseTo(-0.01, 15);
    expect(d?.turnover).toBeCloseTo(3, 15);
    expect(d?.netPnl).toBeCloseTo(-0.01 - 0.0015, 15);
    expect(d?.losesMoneyAfterCosts).toBe(true);
    expect(d?.text).toContain('direction rule on 15m pUp loses money after 5 bps costs');
  });

  it('says so when it does not lose money', () => {
    const d = directionRule('1m', [0.01, 0.01], [1, 1], 0.0001);
    expect(d?.losesMoneyAfterCosts).toBe(false);
    expect(d?.profitableBeforeCosts).toBe(true);
    expect(d?.text).toContain('does not lose money after 1 bps costs');
    expect(directionRule('1m', [0.01], [null])).toBeNull();
  });
});
