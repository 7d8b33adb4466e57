import { describe, expect, it } from 'vitest';
import { barToTicks } from '../../../market/bar-to-ticks.ts';
import { readBarsCsv } from '../../../market/bars-csv.ts';
import { tickSchema } from '../../../streams/messages.schema.ts';
import { BTCUSDT_CSV, describeRealData } from '../../support/market/shared-data.ts';

const SCALE = 18;
/** Independent of market/decimal.ts: the decimal written by String(n), in units of 1e-18. */
function units(n: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!m) throw new Error(`unexpected number ${n}`);
  const [, whole = '', frac = '', exp = '0'] = m;
  const shift = SCALE + Number(exp) - frac.length;
  const digits = BigInt(`${whole}${frac}`);
  if (shift < 0) throw new Error(`${n} has more than ${SCALE} decimals`);
  return digits * 10n ** BigInt(shift);
}

const ctx = { venue: 'binance', symbol: 'BTCUSDT' };

describeRealData('barToTicks on the real BTCUSDT file', () => {
  it('aggregates back to exactly the OHLCV of every bar of the BTCUSDT file', async () => {
    const { bars } = await readBarsCsv(BTCUSDT_CSV);
    expect(bars.length).toBe(30_900);
    const mismatches: string[] = [];
    let prevClose: number | undefined;
    for (const bar of bars) {
      const ticks = barToTicks(bar, prevClose === undefined ? ctx : { ...ctx, prevClose });
      prevClose = bar.close;
      const prices = ticks.map((t) => t.price);
      const exactSum = ticks.reduce((s, t) => s + units(t.size), 0n);
      const floatSum = ticks.reduce((s, t) => s + t.size, 0);
      const ok =
        ticks[0]?.price === bar.open &&
        Math.max(...prices) === bar.high &&
        Math.min(...prices) === bar.low &&
        ticks.at(-1)?.price === bar.close &&
        exactSum === units(bar.volume) &&
        Number(floatSum.toPrecision(15)) === bar.volume &&
        ticks.every((t) => t.ts >= bar.ts && t.ts < bar.ts + 60_000 && t.size >= 0) &&
        new Set(ticks.map((t) => t.ts)).size === ticks.length &&
        ticks.every((t) => tickSchema.safeParse(t).success);
      if (!ok) mismatches.push(`${new Date(bar.ts).toISOString()}: ${JSON.stringify(ticks)}`);
    }
    expect(mismatches.slice(0, 3), `${mismatches.length} bars do not round-trip`).toEqual([]);
  });
});

describe('barToTicks', () => {
  it('walks open, low, high, close for an up bar, with tick-test sides and stable ids', () => {
    const bar = { ts: Date.UTC(2024, 2, 1, 0, 5), open: 100, high: 103, low: 99, close: 102, volume: 0.00007 };
    const ticks = barToTicks(bar, { ...ctx, prevClose: 100.5 });
    expect(ticks).toEqual([
      { ...ctx, ts: bar.ts, price: 100, size: 0.00002, side: 'sell', tradeId: `${bar.ts}-0` },
      { ...ctx, ts: bar.ts + 15_000, price: 99, size: 0.00002, side: 'sell', tradeId: `${bar.ts}-1` },
      { ...ctx, ts: bar.ts + 30_000, price: 103, size: 0.00002, side: 'buy', tradeId: `${bar.ts}-2` },
      { ...ctx, ts: bar.ts + 45_000, price: 102, size: 0.00001, side: 'sell', tradeId: `${bar.ts}-3` },
    ]);
    expect(barToTicks(bar, { ...ctx, prevClose: 100.5 }), 'deterministic').toEqual(ticks);
  });

  it('walks open, high, low, close for a down bar; no side before the first move; zero volume gives zero sizes', () => {
    const bar = { ts: Date.UTC(2024, 2, 1), open: 10, high: 10, low: 8, close: 9, volume: 0 };
    const ticks = barToTicks(bar, ctx);
    expect(ticks.map((t) => t.price)).toEqual([10, 10, 8, 9]);
    expect(ticks.map((t) => t.size)).toEqual([0, 0, 0, 0]);
    expect(ticks.map((t) => t.side), 'the open and the repeated price have no move to classify').toEqual([
      undefined,
      undefined,
      'sell',
      'buy',
    ]);
    expect('side' in (ticks[0] ?? {}), 'an unknown side is left out, not set to undefined').toBe(false);
  });

  it('splits whole-number and huge volumes exactly', () => {
    for (const volume of [148158800, 3, 1e21, 123456789.123]) {
      const ticks = barToTicks({ ts: Date.UTC(2024, 0, 1), open: 1, high: 1, low: 1, close: 1, volume }, ctx);
      const sum = ticks.reduce((s, t) => s + units(t.size), 0n);
      expect(sum, `sizes of volume ${volume}`).toBe(units(volume));
    }
  });
});
