import type pg from 'pg';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/** Repository of `quality_reports` and the tick aggregates the consistency checks compare bars with. */

type Queryable = pg.Pool | pg.ClientBase;

export type QualityState = 'healthy' | 'degraded' | 'quarantined';

/** A stored report (quality/events.schema.ts `QualityReport` minus `type`). */
export type QualityReportRow = {
  venue: string;
  symbol: string;
  windowFrom: number;
  windowTo: number;
  state: QualityState;
  findings: Array<{ kind: string; ts: number; detail: string }>;
};

/** Stores a window's report; the same window reported again replaces the row. */
export async function upsertQualityReport(db: Queryable, report: QualityReportRow): Promise<void> {
  await db.query(
    `INSERT INTO quality_reports (venue, symbol, window_from, window_to, state, findings)
     VALUES ($1, $2, ${MS_TO_TS('$3::bigint')}, ${MS_TO_TS('$4::bigint')}, $5, $6::jsonb)
     ON CONFLICT (venue, symbol, window_from, window_to)
     DO UPDATE SET state = EXCLUDED.state, findings = EXCLUDED.findings, created_at = now()`,
    [report.venue, report.symbol, report.windowFrom, report.windowTo, report.state, JSON.stringify(report.findings)],
  );
}

type ReportRowDb = {
  venue: string;
  symbol: string;
  from_ms: number;
  to_ms: number;
  state: QualityState;
  findings: QualityReportRow['findings'];
};

const REPORT_COLUMNS = `venue, symbol, ${TS_TO_MS('window_from')} AS from_ms, ${TS_TO_MS('window_to')} AS to_ms, state, findings`;

function toReport(r: ReportRowDb): QualityReportRow {
  return {
    venue: r.venue,
    symbol: r.symbol,
    windowFrom: Number(r.from_ms),
    windowTo: Number(r.to_ms),
    state: r.state,
    findings: r.findings,
  };
}

/** The newest window's report of a series (its state is the symbol's current health), if any. */
export async function latestQualityReport(db: Queryable, venue: string, symbol: string): Promise<QualityReportRow | undefined> {
  const r = await db.query<ReportRowDb>(
    `SELECT ${REPORT_COLUMNS} FROM quality_reports WHERE venue = $1 AND symbol = $2 ORDER BY window_from DESC LIMIT 1`,
    [venue, symbol],
  );
  const row = r.rows[0];
  return row ? toReport(row) : undefined;
}

/** Reports of a series in window order. */
export async function listQualityReports(db: Queryable, venue: string, symbol: string): Promise<QualityReportRow[]> {
  const r = await db.query<ReportRowDb>(
    `SELECT ${REPORT_COLUMNS} FROM quality_reports WHERE venue = $1 AND symbol = $2 ORDER BY window_from`,
    [venue, symbol],
  );
  return r.rows.map(toReport);
}

export type TickAggregateRow = { ts: number; open: number; high: number; low: number; close: number; volume: number; trades: number };

/**
 * Per-minute aggregates of stored ticks in [from, to] (minute open times,
 * inclusive), built like the ingest path builds bars: open/close = first/last
 * tick by (ts, trade_id), volume = exact decimal sum, trades = count.
 */
export async function readTickAggregates(
  db: Queryable,
  venue: string,
  symbol: string,
  from: number,
  to: number,
): Promise<TickAggregateRow[]> {
  const r = await db.query<{ ts_ms: number; open: number; high: number; low: number; close: number; volume: number; trades: number }>(
    `SELECT ${TS_TO_MS("date_trunc('minute', ts)")} AS ts_ms,
            (array_agg(price ORDER BY ts, trade_id))[1] AS open, max(price) AS high, min(price) AS low,
            (array_agg(price ORDER BY ts DESC, trade_id DESC))[1] AS close,
            sum(size::numeric)::float8 AS volume, count(*)::int AS trades
     FROM ticks
     WHERE venue = $1 AND symbol = $2 AND ts >= ${MS_TO_TS('$3::bigint')} AND ts < ${MS_TO_TS('($4::bigint + 60000)')}
     GROUP BY 1 ORDER BY 1`,
    [venue, symbol, from, to],
  );
  return r.rows.map((row) => ({ ...row, ts: Number(row.ts_ms) })).map(({ ts, open, high, low, close, volume, trades }) => ({
    ts,
    open,
    high,
    low,
    close,
    volume,
    trades,
  }));
}
