import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../../market/index.ts';
import { blockDraws, drawIndices, indexInterval, meanInterval, resampledSums, sumsInterval } from '../../../../models/skill/index.ts';

describe('moving-block bootstrap', () => {
  it('draws blocks of consecutive indices, the last one cut to make n, reproducibly for a seed', () => {
    const d = blockDraws(10, { resamples: 5, blockLength: 4, seed: 9 });
    expect(d.starts.every((s) => s.length === 3), '⌈10 / 4⌉ blocks').toBe(true);
    for (let b = 0; b < 5; b += 1) {
      const idx = drawIndices(d, b);
      expect(idx).toHaveLength(10);
      for (const [k, start] of (d.starts[b] ?? []).entries()) {
        expect(start).toBeGreaterThanOrEqual(0);
        expect(start, 'a block never runs past the end').toBeLessThanOrEqual(6);
        expect(Array.from(idx.slice(4 * k, Math.min(10, 4 * k + 4)))).toEqual(Array.from({ length: Math.min(4, 10 - 4 * k) }, (_, j) => start + j));
      }
    }
    expect(blockDraws(10, { resamples: 5, blockLength: 4, seed: 9 })).toEqual(d);
    expect(blockDraws(10, { resamples: 5, blockLength: 4, seed: 10 }).starts).not.toEqual(d.starts);
  });

  it('sums columns over a resample from prefix sums exactly as over its indices', () => {
    const x = Array.from({ length: 37 }, (_, i) => Math.sin(i) * 3);
    const d = blockDraws(37, { resamples: 20, blockLength: 5, seed: 2 });
    const sums = resampledSums([x], d);
    d.starts.forEach((_, b) => {
      const direct = Array.from(drawIndices(d, b)).reduce((a, i) => a + (x[i] ?? 0), 0);
      expect(sums[b]?.[0]).toBeCloseTo(direct, 10);
    });
  });

  it('gives a constant a zero-width interval and an empty sample none', () => {
    const d = blockDraws(50, { resamples: 100, blockLength: 10, seed: 1 });
    const constant = meanInterval(new Float64Array(50).fill(0.3), d);
    for (const k of ['value', 'lo', 'hi'] as const) expect(constant?.[k], `${k} of a constant`).toBeCloseTo(0.3, 12);
    expect(meanInterval([], blockDraws(0, { resamples: 10, blockLength: 10, seed: 1 }))).toBeNull();
    expect(sumsInterval([new Float64Array(50)], d, () => null), 'a statistic undefined on the sample').toBeNull();
    expect(() => meanInterval([1, 2], d), 'a column of another length').toThrow(RangeError);
  });

  it('widens the interval of a persistent series with long blocks, as an i.i.d. bootstrap would not', () => {
    const rng = mulberry32(5);
    const n = 3000;
    const x = new Float64Array(n);
    for (let i = 1; i < n; i += 1) x[i] = 0.9 * (x[i - 1] ?? 0) + rng.gaussian();
    const width = (blockLength: number) => {
      const i = meanInterval(x, blockDraws(n, { resamples: 400, blockLength, seed: 3 }));
      return (i?.hi ?? 0) - (i?.lo ?? 0);
    };
    // For AR(1) with φ = 0.9 the long-run standard error is √((1 + φ)/(1 − φ)) ≈ 4.4 times the i.i.d. one.
    expect(width(100) / width(1)).toBeGreaterThan(2.5);
    const mean = x.reduce((a, v) => a + v, 0) / n;
    const i = meanInterval(x, blockDraws(n, { resamples: 400, blockLength: 100, seed: 3 }));
    expect(i?.value).toBeCloseTo(mean, 12);
    expect(i?.lo).toBeLessThan(mean);
    expect(i?.hi).toBeGreaterThan(mean);
  });

  it('recomputes an index statistic on every resample', () => {
    const x = Array.from({ length: 40 }, (_, i) => i);
    const d = blockDraws(40, { resamples: 200, blockLength: 8, seed: 4 });
    const median = (idx: Int32Array) => {
      const v = Array.from(idx, (i) => x[i] ?? 0).sort((a, b) => a - b);
      return ((v[19] ?? 0) + (v[20] ?? 0)) / 2;
    };
    const i = indexInterval(d, median);
    expect(i?.value).toBe(19.5);
    expect((i?.hi ?? 0) - (i?.lo ?? 0), 'resampling moves the median').toBeGreaterThan(0);
  });
});
