import { Matrix, pseudoInverse } from 'ml-matrix';
import { linearRegression } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../../market/index.ts';
import { HarRegression } from '../../../../models/index.ts';

/** The transformed target the regression fits: ln(RV + c), c = 5 % of the window's mean RV. */
const logTarget = (rv: readonly number[]) => {
  const c = (0.05 * rv.reduce((a, b) => a + b, 0)) / rv.length;
  return { c, y: rv.map((v) => Math.log(v + c)) };
};

describe('HAR regression', () => {
  it('with one regressor, equals the closed-form simple least-squares line (simple-statistics)', () => {
    const rng = mulberry32(7);
    const xs: number[] = [];
    const rv: number[] = [];
    for (let i = 0; i < 200; i += 1) {
      const x = -9 + 2 * rng.next();
      xs.push(x);
      rv.push(Math.exp(0.8 * x - 3 + 0.3 * (rng.next() - 0.5)));
    }
    const har = new HarRegression(2, 200, 1_000, 200);
    xs.forEach((x, i) => har.add(Float64Array.of(1, x), rv[i] ?? 0));
    const { y } = logTarget(rv);
    const line = linearRegression(xs.map((x, i) => [x, y[i] ?? 0]));
    const beta = har.coefficients;
    expect(beta).toBeDefined();
    expect(beta?.[0]).toBeCloseTo(line.b, 4);
    expect(beta?.[1]).toBeCloseTo(line.m, 4);
  });

  it('with several regressors, equals the pseudo-inverse solution (SVD, a different algorithm) on the same window, and forecasts the smeared mean', () => {
    const rng = mulberry32(11);
    const rows: number[][] = [];
    const rv: number[] = [];
    for (let i = 0; i < 300; i += 1) {
      const row = [1, -8 + rng.next(), -8 + rng.next(), -8 + rng.next()];
      rows.push(row);
      rv.push(Math.exp(-2 + 0.5 * (row[1] ?? 0) + 0.3 * (row[2] ?? 0) + 0.1 * (row[3] ?? 0) + 0.5 * (rng.next() - 0.5)));
    }
    // Window 250: the first 50 samples must have left the fit.
    const har = new HarRegression(4, 250, 1, 250);
    rows.forEach((r, i) => har.add(Float64Array.from(r), rv[i] ?? 0));
    const kept = rows.slice(50);
    const { c, y } = logTarget(rv.slice(50));
    const expected = pseudoInverse(new Matrix(kept)).mmul(Matrix.columnVector(y)).getColumn(0);
    const beta = Array.from(har.coefficients ?? []);
    expected.forEach((b, i) => expect(beta[i]).toBeCloseTo(b, 3));
    // Forecast = exp(β·x)·mean(exp(residual)) − c.
    const x = [1, -7.5, -7.6, -7.7];
    const fitted = (r: readonly number[]) => r.reduce((a, v, i) => a + v * (expected[i] ?? 0), 0);
    const smear = kept.reduce((a, r, i) => a + Math.exp((y[i] ?? 0) - fitted(r)), 0) / kept.length;
    expect(har.forecastVariance(Float64Array.from(x)) ?? 0).toBeCloseTo(Math.exp(fitted(x)) * smear - c, 10);
  });

  it('gives no forecast before its minimum sample, and ignores non-finite samples', () => {
    const har = new HarRegression(2, 100, 1, 20);
    for (let i = 0; i < 19; i += 1) har.add(Float64Array.of(1, i), 1e-6 * (i + 1));
    expect(har.forecastVariance(Float64Array.of(1, 3))).toBeUndefined();
    har.add(Float64Array.of(1, Number.NaN), 1e-6);
    har.add(Float64Array.of(1, 2), Number.POSITIVE_INFINITY);
    expect(har.samples).toBe(19);
    har.add(Float64Array.of(1, 2), 2e-6);
    expect(har.forecastVariance(Float64Array.of(1, 3))).toBeGreaterThan(0);
  });
});
