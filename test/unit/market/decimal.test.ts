import { describe, expect, it } from 'vitest';
import { decimalEquals, formatUnits, splitUnits, sumDecimal, toDecimalUnits } from '../../../market/decimal.ts';

describe('decimal units', () => {
  it('reads a number as the decimal it prints as', () => {
    expect(toDecimalUnits(121.02208)).toEqual({ units: 12102208n, scale: 5 });
    expect(toDecimalUnits(148158800)).toEqual({ units: 148158800n, scale: 0 });
    expect(toDecimalUnits(1e-7)).toEqual({ units: 1n, scale: 7 });
    expect(toDecimalUnits(1.5e21)).toEqual({ units: 1_500_000_000_000_000_000_000n, scale: 0 });
    expect(toDecimalUnits(-0.25)).toEqual({ units: -25n, scale: 2 });
    expect(() => toDecimalUnits(Number.NaN)).toThrow(RangeError);
  });

  it('formats units without exponent and trailing zeros', () => {
    expect(formatUnits(3025552n, 5)).toBe('30.25552');
    expect(formatUnits(1n, 7)).toBe('0.0000001');
    expect(formatUnits(1200n, 2)).toBe('12');
    expect(formatUnits(0n, 3)).toBe('0');
    expect(formatUnits(-5n, 1)).toBe('-0.5');
  });

  it('splits exactly and sums exactly where floats do not', () => {
    expect(splitUnits(7n, 4)).toEqual([2n, 2n, 2n, 1n]);
    expect(splitUnits(0n, 4)).toEqual([0n, 0n, 0n, 0n]);
    expect(0.1 + 0.2, 'the float sum is off').not.toBe(0.3);
    expect(decimalEquals(sumDecimal([0.1, 0.2]), toDecimalUnits(0.3)), 'the decimal sum is exact').toBe(true);
    expect(decimalEquals({ units: 10n, scale: 1 }, { units: 1n, scale: 0 })).toBe(true);
  });
});
