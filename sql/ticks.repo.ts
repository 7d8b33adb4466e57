import type pg from 'pg';
import type { Tick } from '../streams/index.ts';
import { isDataDbError } from './pool.ts';

/** epoch ms (bigint) -> timestamptz, exactly (no float rounding). */
export const MS_TO_TS = (expr: string): string => `(TIMESTAMPTZ 'epoch' + ${expr} * INTERVAL '1 millisecond')`;
/** timestamptz -> epoch ms as bigint. */
export const TS_TO_MS = (expr: string): string => `(extract(epoch FROM ${expr}) * 1000)::bigint`;

type TickColumns = [string[], string[], number[], string[], number[], number[], (string | null)[]];

/** The ticks as column arrays, for `unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::float8[], $6::float8[], $7::text[])`. */
function tickColumns(ticks: readonly Tick[]): TickColumns {
  const n = ticks.length;
  const venue = new Array<string>(n);
  const symbol = new Array<string>(n);
  const ts = new Array<number>(n);
  const tradeId = new Array<string>(n);
  const price = new Array<number>(n);
  const size = new Array<number>(n);
  const side = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const t = ticks[i]!;
    venue[i] = t.venue;
    symbol[i] = t.symbol;
    ts[i] = t.ts;
    tradeId[i] = t.tradeId;
    price[i] = t.price;
    size[i] = t.size;
    side[i] = t.side ?? null;
  }
  return [venue, symbol, ts, tradeId, price, size, side];
}

const UNNEST_TICKS = `unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::float8[], $6::float8[], $7::text[])`;

/**
 * Inserts a batch of ticks in one statement (`unnest` of column arrays).
 * Idempotent: a tick already stored (same venue, symbol, ts, trade_id) is skipped,
 * so redeliveries and re-published ticks never duplicate rows.
 * Returns the number of rows actually inserted.
 */
export async function insertTicks(client: pg.ClientBase, ticks: readonly Tick[]): Promise<number> {
  if (ticks.length === 0) return 0;
  const result = await client.query(
    `INSERT INTO ticks (venue, symbol, ts, trade_id, price, size, side)
     SELECT v, s, ${MS_TO_TS('t')}, id, p, q, sd
     FROM ${UNNEST_TICKS} AS u(v, s, t, id, p, q, sd)
     ON CONFLICT DO NOTHING`,
    tickColumns(ticks),
  );
  return result.rowCount ?? 0;
}

/** What an insert did: rows stored, and the ticks skipped because their key was already stored. */
export type TickInsert = { stored: number; existing: Tick[] };

/**
 * `insertTicks` that also says which ticks were skipped (their key already
 * stored), so the caller can tell a plain duplicate from a conflicting one (see
 * `findConflictingTicks`) without a second look at the rows it did insert. Still
 * one statement: the ticks not among the inserted rows come back by position, in
 * the usual case none. The keys of `ticks` must be distinct.
 */
export async function insertTicksReporting(client: pg.ClientBase, ticks: readonly Tick[]): Promise<TickInsert> {
  if (ticks.length === 0) return { stored: 0, existing: [] };
  const r = await client.query<{ stored: number; existing: number[] }>(
    `WITH u AS (
       SELECT v, s, ${MS_TO_TS('t')} AS ts, id, p, q, sd, i
       FROM ${UNNEST_TICKS} WITH ORDINALITY AS u(v, s, t, id, p, q, sd, i)
     ), ins AS (
       INSERT INTO ticks (venue, symbol, ts, trade_id, price, size, side)
       SELECT v, s, ts, id, p, q, sd FROM u
       ON CONFLICT DO NOTHING
       RETURNING venue, symbol, ts, trade_id
     )
     SELECT (SELECT count(*) FROM ins)::int AS stored,
            coalesce((SELECT array_agg(u.i::int ORDER BY u.i) FROM u
                      WHERE NOT EXISTS (SELECT 1 FROM ins
                                        WHERE ins.venue = u.v AND ins.symbol = u.s AND ins.ts = u.ts AND ins.trade_id = u.id)),
                     '{}') AS existing`,
    tickColumns(ticks),
  );
  const row = r.rows[0];
  return { stored: row?.stored ?? 0, existing: (row?.existing ?? []).map((i) => ticks[i - 1]!) };
}

