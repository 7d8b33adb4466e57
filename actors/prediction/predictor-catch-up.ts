import type { Logger } from '../../config/index.ts';
import { readBars, type Db } from '../../sql/index.ts';
import type { PersistentWeighters } from './confidence-weighter.effects.ts';
import type { HybridEngine } from './hybrid-engine.ts';
import type { CatchUpReader, PendingCatchUp } from './predictor-ownership.ts';

/** Scale-out: more catch-up bars than this for one symbol are still predicted, with a warning. */
export const CATCH_UP_WARN_BARS = 10_000;

const BAR_MS = 60_000;

/** Open time of the last stored 1m prediction of a symbol, if any. */
export async function lastPredictionTs(db: Db, venue: string, symbol: string): Promise<number | undefined> {
  const r = await db.query<{ ms: string | null }>(
    `SELECT (extract(epoch FROM max(ts)) * 1000)::bigint AS ms FROM predictions WHERE venue = $1 AND symbol = $2 AND horizon = '1m'`,
    [venue, symbol],
  );
  const ms = r.rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}

/**
 * The open times (both inclusive) of the bars a symbol just acquired is caught up
 * on: after its last stored prediction and before its first live bar (or up to the
 * latest stored bar); undefined when there are none.
 */
export function catchUpRange(
  lastPredicted: number | undefined,
  pending: Pick<PendingCatchUp, 'deferredFrom' | 'firstLiveTs'>,
): { from: number; to: number } | undefined {
  // No prediction stored yet: the symbol was warming up (its first live bar warms it up from bars_1m),
  // or this process left it to others for a while and predicts from the first bar it saw.
  const from = lastPredicted !== undefined ? lastPredicted + BAR_MS : pending.deferredFrom;
  if (from === undefined) return undefined;
  const to = pending.firstLiveTs !== undefined ? pending.firstLiveTs - BAR_MS : Number.MAX_SAFE_INTEGER;
  return to < from ? undefined : { from, to };
}

export type CatchUpDeps = {
  db: Db;
  engine: HybridEngine;
  weighters: PersistentWeighters | undefined;
  log: Logger;
  /** Bars of history a symbol's features are filled from. */
  preloadBars: number;
};

/** Reads the stored bars a symbol just acquired missed, and prepares the engine to predict them. */
export function createCatchUpReader(deps: CatchUpDeps): CatchUpReader {
  return async ({ venue, symbol, ...pending }) => {
    const range = catchUpRange(await lastPredictionTs(deps.db, venue, symbol), pending);
    if (!range) return [];
    const missed = await readBars(deps.db, venue, symbol, range.from, range.to);
    const head = missed[0];
    if (!head) return [];
    if (missed.length > CATCH_UP_WARN_BARS) deps.log.warn({ venue, symbol, bars: missed.length }, 'long catch-up after acquiring a symbol');
    if (deps.engine.knows(venue, symbol)) await resumeKnownSymbol(deps, venue, symbol, head.ts);
    deps.log.info({ venue, symbol, from: new Date(head.ts).toISOString(), bars: missed.length }, 'catching up an acquired symbol');
    return missed;
  };
}

/**
 * A symbol this process predicted before (and lost) continues from its features: fill them up to the catch-up.
 * Its weights moved on in the process that had it meanwhile: they resume from their snapshot.
 */
async function resumeKnownSymbol(deps: CatchUpDeps, venue: string, symbol: string, headTs: number): Promise<void> {
  if (deps.weighters) {
    await deps.weighters.reload([{ venue, symbol }]);
    deps.engine.renewWeights(venue, symbol);
  }
  deps.engine.warmUp(venue, symbol, await readBars(deps.db, venue, symbol, headTs - deps.preloadBars * BAR_MS, headTs - BAR_MS));
}
