import { describe, expect, it } from 'vitest';
import { rocAuc } from '../../../../models/metrics.ts';
import { mulberry32 } from '../../../../market/index.ts';
import {
  aucOnIndices,
  binOf,
  brierScore,
  eceColumns,
  eceFromSums,
  expectedCalibrationError,
  reliabilityTable,
  upLabel,
} from '../../../../models/skill/index.ts';

describe('direction metrics', () => {
  it('counts a flat return as not up', () => {
    expect(upLabel(0)).toBe(0);
    expect(upLabel(1e-12)).toBe(1);
    expect(upLabel(-1e-12)).toBe(0);
  });

  it('computes the Brier score of a hand-computed case', () => {
    expect(brierScore([0.8, 0.3], [1, 0])).toBeCloseTo((0.04 + 0.09) / 2, 12);
    expect(brierScore([], [])).toBeNull();
  });

  it('builds a 10-bin reliability table and its ECE by hand', () => {
    const p = [0.05, 0.15, 0.15, 0.95, 1.0];
    const y = [0, 1, 0, 1, 1];
    const table = reliabilityTable(p, y);
    expect(table).toHaveLength(10);
    expect(table[0]).toMatchObject({ lo: 0, hi: 0.1, count: 1, meanForecast: 0.05, observedFrequency: 0 });
    expect(table[1]?.count).toBe(2);
    expect(table[1]?.meanForecast).toBeCloseTo(0.15, 12);
    expect(table[1]?.observedFrequency).toBe(0.5);
    expect(table[9]?.count, 'p = 1 falls in the last bin').toBe(2);
    expect(table[9]?.meanForecast).toBeCloseTo(0.975, 12);
    expect(table[5], 'an empty bin has no means').toMatchObject({ count: 0, meanForecast: null, observedFrequency: null });
    // (1/5)·0.05 + (2/5)·0.35 + (2/5)·0.025
    expect(expectedCalibrationError(table)).toBeCloseTo(0.16, 12);
    const sums = eceColumns(p, y).map((c) => c.reduce((a, v) => a + v, 0));
    expect(eceFromSums(sums, p.length), 'the sums form the bootstrap uses').toBeCloseTo(0.16, 12);
    expect(binOf(0.1)).toBe(1);
    expect(binOf(-0.2)).toBe(0);
  });

  it('computes AUC on resample indices as rocAuc does on the resampled values, ties included', () => {
    const rng = mulberry32(3);
    const p = Array.from({ length: 200 }, () => Math.round(rng.next() * 20) / 20);
    const y = p.map((v) => (rng.next() < v ? 1 : 0));
    const auc = aucOnIndices(p, y);
    expect(auc(Int32Array.from({ length: 200 }, (_, i) => i))).toBeCloseTo(rocAuc(p, y) ?? Number.NaN, 12);
    const idx = Int32Array.from({ length: 200 }, () => Math.floor(rng.next() * 200));
    const rp = Array.from(idx, (i) => p[i] ?? 0);
    const ry = Array.from(idx, (i) => y[i] ?? 0);
    expect(auc(idx), 'with repeated indices').toBeCloseTo(rocAuc(rp, ry) ?? Number.NaN, 12);
    expect(aucOnIndices([0.2, 0.4], [1, 1])([0, 1]), 'one class').toBeNull();
  });
});