/** A tick whose key is stored with other content: what is stored (kept as it is). */
export type TickConflict = { tick: Tick; stored: { price: number; size: number; side: 'buy' | 'sell' | null } };

/**
 * The ticks among `ticks` whose key is stored with a different price, size or
 * side, with the stored values. A tick stored with the same content (a plain
 * duplicate) or not stored at all is not returned. Reads only: takes no row lock.
 */
export async function findConflictingTicks(client: pg.ClientBase | pg.Pool, ticks: readonly Tick[]): Promise<TickConflict[]> {
  if (ticks.length === 0) return [];
  const r = await client.query<{ i: number; price: number; size: number; side: 'buy' | 'sell' | null }>(
    `SELECT u.i::int AS i, t.price, t.size, t.side
     FROM ${UNNEST_TICKS} WITH ORDINALITY AS u(v, s, tm, id, p, q, sd, i)
     JOIN ticks t ON t.venue = u.v AND t.symbol = u.s AND t.ts = ${MS_TO_TS('u.tm')} AND t.trade_id = u.id
     WHERE (t.price, t.size, t.side) IS DISTINCT FROM (u.p, u.q, u.sd)
     ORDER BY u.i`,
    tickColumns(ticks),
  );
  return r.rows.map((row) => ({ tick: ticks[row.i - 1]!, stored: { price: row.price, size: row.size, side: row.side } }));
}

/** Deletes the given ticks (by key); returns how many rows went. For taking back ticks of an open transaction. */
export async function deleteTicks(client: pg.ClientBase, ticks: readonly Tick[]): Promise<number> {
  if (ticks.length === 0) return 0;
  const [venue, symbol, ts, tradeId] = tickColumns(ticks);
  const r = await client.query(
    `DELETE FROM ticks t USING unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS d(v, s, tm, id)
     WHERE t.venue = d.v AND t.symbol = d.s AND t.ts = ${MS_TO_TS('d.tm')} AND t.trade_id = d.id`,
    [venue, symbol, ts, tradeId],
  );
  return r.rowCount ?? 0;
}

export async function countTicks(db: pg.Pool | pg.ClientBase, venue?: string, symbol?: string): Promise<number> {
  const r = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM ticks WHERE ($1::text IS NULL OR venue = $1) AND ($2::text IS NULL OR symbol = $2)`,
    [venue ?? null, symbol ?? null],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** A tick PostgreSQL refused, with its error. */
export type RefusedTick = { tick: Tick; error: string };

/**
 * Inserts ticks like `insertTicksReporting`, but a tick PostgreSQL refuses (a data
 * error, see `isDataDbError`) is set aside instead of failing the rest: halves are
 * tried under savepoints until the refused ticks stand alone. For the rare batch
 * whose bulk insert failed with a data error; run inside a transaction.
 */
export async function insertTicksIsolating(
  client: pg.ClientBase,
  ticks: readonly Tick[],
): Promise<TickInsert & { refused: RefusedTick[] }> {
  if (ticks.length === 0) return { stored: 0, existing: [], refused: [] };
  await client.query('SAVEPOINT isolate_ticks');
  try {
    const inserted = await insertTicksReporting(client, ticks);
    await client.query('RELEASE SAVEPOINT isolate_ticks');
    return { ...inserted, refused: [] };
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT isolate_ticks');
    await client.query('RELEASE SAVEPOINT isolate_ticks');
    if (!isDataDbError(err)) throw err;
    const [only] = ticks;
    if (ticks.length === 1 && only) return { stored: 0, existing: [], refused: [{ tick: only, error: err instanceof Error ? err.message : String(err) }] };
    const mid = ticks.length >> 1;
    const a = await insertTicksIsolating(client, ticks.slice(0, mid));
    const b = await insertTicksIsolating(client, ticks.slice(mid));
    return { stored: a.stored + b.stored, existing: [...a.existing, ...b.existing], refused: [...a.refused, ...b.refused] };
  }
}
