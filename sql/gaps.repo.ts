import type pg from 'pg';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/**
 * Repository of `data_gaps` (missing bar ranges and how they were filled) and of
 * the bar reads/writes the backfill needs. Times are epoch ms; gap bounds are the
 * open times of the first and last missing bar, inclusive.
 */

type Queryable = pg.Pool | pg.ClientBase;

export const GAP_STATUSES = ['open', 'filling', 'filled', 'unfillable'] as const;
export type GapStatus = (typeof GAP_STATUSES)[number];

/** A gap to record (quality/types.ts `Gap` has this shape). */
export type GapInput = {
  venue: string;
  symbol: string;
  from: number;
  to: number;
  kind: 'time' | 'sequence' | 'silence';
  bars: number;
};

/** A row of `data_gaps`. `created` on a record call: false when the same range was already recorded. */
export type GapRecord = GapInput & {
  id: number;
  status: GapStatus;
  detectedAt: number;
  rowsFilled: number;
  method: string | undefined;
  attempts: number;
  filledAt: number | undefined;
  detail: Record<string, unknown>;
};

type GapRowDb = {
  id: number;
  venue: string;
  symbol: string;
  from_ms: number;
  to_ms: number;
  kind: GapInput['kind'];
  status: GapStatus;
  detected_ms: number;
  rows_filled: number;
  method: string | null;
  attempts: number;
  filled_ms: number | null;
  detail: Record<string, unknown>;
};

const GAP_COLUMNS = `id, venue, symbol, ${TS_TO_MS('gap_from')} AS from_ms, ${TS_TO_MS('gap_to')} AS to_ms, kind, status,
  ${TS_TO_MS('detected_at')} AS detected_ms, rows_filled, method, attempts, ${TS_TO_MS('filled_at')} AS filled_ms, detail`;

function toGapRecord(r: GapRowDb): GapRecord {
  const bars = r.detail['bars'];
  return {
    id: Number(r.id),
    venue: r.venue,
    symbol: r.symbol,
    from: Number(r.from_ms),
    to: Number(r.to_ms),
    kind: r.kind,
    bars: typeof bars === 'number' ? bars : 0,
    status: r.status,
    detectedAt: Number(r.detected_ms),
    rowsFilled: r.rows_filled,
    method: r.method ?? undefined,
    attempts: r.attempts,
    filledAt: r.filled_ms === null ? undefined : Number(r.filled_ms),
    detail: r.detail,
  };
}

/**
 * Records gaps, idempotently: a range already recorded (same venue, symbol, from,
 * to) is returned as it is, with `created: false`. One statement for the batch.
 */
export async function recordGaps(db: Queryable, gaps: readonly GapInput[]): Promise<Array<GapRecord & { created: boolean }>> {
  // One row per range: ON CONFLICT DO UPDATE may not touch a row twice in a statement.
  const unique = [...new Map(gaps.map((g) => [`${g.venue}\u0000${g.symbol}\u0000${g.from}\u0000${g.to}`, g])).values()];
  if (unique.length === 0) return [];
  // The no-op update makes an existing row come back from RETURNING; xmax = 0 marks a fresh insert.
  const r = await db.query<GapRowDb & { created: boolean }>(
    `INSERT INTO data_gaps (venue, symbol, gap_from, gap_to, kind, detail)
     SELECT v, s, ${MS_TO_TS('f')}, ${MS_TO_TS('t')}, k, jsonb_build_object('bars', n)
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::int[]) AS g(v, s, f, t, k, n)
     ON CONFLICT (venue, symbol, gap_from, gap_to) DO UPDATE SET kind = data_gaps.kind
     RETURNING ${GAP_COLUMNS}, (xmax = 0) AS created`,
    [
      unique.map((g) => g.venue),
      unique.map((g) => g.symbol),
      unique.map((g) => g.from),
      unique.map((g) => g.to),
      unique.map((g) => g.kind),
      unique.map((g) => g.bars),
    ],
  );
  return r.rows.map((row) => ({ ...toGapRecord(row), created: row.created }));
}

/** Starts a fill attempt: status `filling`, attempts + 1. Returns the updated row. */
export async function startGapAttempt(db: Queryable, id: number): Promise<GapRecord> {
  const r = await db.query<GapRowDb>(
    `UPDATE data_gaps SET status = 'filling', attempts = attempts + 1 WHERE id = $1 RETURNING ${GAP_COLUMNS}`,
    [id],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`data_gaps row ${id} does not exist`);
  return toGapRecord(row);
}

/**
 * Ends a fill attempt. `rows` is added to `rows_filled` (attempts accumulate); the
 * resolution time `filled_at` is set for `filled` and `unfillable`; `detail` is merged.
 */
