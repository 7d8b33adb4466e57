import type pg from 'pg';
import type { Prediction } from '../streams/index.ts';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

type Queryable = pg.Pool | pg.ClientBase;

/** A symbol with stored bars, its last bar and its last prediction (what the dashboard lists on load). */
export type KnownSymbol = { venue: string; symbol: string; lastBarTs: number; lastPredictionTs: number | null; lastPredictionAt: number | null };

/**
 * Every (venue, symbol) of `bars_1m` with its last bar and last prediction. A
 * skip scan over the primary key (one index probe per symbol) rather than a
 * DISTINCT over months of bars.
 */
export async function knownSymbols(db: Queryable, limit = 5_000): Promise<KnownSymbol[]> {
  const r = await db.query<{ venue: string; symbol: string; last_bar: string; last_pred: string | null; pred_at: string | null }>(
    `WITH RECURSIVE s AS (
       (SELECT venue, symbol FROM bars_1m ORDER BY venue, symbol LIMIT 1)
       UNION ALL
       SELECT n.venue, n.symbol FROM s CROSS JOIN LATERAL (
         SELECT venue, symbol FROM bars_1m WHERE (venue, symbol) > (s.venue, s.symbol) ORDER BY venue, symbol LIMIT 1
       ) n
     )
     SELECT s.venue, s.symbol,
            (SELECT ${TS_TO_MS('max(b.ts)')} FROM bars_1m b WHERE b.venue = s.venue AND b.symbol = s.symbol) AS last_bar,
            p.ts_ms AS last_pred, p.at_ms AS pred_at
     FROM s LEFT JOIN LATERAL (
       SELECT ${TS_TO_MS('ts')} AS ts_ms, ${TS_TO_MS('created_at')} AS at_ms FROM predictions
       WHERE venue = s.venue AND symbol = s.symbol ORDER BY ts DESC LIMIT 1
     ) p ON true
     LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({
    venue: x.venue,
    symbol: x.symbol,
    lastBarTs: Number(x.last_bar),
    lastPredictionTs: x.last_pred === null ? null : Number(x.last_pred),
    lastPredictionAt: x.pred_at === null ? null : Number(x.pred_at),
  }));
}

export type ChartBar = { ts: number; open: number; high: number; low: number; close: number; volume: number; source: string };

/** Bars of a symbol with open time in [fromMs, toMs], oldest first. */
export async function barsBetween(db: Queryable, venue: string, symbol: string, fromMs: number, toMs: number): Promise<ChartBar[]> {
  const r = await db.query<{ ts_ms: string; open: number; high: number; low: number; close: number; volume: number; source: string }>(
    `SELECT ${TS_TO_MS('ts')} AS ts_ms, open, high, low, close, volume, source FROM bars_1m
     WHERE venue = $1 AND symbol = $2 AND ts BETWEEN ${MS_TO_TS('$3::bigint')} AND ${MS_TO_TS('$4::bigint')} ORDER BY ts`,
    [venue, symbol, fromMs, toMs],
  );
  return r.rows.map((x) => ({ ts: Number(x.ts_ms), open: x.open, high: x.high, low: x.low, close: x.close, volume: x.volume, source: x.source }));
}

/** Predictions of a symbol made after bars with open time in [fromMs, toMs], oldest first, in the message's shape. */
export async function predictionsBetween(db: Queryable, venue: string, symbol: string, fromMs: number, toMs: number): Promise<Prediction[]> {
  const r = await db.query<{
    ts_ms: string; created_ms: string; value: number; p_up: number; confidence: number; regime: string;
    components: Prediction['components']; quality: Prediction['quality']; sigma: number | null; horizons: Prediction['horizons'] | null;
  }>(
    `SELECT ${TS_TO_MS('ts')} AS ts_ms, ${TS_TO_MS('created_at')} AS created_ms, value, p_up, confidence, regime, components, quality, sigma, horizons
     FROM predictions WHERE venue = $1 AND symbol = $2 AND horizon = '1m'
       AND ts BETWEEN ${MS_TO_TS('$3::bigint')} AND ${MS_TO_TS('$4::bigint')} ORDER BY ts`,
    [venue, symbol, fromMs, toMs],
  );
  return r.rows.map((x) => ({
    venue, symbol, ts: Number(x.ts_ms), horizon: '1m', createdAt: Number(x.created_ms), value: x.value, pUp: x.p_up,
    confidence: x.confidence, regime: x.regime, components: x.components, quality: x.quality,
    ...(x.sigma === null ? {} : { sigma: x.sigma }),
    ...(x.horizons === null ? {} : { horizons: x.horizons }),
  }));
}

export type GapRow = { id: number; from: number; to: number; kind: string; status: string; rows: number; method: string | null; detectedAt: number };

/** Gaps of a symbol that overlap [fromMs, toMs], oldest first. */
export async function gapsBetween(db: Queryable, venue: string, symbol: string, fromMs: number, toMs: number): Promise<GapRow[]> {
  const r = await db.query<{ id: string; from_ms: string; to_ms: string; kind: string; status: string; rows_filled: number; method: string | null; detected_ms: string }>(
    `SELECT id, ${TS_TO_MS('gap_from')} AS from_ms, ${TS_TO_MS('gap_to')} AS to_ms, kind, status, rows_filled, method, ${TS_TO_MS('detected_at')} AS detected_ms
     FROM data_gaps WHERE venue = $1 AND symbol = $2 AND gap_to >= ${MS_TO_TS('$3::bigint')} AND gap_from <= ${MS_TO_TS('$4::bigint')}
     ORDER BY gap_from LIMIT 1000`,
    [venue, symbol, fromMs, toMs],
  );
  return r.rows.map((x) => ({
    id: Number(x.id), from: Number(x.from_ms), to: Number(x.to_ms), kind: x.kind, status: x.status, rows: x.rows_filled, method: x.method, detectedAt: Number(x.detected_ms),
  }));
}

export type QualityRow = { windowFrom: number; windowTo: number; state: string; findings: { kind: string; ts: number; detail: string }[] };

/** Quality reports of a symbol over [fromMs, toMs] that were not healthy (the healthy ones say nothing to look at). */
export async function troubledQualityBetween(db: Queryable, venue: string, symbol: string, fromMs: number, toMs: number): Promise<QualityRow[]> {
  const r = await db.query<{ from_ms: string; to_ms: string; state: string; findings: QualityRow['findings'] }>(
    `SELECT ${TS_TO_MS('window_from')} AS from_ms, ${TS_TO_MS('window_to')} AS to_ms, state, findings FROM quality_reports
     WHERE venue = $1 AND symbol = $2 AND state <> 'healthy'
       AND window_to >= ${MS_TO_TS('$3::bigint')} AND window_from <= ${MS_TO_TS('$4::bigint')}
     ORDER BY window_from LIMIT 1000`,
    [venue, symbol, fromMs, toMs],
  );
  return r.rows.map((x) => ({ windowFrom: Number(x.from_ms), windowTo: Number(x.to_ms), state: x.state, findings: x.findings }));
}
