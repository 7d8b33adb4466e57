import type { BarRow } from './types.ts';

/** What is wrong with one field of a row. */
export type FieldProblem = { field: string; message: string };

// Plain decimal or scientific notation; no hex, no "Infinity", no empty string
// (all of which `Number()` would accept or turn into 0).
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A finite number from a text cell, or `undefined`. Surrounding spaces are ignored. */
export function parseDecimal(raw: string): number | undefined {
  const text = raw.trim();
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

export const PRICE_FIELDS = ['open', 'high', 'low', 'close'] as const;

/**
 * The bar invariants of the contract: prices > 0, volume >= 0, trades a whole
 * number >= 0, `low <= min(open, close) <= max(open, close) <= high`. Returns the
 * first problem, or `undefined` for a valid bar. Numbers must already be finite.
 */
export function checkBar(bar: BarRow): FieldProblem | undefined {
  for (const field of PRICE_FIELDS) {
    if (!(bar[field] > 0)) return { field, message: `must be > 0 (got ${bar[field]})` };
  }
  if (!(bar.volume >= 0)) return { field: 'volume', message: `must be >= 0 (got ${bar.volume})` };
  if (bar.trades !== undefined && !(Number.isSafeInteger(bar.trades) && bar.trades >= 0)) {
    return { field: 'trades', message: `must be a whole number >= 0 (got ${bar.trades})` };
  }
  const lo = Math.min(bar.open, bar.close);
  const hi = Math.max(bar.open, bar.close);
  if (bar.low > lo) return { field: 'low', message: `low ${bar.low} is above min(open, close) ${lo}` };
  if (bar.high < hi) return { field: 'high', message: `high ${bar.high} is below max(open, close) ${hi}` };
  return undefined;
}