export async function finishGapAttempt(
  db: Queryable,
  id: number,
  result: { status: GapStatus; rows: number; method: string; detail?: Record<string, unknown> },
): Promise<GapRecord> {
  const r = await db.query<GapRowDb>(
    `UPDATE data_gaps
     SET status = $2, rows_filled = rows_filled + $3, method = $4, detail = detail || $5::jsonb,
         filled_at = CASE WHEN $2 IN ('filled', 'unfillable') THEN now() ELSE NULL END
     WHERE id = $1 RETURNING ${GAP_COLUMNS}`,
    [id, result.status, result.rows, result.method, JSON.stringify(result.detail ?? {})],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`data_gaps row ${id} does not exist`);
  return toGapRecord(row);
}

export type GapFilter = { venue?: string; symbol?: string; statuses?: readonly GapStatus[]; since?: number };

function filterSql(f: GapFilter, first = 1): { where: string; params: unknown[] } {
  const params: unknown[] = [f.venue ?? null, f.symbol ?? null, f.statuses ? [...f.statuses] : null, f.since ?? null];
  const p = (i: number) => `$${first + i}`;
  return {
    where: `(${p(0)}::text IS NULL OR venue = ${p(0)}) AND (${p(1)}::text IS NULL OR symbol = ${p(1)})
      AND (${p(2)}::text[] IS NULL OR status = ANY(${p(2)}::text[]))
      AND (${p(3)}::bigint IS NULL OR detected_at >= ${MS_TO_TS(`${p(3)}::bigint`)})`,
    params,
  };
}

/** Gaps matching a filter, oldest range first. */
export async function listGaps(db: Queryable, filter: GapFilter = {}): Promise<GapRecord[]> {
  const { where, params } = filterSql(filter);
  const r = await db.query<GapRowDb>(`SELECT ${GAP_COLUMNS} FROM data_gaps WHERE ${where} ORDER BY gap_from, id`, params);
  return r.rows.map(toGapRecord);
}

/** Backfill statistics over `data_gaps`; fill times are detection -> filled, in ms. */
export type GapStats = {
  found: number;
  filled: number;
  unfillable: number;
  pending: number;
  rowsFilled: number;
  fillMs: { median: number | undefined; p95: number | undefined; max: number | undefined };
};

/** Gaps found / filled / unfillable / still pending, rows filled and time to fill. */
export async function gapStats(db: Queryable, filter: GapFilter = {}): Promise<GapStats> {
  const { where, params } = filterSql(filter);
  const r = await db.query<{
    found: number;
    filled: number;
    unfillable: number;
    pending: number;
    rows: number;
    median_ms: number | null;
    p95_ms: number | null;
    max_ms: number | null;
  }>(
    `WITH g AS (SELECT *, extract(epoch FROM filled_at - detected_at) * 1000 AS fill_ms FROM data_gaps WHERE ${where})
     SELECT count(*)::int AS found,
            count(*) FILTER (WHERE status = 'filled')::int AS filled,
            count(*) FILTER (WHERE status = 'unfillable')::int AS unfillable,
            count(*) FILTER (WHERE status IN ('open', 'filling'))::int AS pending,
            coalesce(sum(rows_filled), 0)::int AS rows,
            (percentile_cont(0.5) WITHIN GROUP (ORDER BY fill_ms) FILTER (WHERE status = 'filled'))::float8 AS median_ms,
            (percentile_cont(0.95) WITHIN GROUP (ORDER BY fill_ms) FILTER (WHERE status = 'filled'))::float8 AS p95_ms,
            (max(fill_ms) FILTER (WHERE status = 'filled'))::float8 AS max_ms
     FROM g`,
    params,
  );
  const row = r.rows[0];
  return {
    found: row?.found ?? 0,
    filled: row?.filled ?? 0,
    unfillable: row?.unfillable ?? 0,
    pending: row?.pending ?? 0,
    rowsFilled: row?.rows ?? 0,
    fillMs: { median: row?.median_ms ?? undefined, p95: row?.p95_ms ?? undefined, max: row?.max_ms ?? undefined },
  };
}

/** Open times of the stored bars of one series in [from, to] (inclusive), ascending. */
export async function readBarTimes(db: Queryable, venue: string, symbol: string, from: number, to: number): Promise<number[]> {
  const r = await db.query<{ ts_ms: number }>(
    `SELECT ${TS_TO_MS('ts')} AS ts_ms FROM bars_1m
     WHERE venue = $1 AND symbol = $2 AND ts BETWEEN ${MS_TO_TS('$3::bigint')} AND ${MS_TO_TS('$4::bigint')}
     ORDER BY ts`,
    [venue, symbol, from, to],
  );
  return r.rows.map((row) => Number(row.ts_ms));
}

