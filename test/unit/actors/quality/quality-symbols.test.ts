import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { groupBarsBySymbol } from '../../../../actors/quality/quality-symbols.ts';

const MAX_PAYLOAD = 64 * 1024;
/** A minute's open time (epoch ms): the bar times below are offsets from it. */
const T0 = Date.UTC(2024, 0, 2, 10);

function barMsg(venue: string, symbol: string, ts: number, extra: { trades?: number; revision?: string; subjectSymbol?: string } = {}) {
  const bar = { venue, symbol, interval: '1m', ts: T0 + ts, open: 10, high: 12, low: 9, close: 11, volume: 5, source: 'live', ...(extra.trades !== undefined ? { trades: extra.trades } : {}) };
  const h = extra.revision === undefined ? undefined : headers();
  if (h && extra.revision !== undefined) h.set('Signals-Revision', extra.revision);
  return {
    subject: `md.bar.1m.${venue}.${extra.subjectSymbol ?? symbol}`,
    data: new TextEncoder().encode(JSON.stringify(bar)),
    headers: h,
  };
}

describe('groupBarsBySymbol', () => {
  it('groups bars by venue and symbol, each in arrival order, symbols in order of their first bar', () => {
    const { groups, invalid } = groupBarsBySymbol(
      [barMsg('kraken', 'XBTUSD', 120_000), barMsg('binance', 'BTCUSDT', 0), barMsg('kraken', 'XBTUSD', 60_000), barMsg('binance', 'ETHUSDT', 0)],
      MAX_PAYLOAD,
    );
    expect(invalid).toBe(0);
    expect([...groups.keys()]).toEqual(['kraken.XBTUSD', 'binance.BTCUSDT', 'binance.ETHUSDT']);
    expect(groups.get('kraken.XBTUSD')?.bars.map((b) => b.ts - T0), 'as they arrived, not sorted').toEqual([120_000, 60_000]);
    expect(groups.get('binance.ETHUSDT')).toMatchObject({ venue: 'binance', symbol: 'ETHUSDT' });
  });

  it('carries the bar fields, the revision header (0 without one) and trades only when present', () => {
    const { groups } = groupBarsBySymbol([barMsg('binance', 'BTCUSDT', 0, { revision: '3', trades: 7 }), barMsg('binance', 'BTCUSDT', 60_000)], MAX_PAYLOAD);
    const [revised, plain] = groups.get('binance.BTCUSDT')?.bars ?? [];
    expect(revised).toEqual({ ts: T0, open: 10, high: 12, low: 9, close: 11, volume: 5, source: 'live', revision: 3, trades: 7 });
    expect(plain?.revision).toBe(0);
    expect(plain && 'trades' in plain, 'no trades key when the bar has none').toBe(false);
  });

  it('skips and counts what fails validation: a bad payload, a subject of another symbol, an oversized message', () => {
    const broken = { subject: 'md.bar.1m.binance.BTCUSDT', data: new TextEncoder().encode('{not json'), headers: undefined };
    const { groups, invalid } = groupBarsBySymbol(
      [broken, barMsg('binance', 'BTCUSDT', 0, { subjectSymbol: 'ETHUSDT' }), barMsg('binance', 'BTCUSDT', 60_000)],
      MAX_PAYLOAD,
    );
    expect(invalid).toBe(2);
    expect(groups.get('binance.BTCUSDT')?.bars.map((b) => b.ts - T0)).toEqual([60_000]);
    expect(groupBarsBySymbol([barMsg('binance', 'BTCUSDT', 0)], 10).invalid, 'larger than the payload limit').toBe(1);
  });
});
