import type { Tick } from '../streams/index.ts';
import { formatUnits, splitUnits, toDecimalUnits } from './decimal.ts';
import type { BarRow } from './types.ts';

/** Offsets of the four synthetic ticks inside the bar's minute. */
export const TICK_OFFSETS_MS = [0, 15_000, 30_000, 45_000] as const;

export type BarToTicksContext = {
  venue: string;
  symbol: string;
  /** Close of the previous bar: gives the open tick a side. Without it the open tick has none. */
  prevClose?: number;
};

/**
 * Turns one 1-minute bar into four ticks whose aggregate is exactly the bar
 * (replaying a bars file through the live tick path rebuilds the same bars).
 *
 * - Path: open, then the extreme the close points away from, then the other
 *   extreme, then close: `open, low, high, close` for an up bar (close >= open),
 *   `open, high, low, close` for a down bar. So first price = open, max = high,
 *   min = low, last = close.
 * - Times: bar open + 0 s, 15 s, 30 s, 45 s (distinct and inside the minute).
 * - Trade ids `<barTs>-<i>`: deterministic, so a re-run dedups on `Nats-Msg-Id`.
 * - Sizes: the volume, read as the decimal it was written as (`String(volume)`),
 *   split in integer units of its last decimal place into four parts that differ by
 *   at most one unit; the exact decimal sum of the sizes is the volume (zero volume
 *   gives zero sizes).
 * - Side by the tick test: `buy` on an up-move, `sell` on a down-move, a repeated
 *   price keeps the previous side; the open tick is compared with `prevClose`.
 */
export function barToTicks(bar: BarRow, ctx: BarToTicksContext): Tick[] {
  const up = bar.close >= bar.open;
  const prices = up ? [bar.open, bar.low, bar.high, bar.close] : [bar.open, bar.high, bar.low, bar.close];
  const volume = toDecimalUnits(bar.volume);
  const sizes = splitUnits(volume.units, prices.length).map((u) => Number(formatUnits(u, volume.scale)));
  const ticks: Tick[] = [];
  let previous = ctx.prevClose;
  let side: 'buy' | 'sell' | undefined;
  prices.forEach((price, i) => {
    if (previous !== undefined && price !== previous) side = price > previous ? 'buy' : 'sell';
    previous = price;
    const tick: Tick = {
      venue: ctx.venue,
      symbol: ctx.symbol,
      ts: bar.ts + (TICK_OFFSETS_MS[i] ?? 0),
      price,
      size: sizes[i] ?? 0,
      tradeId: `${bar.ts}-${i}`,
    };
    if (side !== undefined) tick.side = side;
    ticks.push(tick);
  });
  return ticks;
}
