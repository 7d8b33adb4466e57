import type { Interval } from './types.ts';

/** A number for reports: fixed digits, exponent form for tiny or huge magnitudes, 'n/a' for null. */
export function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a !== 0 && (a < 10 ** -digits || a >= 1e6) ? v.toExponential(2) : v.toFixed(digits);
}

/** `value [lo, hi]`. */
export function ci(i: Interval | null | undefined, digits = 3): string {
  return i ? `${num(i.value, digits)} [${num(i.lo, digits)}, ${num(i.hi, digits)}]` : 'n/a';
}

/** Costs per unit of turnover in basis points: 0.0005 → "5 bps". */
export const bps = (cost: number): string => `${+(cost * 1e4).toFixed(2)} bps`;
