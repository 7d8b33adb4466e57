import { describe, expect, it } from 'vitest';
import { mincerZarnowitz, mincerZarnowitzLog, ols, olsColumns, olsFromSums } from '../../../../models/skill/index.ts';

describe('Mincer–Zarnowitz regression', () => {
  it('fits a, b and R² of a hand-computed case by OLS', () => {
    // x̄ = 2, ȳ = 13/3, Sxx = 2, Sxy = 5: b = 2.5, a = 13/3 − 5 = −2/3;
    // residuals 1/6, −1/3, 1/6: SSres = 1/6; SStot = 114/9.
    const fit = mincerZarnowitz([2, 4, 7], [1, 2, 3]);
    expect(fit?.b).toBeCloseTo(2.5, 12);
    expect(fit?.a).toBeCloseTo(-2 / 3, 12);
    expect(fit?.r2).toBeCloseTo(1 - 1 / 6 / (114 / 9), 12);
    expect(fit?.n).toBe(3);
  });

  it('fits logs: ln rv = −2 + 2·ln f exactly', () => {
    const e = Math.E;
    const fit = mincerZarnowitzLog([1, e ** 2, e ** 4], [e, e ** 2, e ** 3]);
    expect(fit?.a).toBeCloseTo(-2, 12);
    expect(fit?.b).toBeCloseTo(2, 12);
    expect(fit?.r2).toBeCloseTo(1, 12);
  });

  it('keeps a flat window in levels but not in logs', () => {
    expect(mincerZarnowitz([0, 1, 2], [1, 2, 3])?.n).toBe(3);
    expect(mincerZarnowitzLog([0, 1, 2], [1, 2, 3])?.n).toBe(2);
  });

  it('is null when the forecast never varies', () => {
    expect(mincerZarnowitz([1, 2, 3], [2, 2, 2]), 'slope undefined').toBeNull();
    expect(ols([1], [1]), 'one point').toBeNull();
  });

  it('gives the same fit from centred sums as the bootstrap recomputes it', () => {
    const x = [0.3, 1.1, 2.4, 3.3, 4.9];
    const y = [1.0, 2.9, 5.2, 7.1, 9.6];
    const { columns, centre } = olsColumns(x, y);
    const fit = olsFromSums(columns.map((c) => c.reduce((a, v) => a + v, 0)), x.length, centre);
    const direct = ols(x, y);
    expect(fit?.a).toBeCloseTo(direct?.a ?? Number.NaN, 12);
    expect(fit?.b).toBeCloseTo(direct?.b ?? Number.NaN, 12);
  });
});
