import { describe, expect, it } from 'vitest';
import { expectedStartOf } from '../../../../actors/quality/quality-settings.ts';

describe('expectedStartOf', () => {
  const expected = { all: 1_000, by: { binance: 2_000, 'binance.BTCUSDT': 3_000 } };

  it('prefers the series, then its venue, then the setting for all', () => {
    expect(expectedStartOf(expected, 'binance', 'BTCUSDT')).toBe(3_000);
    expect(expectedStartOf(expected, 'binance', 'ETHUSDT'), 'no setting of its own: the venue').toBe(2_000);
    expect(expectedStartOf(expected, 'kraken', 'XBTUSD'), 'nothing for the venue: the one for all').toBe(1_000);
  });

  it('is unknown without any setting that applies', () => {
    expect(expectedStartOf({ by: { binance: 2_000 } }, 'kraken', 'XBTUSD')).toBeUndefined();
  });

  it('does not take a symbol of another venue with the same name', () => {
    expect(expectedStartOf({ by: { 'kraken.BTCUSDT': 5 } }, 'binance', 'BTCUSDT')).toBeUndefined();
  });
});
