/** The price/volume fields every bar has. */
export type OhlcV = { open: number; high: number; low: number; close: number; volume: number };

/**
 * Why a bar's values cannot be real, or undefined when they can: prices finite and
 * > 0, `low <= min(open, close) <= max(open, close) <= high`, volume finite and >= 0.
 */
export function barProblem(b: OhlcV): { kind: 'ohlc' | 'volume'; detail: string } | undefined {
  for (const field of ['open', 'high', 'low', 'close'] as const) {
    const v = b[field];
    if (!Number.isFinite(v) || v <= 0) return { kind: 'ohlc', detail: `${field} ${v} is not a price > 0` };
  }
  if (b.low > b.high) return { kind: 'ohlc', detail: `low ${b.low} > high ${b.high}` };
  if (b.low > Math.min(b.open, b.close)) return { kind: 'ohlc', detail: `low ${b.low} > min(open, close) ${Math.min(b.open, b.close)}` };
  if (Math.max(b.open, b.close) > b.high) return { kind: 'ohlc', detail: `max(open, close) ${Math.max(b.open, b.close)} > high ${b.high}` };
  if (!Number.isFinite(b.volume) || b.volume < 0) return { kind: 'volume', detail: `volume ${b.volume} is not >= 0` };
  return undefined;
}
