import { describe, expect, it } from 'vitest';
import { bandCoverage, inBand, meanPinball, pinball, pinballLoss } from '../../../../models/skill/index.ts';

const q = { q05: -2, q25: -1, q50: 0, q75: 1, q95: 2 };

describe('pinball loss', () => {
  it('weighs misses above a low quantile by tau and below it by 1 − tau', () => {
    expect(pinballLoss(1, 0, 0.05)).toBeCloseTo(0.05, 12);
    expect(pinballLoss(-1, 0, 0.05)).toBeCloseTo(0.95, 12);
    expect(pinballLoss(0, 0, 0.5)).toBe(0);
  });

  it('averages the five levels of a hand-computed forecast', () => {
    // y = 0.5: 0.05·2.5, 0.25·1.5, 0.5·0.5, 0.25·0.5, 0.05·1.5 = 0.125, 0.375, 0.25, 0.125, 0.075.
    expect(meanPinball(0.5, q)).toBeCloseTo(0.95 / 5, 12);
    const p = pinball([0.5, 0.5], [q, q]);
    expect(p.byLevel.q05).toBeCloseTo(0.125, 12);
    expect(p.byLevel.q75).toBeCloseTo(0.125, 12);
    expect(p.byLevel.q95).toBeCloseTo(0.075, 12);
    expect(p.mean).toBeCloseTo(0.19, 12);
    expect(p.n).toBe(2);
  });

  it('leaves out forecasts without quantiles and levels a forecast lacks', () => {
    const p = pinball([0.5, 7], [{ q50: 0 }, undefined]);
    expect(p.n).toBe(1);
    expect(p.byLevel.q50).toBeCloseTo(0.25, 12);
    expect(p.byLevel.q05, 'no forecast has q05').toBeNull();
    expect(p.mean).toBeCloseTo(0.25, 12);
  });
});

describe('band coverage', () => {
  it('counts outcomes inside the 50 % and 90 % bands, ends included', () => {
    const actual = [0, 1.5, 3, -1, 0];
    const qs = [q, q, q, q, undefined];
    expect(bandCoverage(actual, qs, '50'), '0 and −1 (on the edge) inside q25..q75').toEqual({ coverage: 0.5, n: 4 });
    expect(bandCoverage(actual, qs, '90'), 'only 3 outside q05..q95').toEqual({ coverage: 0.75, n: 4 });
    expect(inBand(0, { q25: -1 }, '50'), 'a band without its upper end').toBeUndefined();
    expect(bandCoverage([1], [undefined], '90').coverage).toBeNull();
  });
});
