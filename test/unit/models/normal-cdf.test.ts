import { describe, expect, it } from 'vitest';
import { normalCdf } from '../../../models/index.ts';

describe('normalCdf', () => {
  it('matches tabulated values of the standard normal distribution', () => {
    // Values from any standard normal table, to 6 decimals.
    const table: [number, number][] = [
      [0, 0.5],
      [1, 0.841345],
      [-1, 0.158655],
      [1.96, 0.975002],
      [-2.5, 0.00621],
      [3, 0.99865],
    ];
    for (const [z, p] of table) expect(normalCdf(z)).toBeCloseTo(p, 5);
  });

  it('is symmetric: Φ(−z) = 1 − Φ(z)', () => {
    for (const z of [0.1, 0.7, 1.3, 2.2]) expect(normalCdf(-z) + normalCdf(z)).toBeCloseTo(1, 9);
  });
});
