import type { Db } from '../../sql/index.ts';
import { readBarsAround } from '../../sql/index.ts';
import { assertToken } from '../../streams/index.ts';
import type { HistoryProvider } from './history-provider.ts';
import type { HistoryBar } from './types.ts';

/**
 * History from another venue's bars of the same symbol in this database's
 * `bars_1m` (e.g. fill a `binance` gap from `binance_us`). Interpolated bars of the
 * source venue are never used: they are not history.
 */
export function createDbHistory(db: Db, opts: { sourceVenue: string }): HistoryProvider {
  const sourceVenue = assertToken('venue', opts.sourceVenue);
  return {
    name: `db:${sourceVenue}`,
    async fetchBars(_venue, symbol, from, to) {
      const rows = await readBarsAround(db, sourceVenue, symbol, from, to, ['interpolated']);
      return rows
        .filter((r) => r.ts >= from && r.ts <= to)
        .map((r): HistoryBar => {
          const bar: HistoryBar = { ts: r.ts, open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume };
          if (r.trades !== undefined) bar.trades = r.trades;
          return bar;
        });
    },
  };
}

/** `createDbHistory` per venue: `routes` maps a venue to the venue whose bars are its history; other venues have none. */
export function venueHistory(db: Db, routes: Readonly<Record<string, string>>): HistoryProvider {
  const byVenue = new Map(Object.entries(routes).map(([venue, sourceVenue]) => [venue, createDbHistory(db, { sourceVenue })]));
  return {
    name: `db:${Object.entries(routes).map(([v, s]) => `${v}<-${s}`).join(',')}`,
    fetchBars: async (venue, symbol, from, to) => (await byVenue.get(venue)?.fetchBars(venue, symbol, from, to)) ?? [],
  };
}
