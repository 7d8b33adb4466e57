import { outcomesFromPredictions, type HorizonOutcome } from '../../models/index.ts';
import { predictedSymbols, readBars, readPredictions, type Db } from '../../sql/index.ts';

const MINUTE_MS = 60_000;

/**
 * Every horizon outcome of the predictions a run stored (created since
 * `sinceMs`), scored from the stored messages and `bars_1m` exactly as an
 * outside subscriber would score `signal.pred.*`: the run summary's skill report
 * reads these.
 */
export async function runOutcomes(db: Db, venue: string | undefined, sinceMs: number): Promise<HorizonOutcome[]> {
  const out: HorizonOutcome[] = [];
  for (const s of await predictedSymbols(db, venue, sinceMs)) {
    const predictions = await readPredictions(db, s.venue, s.symbol, sinceMs);
    const first = predictions[0];
    const last = predictions.at(-1);
    if (!first || !last) continue;
    const longest = Math.max(1, ...predictions.flatMap((p) => Object.keys(p.horizons ?? {}).map((h) => Number(h.slice(0, -1)))));
    const bars = await readBars(db, s.venue, s.symbol, first.ts, last.ts + longest * MINUTE_MS);
    out.push(...outcomesFromPredictions(predictions, bars));
  }
  return out;
}
