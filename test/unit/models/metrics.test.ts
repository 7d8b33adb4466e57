import { describe, expect, it } from 'vitest';
import { forecastMetrics, rocAuc } from '../../../models/index.ts';

describe('forecast metrics', () => {
  it('computes regression and classification metrics of a small hand-checked case', () => {
    const actual = [0.01, -0.02, 0.03, -0.01];
    const forecasts = [
      { value: 0.02, pUp: 0.8 }, // right direction
      { value: -0.01, pUp: 0.3 }, // right
      { value: -0.01, pUp: 0.4 }, // wrong (missed an up)
      { value: 0.01, pUp: 0.6 }, // wrong (false up)
    ];
    const m = forecastMetrics(actual, forecasts);
    const errors = [0.01, 0.01, -0.04, 0.02];
    expect(m.n).toBe(4);
    expect(m.mae).toBeCloseTo((0.01 + 0.01 + 0.04 + 0.02) / 4, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / 4), 12);
    expect(m.mape, 'MAPE of the implied price, in percent').toBeCloseTo((100 * errors.reduce((a, e) => a + Math.abs(Math.expm1(e)), 0)) / 4, 10);
    const mean = actual.reduce((a, b) => a + b, 0) / 4;
    const tot = actual.reduce((a, y) => a + (y - mean) ** 2, 0);
    expect(m.r2).toBeCloseTo(1 - errors.reduce((a, e) => a + e * e, 0) / tot, 12);
    expect(m.directionAccuracy).toBe(0.5);
    // tp = 1 (first), fp = 1 (last), fn = 1 (third): F1 = 2/(2+1+1)
    expect(m.f1).toBeCloseTo(0.5, 12);
    expect(m.brier).toBeCloseTo(((0.8 - 1) ** 2 + 0.3 ** 2 + (0.4 - 1) ** 2 + 0.6 ** 2) / 4, 12);
    // positives scored 0.8, 0.4; negatives 0.3, 0.6: pairs won 0.8>0.3, 0.8>0.6, 0.4>0.3 = 3 of 4
    expect(m.rocAuc).toBeCloseTo(0.75, 12);
  });

  it('counts tied scores as half in ROC AUC and returns null with one class', () => {
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]), 'all ties').toBe(0.5);
    expect(rocAuc([0.1, 0.9, 0.5], [0, 1, 0]), 'perfect ranking').toBe(1);
    expect(rocAuc([0.2, 0.4], [1, 1]), 'no negatives').toBeNull();
    const m = forecastMetrics([0.01, 0.02], [
      { value: 0, pUp: 0.4 },
      { value: 0, pUp: 0.4 },
    ]);
    expect(m.rocAuc).toBeNull();
    expect(m.f1, 'two ups, none predicted: F1 = 0').toBe(0);
  });
});
