import type pg from 'pg';
import type { Prediction } from '../streams/index.ts';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/**
 * Stores predictions; idempotent on (venue, symbol, ts, horizon): the first one
 * stored for a bar wins, a redelivered one is ignored. Returns rows inserted.
 */
export async function insertPredictions(db: pg.Pool | pg.ClientBase, preds: readonly Prediction[]): Promise<number> {
  if (preds.length === 0) return 0;
  const r = await db.query(
    `INSERT INTO predictions (venue, symbol, ts, horizon, created_at, value, p_up, confidence, regime, components, quality, sigma, horizons)
     SELECT v, s, ${MS_TO_TS('t')}, h, ${MS_TO_TS('c')}, val, p, conf, reg, comp, q, sig, hor
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::float8[], $7::float8[], $8::float8[],
                 $9::text[], $10::jsonb[], $11::text[], $12::float8[], $13::jsonb[]) AS u(v, s, t, h, c, val, p, conf, reg, comp, q, sig, hor)
     ON CONFLICT DO NOTHING`,
    [
      preds.map((p) => p.venue),
      preds.map((p) => p.symbol),
      preds.map((p) => p.ts),
      preds.map((p) => p.horizon),
      preds.map((p) => p.createdAt),
      preds.map((p) => p.value),
      preds.map((p) => p.pUp),
      preds.map((p) => p.confidence),
      preds.map((p) => p.regime),
      preds.map((p) => JSON.stringify(p.components)),
      preds.map((p) => p.quality),
      preds.map((p) => p.sigma ?? null),
      preds.map((p) => (p.horizons === undefined ? null : JSON.stringify(p.horizons))),
    ],
  );
  return r.rowCount ?? 0;
}

/** The (venue, symbol) pairs with a prediction created since `sinceMs` (all venues when `venue` is undefined). */
export async function predictedSymbols(db: pg.Pool | pg.ClientBase, venue: string | undefined, sinceMs = 0): Promise<{ venue: string; symbol: string }[]> {
  const r = await db.query<{ venue: string; symbol: string }>(
    `SELECT DISTINCT venue, symbol FROM predictions
     WHERE ($1::text IS NULL OR venue = $1) AND created_at >= ${MS_TO_TS('$2::bigint')}
     ORDER BY venue, symbol`,
    [venue ?? null, sinceMs],
  );
  return r.rows;
}

/** A symbol's stored predictions in time order (those created since `sinceMs`). */
export async function readPredictions(db: pg.Pool | pg.ClientBase, venue: string, symbol: string, sinceMs = 0): Promise<Prediction[]> {
  const r = await db.query<{
    venue: string; symbol: string; ts_ms: number; horizon: '1m'; created_ms: number; value: number; p_up: number;
    confidence: number; regime: string; components: Prediction['components']; quality: Prediction['quality'];
    sigma: number | null; horizons: Prediction['horizons'] | null;
  }>(
    `SELECT venue, symbol, ${TS_TO_MS('ts')} AS ts_ms, horizon, ${TS_TO_MS('created_at')} AS created_ms, value, p_up,
            confidence, regime, components, quality, sigma, horizons
     FROM predictions WHERE venue = $1 AND symbol = $2 AND created_at >= ${MS_TO_TS('$3::bigint')} ORDER BY ts`,
    [venue, symbol, sinceMs],
  );
  return r.rows.map((x) => ({
    venue: x.venue, symbol: x.symbol, ts: Number(x.ts_ms), horizon: x.horizon, createdAt: Number(x.created_ms),
    value: x.value, pUp: x.p_up, confidence: x.confidence, regime: x.regime, components: x.components, quality: x.quality,
    ...(x.sigma === null ? {} : { sigma: x.sigma }),
    ...(x.horizons === null ? {} : { horizons: x.horizons }),
  }));
}
