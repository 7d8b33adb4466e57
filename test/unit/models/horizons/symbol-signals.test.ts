import { describe, expect, it } from 'vitest';
import { DEFAULT_SIGNAL_SETTINGS, SymbolSignals, type HorizonOutcome, type OhlcvBar } from '../../../../models/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

const MINUTE = 60_000;
const bar = (i: number, close: number): OhlcvBar => ({ ts: 1_700_000_040_000 + i * MINUTE, open: close, high: close, low: close, close, volume: 1 });

describe('SymbolSignals', () => {
  it('realises each horizon h bars later: the cumulative log return and the sum of the squared 1-minute returns', () => {
    const s = new SymbolSignals({ ...DEFAULT_SIGNAL_SETTINGS, horizons: [1, 3] });
    const closes = [100, 101, 99, 102, 102, 100];
    const outcomes: HorizonOutcome[] = [];
    closes.forEach((c, i) => outcomes.push(...(s.step(bar(i, c))?.outcomes ?? [])));
    const r = closes.slice(1).map((c, i) => Math.log(c / (closes[i] ?? 1)));
    // The first bar has no return yet, so no forecast: origins are bars 1..5.
    const three = outcomes.filter((o) => o.horizon === '3m');
    expect(three.map((o) => o.ts)).toEqual([bar(1, 0).ts, bar(2, 0).ts]);
    expect(three[0]?.realisedReturn).toBeCloseTo(Math.log(102 / 101), 14);
    expect(three[0]?.realisedVariance).toBeCloseTo((r[1] ?? 0) ** 2 + (r[2] ?? 0) ** 2 + (r[3] ?? 0) ** 2, 14);
    expect(three[1]?.realisedVariance).toBeCloseTo((r[2] ?? 0) ** 2 + (r[3] ?? 0) ** 2 + (r[4] ?? 0) ** 2, 14);
    const one = outcomes.filter((o) => o.horizon === '1m');
    expect(one).toHaveLength(4);
    expect(one[2]?.realisedVariance).toBeCloseTo((r[3] ?? 0) ** 2, 16);
    // Every series that forecast the horizon is in the outcome: the blend with its quantiles, and the baselines.
    expect(Object.keys(three[0]?.forecasts ?? {}).sort()).toEqual(['blend', 'ewma', 'naive']);
    expect(three[0]?.forecasts.blend?.quantiles?.q95).toBeGreaterThan(three[0]?.forecasts.blend?.quantiles?.q05 ?? 0);
  });

  it('drops the horizons that span a missing minute instead of scoring them on a partial path', () => {
    const s = new SymbolSignals({ ...DEFAULT_SIGNAL_SETTINGS, horizons: [1, 3] });
    const outcomes: HorizonOutcome[] = [];
    for (const [i, c] of [[0, 100], [1, 101], [2, 102], [4, 103], [5, 104], [6, 105], [7, 106]] as const) outcomes.push(...(s.step(bar(i, c))?.outcomes ?? []));
    // No outcome may start before the gap (bars 1, 2) and end after it.
    expect(outcomes.every((o) => !(o.ts < bar(4, 0).ts && o.ts + o.minutes * MINUTE > bar(3, 0).ts))).toBe(true);
    expect(outcomes.filter((o) => o.horizon === '3m').map((o) => o.ts)).toEqual([bar(4, 0).ts]);
    expect(s.step(bar(6, 1))).toBeUndefined();
  });

  it('publishes every horizon with ordered quantiles, a learned component joining where it has a head, and weights that sum to 1 per family', () => {
    const s = new SymbolSignals({ ...DEFAULT_SIGNAL_SETTINGS, harMinSamples: 50 });
    const bars = marketBars(600, undefined, { seed: 3 });
    let last;
    for (const b of bars) {
      last = s.step(b, [{ role: 'pretrained', version: 'v1', forecast: { value: 1e-4, pUp: 0.55, horizons: { '15m': { value: 2e-4, pUp: 0.6, sigma: 2e-3 } } } }]);
    }
    expect(last?.horizons && Object.keys(last.horizons)).toEqual(['1m', '5m', '15m', '60m']);
    for (const f of Object.values(last?.horizons ?? {})) {
      expect(f.q05).toBeLessThan(f.q25);
      expect(f.q25).toBeLessThan(f.q75);
      expect(f.q75).toBeLessThan(f.q95);
      expect(f.sigma).toBeGreaterThan(0);
    }
    const roles = last?.components.map((c) => c.role).sort();
    expect(roles).toEqual(['ewma', 'har', 'naive', 'pretrained']);
    const pre = last?.components.find((c) => c.role === 'pretrained');
    // A 1-step head counts for 1m; the 15m head for 15m, sigma included; no head at 5m or 60m.
    expect(Object.keys(pre?.horizons ?? {}).sort()).toEqual(['15m', '1m']);
    expect(pre?.horizons['15m']?.volatilityWeight).toBeGreaterThan(0);
    for (const family of [last?.weights.return, last?.weights.volatility]) {
      for (const w of Object.values(family ?? {})) expect(Object.values(w).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });

  it('is deterministic: the same bars give the same forecasts', () => {
    const bars = marketBars(400, undefined, { seed: 9 });
    const run = () => {
      const s = new SymbolSignals(DEFAULT_SIGNAL_SETTINGS);
      return bars.map((b) => s.step(b)?.horizons?.['15m']?.sigma);
    };
    expect(run()).toEqual(run());
  });
});
