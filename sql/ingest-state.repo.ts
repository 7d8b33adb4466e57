import type pg from 'pg';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/** The ingest path's per-series state as stored in `ingest_state`. */
export type IngestStateRow = { venue: string; symbol: string; openMinute: number | undefined; lastTickTs: number };

export async function saveIngestState(client: pg.ClientBase, rows: readonly IngestStateRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO ingest_state (venue, symbol, open_minute, last_tick_ts, updated_at)
     SELECT v, s, CASE WHEN m IS NULL THEN NULL ELSE ${MS_TO_TS('m')} END, ${MS_TO_TS('t')}, now()
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(v, s, m, t)
     ON CONFLICT (venue, symbol) DO UPDATE
       SET open_minute = EXCLUDED.open_minute, last_tick_ts = greatest(ingest_state.last_tick_ts, EXCLUDED.last_tick_ts),
           updated_at = now()`,
    [rows.map((r) => r.venue), rows.map((r) => r.symbol), rows.map((r) => r.openMinute ?? null), rows.map((r) => r.lastTickTs)],
  );
}

export async function loadIngestState(db: pg.Pool | pg.ClientBase): Promise<IngestStateRow[]> {
  const r = await db.query<{ venue: string; symbol: string; open_ms: number | null; last_ms: number }>(
    `SELECT venue, symbol, ${TS_TO_MS('open_minute')} AS open_ms, ${TS_TO_MS('last_tick_ts')} AS last_ms FROM ingest_state`,
  );
  return r.rows.map((row) => ({
    venue: row.venue,
    symbol: row.symbol,
    openMinute: row.open_ms === null ? undefined : Number(row.open_ms),
    lastTickTs: Number(row.last_ms),
  }));
}
