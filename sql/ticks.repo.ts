import type pg from 'pg';
import type { Tick } from '../streams/index.ts';
import { isDataDbError } from './pool.ts';

/** epoch ms (bigint) -> timestamptz, exactly (no float rounding). */
export const MS_TO_TS = (expr: string): string => `(TIMESTAMPTZ 'epoch' + ${expr} * INTERVAL '1 millisecond')`;
/** timestamptz -> epoch ms as bigint. */
export const TS_TO_MS = (expr: string): string => `(extract(epoch FROM ${expr}) * 1000)::bigint`;

/**
 * Inserts a batch of ticks in one statement (`unnest` of column arrays).
 * Idempotent: a tick already stored (same venue, symbol, ts, trade_id) is skipped,
 * so redeliveries and re-published ticks never duplicate rows.
 * Returns the number of rows actually inserted.
 */
export async function insertTicks(client: pg.ClientBase, ticks: readonly Tick[]): Promise<number> {
  if (ticks.length === 0) return 0;
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
  const result = await client.query(
    `INSERT INTO ticks (venue, symbol, ts, trade_id, price, size, side)
     SELECT v, s, ${MS_TO_TS('t')}, id, p, q, sd
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::float8[], $6::float8[], $7::text[])
          AS u(v, s, t, id, p, q, sd)
     ON CONFLICT DO NOTHING`,
    [venue, symbol, ts, tradeId, price, size, side],
  );
  return result.rowCount ?? 0;
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
 * Inserts ticks like `insertTicks`, but a tick PostgreSQL refuses (a data error,
 * see `isDataDbError`) is set aside instead of failing the rest: halves are tried
 * under savepoints until the refused ticks stand alone. For the rare batch whose
 * bulk insert failed with a data error; run inside a transaction.
 */
export async function insertTicksIsolating(
  client: pg.ClientBase,
  ticks: readonly Tick[],
): Promise<{ stored: number; refused: RefusedTick[] }> {
  if (ticks.length === 0) return { stored: 0, refused: [] };
  await client.query('SAVEPOINT isolate_ticks');
  try {
    const stored = await insertTicks(client, ticks);
    await client.query('RELEASE SAVEPOINT isolate_ticks');
    return { stored, refused: [] };
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT isolate_ticks');
    await client.query('RELEASE SAVEPOINT isolate_ticks');
    if (!isDataDbError(err)) throw err;
    const [only] = ticks;
    if (ticks.length === 1 && only) return { stored: 0, refused: [{ tick: only, error: err instanceof Error ? err.message : String(err) }] };
    const mid = ticks.length >> 1;
    const a = await insertTicksIsolating(client, ticks.slice(0, mid));
    const b = await insertTicksIsolating(client, ticks.slice(mid));
    return { stored: a.stored + b.stored, refused: [...a.refused, ...b.refused] };
  }
}
