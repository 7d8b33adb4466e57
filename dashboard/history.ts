import { barsBetween, gapsBetween, predictionsBetween, troubledQualityBetween, type ChartBar, type Db, type GapRow, type QualityRow } from '../sql/index.ts';
import type { Prediction } from '../streams/index.ts';

export type SymbolHistory = {
  venue: string;
  symbol: string;
  /** The window loaded: `hours` up to the symbol's last bar (its own clock: a replay of 2024 shows 2024). */
  from: number;
  to: number;
  bars: ChartBar[];
  predictions: Prediction[];
  gaps: GapRow[];
  quality: QualityRow[];
};

/** Open time of a symbol's last stored bar. */
async function lastBar(db: Db, venue: string, symbol: string): Promise<number | undefined> {
  const r = await db.query<{ ms: string | null }>(
    `SELECT (extract(epoch FROM max(ts)) * 1000)::bigint AS ms FROM bars_1m WHERE venue = $1 AND symbol = $2`,
    [venue, symbol],
  );
  const ms = r.rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}

/** The last `hours` of a symbol from the database: what a page shows before it goes live. */
export async function symbolHistory(db: Db, venue: string, symbol: string, hours: number): Promise<SymbolHistory> {
  const to = (await lastBar(db, venue, symbol)) ?? Date.now();
  const from = to - hours * 3_600_000;
  const [bars, predictions, gaps, quality] = await Promise.all([
    barsBetween(db, venue, symbol, from, to),
    predictionsBetween(db, venue, symbol, from, to),
    gapsBetween(db, venue, symbol, from, to),
    troubledQualityBetween(db, venue, symbol, from, to),
  ]);
  return { venue, symbol, from, to, bars, predictions, gaps, quality };
}
