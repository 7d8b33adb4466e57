import type pg from 'pg';

/** Realised accuracy of stored predictions against the next bar, and the naive zero-return forecast on the same bars. */
export type PredictionAccuracy = {
  scored: number;
  /** Share of predictions whose sign matched the next bar's log return (bars with a zero return are skipped). */
  directionAccuracy: number | null;
  mae: number | null;
  /** MAE of always predicting a zero return, on the same bars. */
  naiveMae: number | null;
};

/** Scores every prediction of a venue (or all venues) made since `since` (epoch ms) whose next bar exists. */
export async function predictionAccuracy(db: pg.Pool | pg.ClientBase, venue?: string, since = 0): Promise<PredictionAccuracy> {
  const r = await db.query<{ n: number; dir: number | null; mae: number | null; naive: number | null }>(
    `WITH scored AS (
       SELECT p.value, ln(n.close / b.close) AS actual
       FROM predictions p
       JOIN bars_1m b ON b.venue = p.venue AND b.symbol = p.symbol AND b.ts = p.ts
       JOIN bars_1m n ON n.venue = p.venue AND n.symbol = p.symbol AND n.ts = p.ts + INTERVAL '1 minute'
       WHERE ($1::text IS NULL OR p.venue = $1) AND p.horizon = '1m'
         AND p.created_at >= TIMESTAMPTZ 'epoch' + $2::bigint * INTERVAL '1 millisecond'
     )
     SELECT count(*)::int AS n,
            avg(CASE WHEN actual = 0 THEN NULL WHEN sign(value) = sign(actual) THEN 1.0 ELSE 0.0 END)::float8 AS dir,
            avg(abs(value - actual))::float8 AS mae,
            avg(abs(actual))::float8 AS naive
     FROM scored`,
    [venue ?? null, since],
  );
  const row = r.rows[0];
  return { scored: row?.n ?? 0, directionAccuracy: row?.dir ?? null, mae: row?.mae ?? null, naiveMae: row?.naive ?? null };
}

/**
 * Corrections of a symbol since `afterMs` (bar open time): realised 1-minute
 * predictions whose direction was wrong (a flat bar is never wrong), or whose
 * error exceeded `errorBound` (log return). The feedback retrain rule counts them.
 */
export async function countCorrections(db: pg.Pool | pg.ClientBase, venue: string, symbol: string, afterMs: number, errorBound: number): Promise<number> {
  const r = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n
     FROM predictions p
     JOIN bars_1m b ON b.venue = p.venue AND b.symbol = p.symbol AND b.ts = p.ts
     JOIN bars_1m n ON n.venue = p.venue AND n.symbol = p.symbol AND n.ts = p.ts + INTERVAL '1 minute'
     WHERE p.venue = $1 AND p.symbol = $2 AND p.horizon = '1m'
       AND p.ts > TIMESTAMPTZ 'epoch' + $3::bigint * INTERVAL '1 millisecond'
       AND ((n.close <> b.close AND sign(p.value) <> sign(ln(n.close / b.close))) OR abs(p.value - ln(n.close / b.close)) > $4)`,
    [venue, symbol, afterMs, errorBound],
  );
  return r.rows[0]?.n ?? 0;
}
