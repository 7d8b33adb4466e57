import { describe, expect, it } from 'vitest';
import { logVarianceMse, logVarianceR2, qlike, qlikeLoss, r2FromSums, varianceSkip } from '../../../../models/skill/index.ts';

describe('QLIKE', () => {
  it('is the mean of rv/f − ln(rv/f) − 1 of a hand-computed case', () => {
    const q = qlike([1, 4], [2, 2]);
    const expected = (0.5 - Math.log(0.5) - 1 + (2 - Math.log(2) - 1)) / 2;
    expect(expected, 'the two log terms cancel: (0.5 + 2 − 2) / 2').toBeCloseTo(0.25, 12);
    expect(q.mean).toBeCloseTo(expected, 12);
    expect(q).toMatchObject({ n: 2, skipped: 0, invalid: 0 });
  });

  it('is zero for a perfect forecast and larger for under- than for over-forecasting by the same factor', () => {
    expect(qlikeLoss(3, 3)).toBe(0);
    expect(qlikeLoss(2, 1), 'forecast half the realised variance').toBeGreaterThan(qlikeLoss(1, 2));
  });

  it('skips flat windows (ln 0) and counts them, apart from invalid forecasts', () => {
    const q = qlike([0, 1, -1, 2, 2, Number.NaN], [1, 1, 1, 0, Number.NaN, 1]);
    expect(q, 'only rv = 1, f = 1 is scorable').toEqual({ mean: 0, n: 1, skipped: 2, invalid: 3 });
    expect(qlike([0], [1]).mean, 'nothing scorable is null, not NaN').toBeNull();
    expect(varianceSkip(0, 1)).toBe('flat');
    expect(varianceSkip(1, -1)).toBe('invalid');
    expect(varianceSkip(1, 1)).toBeUndefined();
  });

  it('rejects arrays of different lengths', () => {
    expect(() => qlike([1], [1, 2])).toThrow(RangeError);
  });
});

describe('log realised variance', () => {
  it('has MSE and out-of-sample R² of a hand-computed case', () => {
    const e = Math.E;
    // ln rv = [0, 2, 4], ln f = [0, 2, 3]: SSE = 1; mean ln rv = 2, SST = 4 + 0 + 4 = 8.
    const rv = [1, e ** 2, e ** 4];
    const f = [1, e ** 2, e ** 3];
    expect(logVarianceMse(rv, f).mean).toBeCloseTo(1 / 3, 12);
    expect(logVarianceR2(rv, f).r2).toBeCloseTo(1 - 1 / 8, 12);
  });

  it('gives R² 0 to a forecast no better than the sample mean and null to a constant ln rv', () => {
    const e = Math.E;
    expect(logVarianceR2([1, e ** 2], [e, e]).r2, 'f = e^mean(ln rv)').toBeCloseTo(0, 12);
    expect(logVarianceR2([2, 2, 2], [1, 2, 3]).r2).toBeNull();
  });

  it('recomputes R² from centred sums as the bootstrap does', () => {
    const rv = [0.5, 1.7, 0.9, 3.1, 2.2];
    const f = [0.7, 1.2, 1.1, 2.5, 2.9];
    const y = rv.map(Math.log);
    const c = 1.234; // any centre gives the same R²
    const sums = [
      y.reduce((a, v, i) => a + (v - Math.log(f[i] ?? 1)) ** 2, 0),
      y.reduce((a, v) => a + (v - c), 0),
      y.reduce((a, v) => a + (v - c) ** 2, 0),
    ];
    expect(r2FromSums(sums, rv.length)).toBeCloseTo(logVarianceR2(rv, f).r2 ?? Number.NaN, 10);
  });
});