/** Open time of the newest stored bar of a series, if any. */
export async function lastBarTime(db: Queryable, venue: string, symbol: string): Promise<number | undefined> {
  const r = await db.query<{ ts_ms: number | null }>(
    `SELECT ${TS_TO_MS('max(ts)')} AS ts_ms FROM bars_1m WHERE venue = $1 AND symbol = $2`,
    [venue, symbol],
  );
  const ts = r.rows[0]?.ts_ms;
  return ts === null || ts === undefined ? undefined : Number(ts);
}

/** A bar's values as the backfill reads and writes them. */
export type BackfillBar = {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  trades?: number;
};

type ValuesRowDb = { ts_ms: number; open: number; high: number; low: number; close: number; volume: number; trades: number | null; source: string };

function toBackfillBar(r: ValuesRowDb): BackfillBar & { source: string } {
  const bar: BackfillBar & { source: string } = {
    ts: Number(r.ts_ms),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    source: r.source,
  };
  if (r.trades !== null) bar.trades = r.trades;
  return bar;
}

/**
 * Bars of a series in [from, to] plus the nearest stored bar on each side, ascending
 * (the neighbours an interpolation needs). `excludeSources` drops e.g. `interpolated`.
 */
export async function readBarsAround(
  db: Queryable,
  venue: string,
  symbol: string,
  from: number,
  to: number,
  excludeSources: readonly string[] = [],
): Promise<Array<BackfillBar & { source: string }>> {
  const cols = `${TS_TO_MS('ts')} AS ts_ms, open, high, low, close, volume, trades, source`;
  const keep = `venue = $1 AND symbol = $2 AND NOT (source = ANY($5::text[]))`;
  const r = await db.query<ValuesRowDb>(
    `(SELECT ${cols} FROM bars_1m WHERE ${keep} AND ts < ${MS_TO_TS('$3::bigint')} ORDER BY ts DESC LIMIT 1)
     UNION ALL
     (SELECT ${cols} FROM bars_1m WHERE ${keep} AND ts BETWEEN ${MS_TO_TS('$3::bigint')} AND ${MS_TO_TS('$4::bigint')})
     UNION ALL
     (SELECT ${cols} FROM bars_1m WHERE ${keep} AND ts > ${MS_TO_TS('$4::bigint')} ORDER BY ts LIMIT 1)
     ORDER BY ts_ms`,
    [venue, symbol, from, to, [...excludeSources]],
  );
  return r.rows.map(toBackfillBar);
}

/**
 * Writes filled bars with the given source, never overwriting a real bar: a time
 * that already has a bar is left alone, except an `interpolated` one, which a real
 * (non-interpolated) fill replaces with revision + 1. Every row written also gets a
 * `bar_outbox` row in the same statement (hence the same transaction), so the
 * ingest path's outbox publisher publishes it. Returns how many rows were written.
 */
export async function insertFilledBars(
  db: Queryable,
  venue: string,
  symbol: string,
  bars: readonly BackfillBar[],
  source: 'backfill' | 'interpolated',
): Promise<number> {
  if (bars.length === 0) return 0;
  const r = await db.query<{ n: number }>(
    `WITH up AS (
       INSERT INTO bars_1m (venue, symbol, ts, open, high, low, close, volume, trades, source)
       SELECT $1, $2, ${MS_TO_TS('t')}, o, h, l, c, vol, n, $10
       FROM unnest($3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::int[])
         AS u(t, o, h, l, c, vol, n)
       ON CONFLICT (venue, symbol, ts) DO UPDATE
         SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
             volume = EXCLUDED.volume, trades = EXCLUDED.trades, source = EXCLUDED.source,
             revision = bars_1m.revision + 1, updated_at = now()
         WHERE bars_1m.source = 'interpolated' AND EXCLUDED.source <> 'interpolated'
       RETURNING venue, symbol, ts, revision
     ), outbox AS (
       INSERT INTO bar_outbox (venue, symbol, ts, revision)
       SELECT venue, symbol, ts, revision FROM up
       ON CONFLICT DO NOTHING
     )
     SELECT count(*)::int AS n FROM up`,
    [
      venue,
      symbol,
      bars.map((b) => b.ts),
      bars.map((b) => b.open),
      bars.map((b) => b.high),
      bars.map((b) => b.low),
      bars.map((b) => b.close),
      bars.map((b) => b.volume),
      bars.map((b) => b.trades ?? null),
      source,
    ],
  );
  return r.rows[0]?.n ?? 0;
}
