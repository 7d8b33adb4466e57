import { outcomesFromPredictions, type HorizonOutcome } from '../../models/index.ts';
import { predictedSymbols, readBars, readPredictions, type Db } from '../../sql/index.ts';

const MINUTE_MS = 60_000;

/** The realised outcomes of one symbol's predictions. */
export type SymbolOutcomes = { venue: string; symbol: string; outcomes: HorizonOutcome[] };

/**
 * Every horizon outcome of the predictions a run stored (created since
 * `sinceMs`), one entry per symbol, scored from the stored messages and
 * `bars_1m` exactly as an outside subscriber would score `signal.pred.*`: the
 * run summary's skill reports read these. Symbols are kept apart because the
 * economics trade one series at a time.
 */
export async function runOutcomes(db: Db, venue: string | undefined, sinceMs: number): Promise<SymbolOutcomes[]> {
  const out: SymbolOutcomes[] = [];
  for (const s of await predictedSymbols(db, venue, sinceMs)) {
    const predictions = await readPredictions(db, s.venue, s.symbol, sinceMs);
    const first = predictions[0];
    const last = predictions.at(-1);
    if (!first || !last) continue;
    const longest = Math.max(1, ...predictions.flatMap((p) => Object.keys(p.horizons ?? {}).map((h) => Number(h.slice(0, -1)))));
    const bars = await readBars(db, s.venue, s.symbol, first.ts, last.ts + longest * MINUTE_MS);
    const outcomes = outcomesFromPredictions(predictions, bars);
    if (outcomes.length > 0) out.push({ venue: s.venue, symbol: s.symbol, outcomes });
  }
  return out;
}
