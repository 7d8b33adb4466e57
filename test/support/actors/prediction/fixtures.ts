import { mulberry32 } from '../../../../market/index.ts';
import type { OhlcvBar } from '../../../../models/index.ts';

export const MINUTE = 60_000;
export const T0 = Date.UTC(2024, 0, 1);

/** OHLCV bars from a list of log returns (open = previous close), deterministic volumes. */
export function barsFromReturns(returns: readonly number[], start = T0, price = 100): OhlcvBar[] {
  const rng = mulberry32(7);
  let close = price;
  return returns.map((r, i) => {
    const open = close;
    close = open * Math.exp(r);
    const spread = 0.0002 * (1 + rng.next());
    return {
      ts: start + i * MINUTE,
      open,
      high: Math.max(open, close) * (1 + spread),
      low: Math.min(open, close) * (1 - spread),
      close,
      volume: 10 + 5 * rng.next(),
    };
  });
}

/** AR(1) log returns r[t] = phi·r[t-1] + sigma·ε, with phi switching to `phi2` at `switchAt`. */
export function arReturns(n: number, phi: number, sigma: number, seed: number, switchAt = n, phi2 = phi): number[] {
  const rng = mulberry32(seed);
  const out: number[] = [];
  let prev = 0;
  for (let i = 0; i < n; i += 1) {
    prev = (i < switchAt ? phi : phi2) * prev + sigma * rng.gaussian();
    out.push(prev);
  }
  return out;
}
