import type pg from 'pg';
import type { Bar, BarSource } from '../streams/index.ts';
import { isDataDbError } from './pool.ts';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/** A bar as stored: the message fields plus its revision (0 = first version). */
export type StoredBar = Bar & { revision: number };
export type BarKey = { venue: string; symbol: string; ts: number };

type BarRowDb = {
  venue: string;
  symbol: string;
  ts_ms: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  trades: number | null;
  source: BarSource;
  revision: number;
};

const BAR_COLUMNS = `venue, symbol, ${TS_TO_MS('ts')} AS ts_ms, open, high, low, close, volume, trades, source, revision`;

export function toStoredBar(r: BarRowDb): StoredBar {
  const bar: StoredBar = {
    venue: r.venue,
    symbol: r.symbol,
    interval: '1m',
    ts: Number(r.ts_ms),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    source: r.source,
    revision: r.revision,
  };
  if (r.trades !== null) bar.trades = r.trades;
  return bar;
}

// An upsert that only touches a row whose values really changed; a change bumps
// the revision, and every new or changed bar gets an outbox row in the same statement.
const UPSERT_TAIL = `
  ON CONFLICT (venue, symbol, ts) DO UPDATE
    SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, trades = EXCLUDED.trades, source = EXCLUDED.source,
        revision = bars_1m.revision + 1, updated_at = now()
    WHERE (bars_1m.open, bars_1m.high, bars_1m.low, bars_1m.close, bars_1m.volume, bars_1m.trades)
          IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume, EXCLUDED.trades)
  RETURNING ${BAR_COLUMNS}
), outbox AS (
  INSERT INTO bar_outbox (venue, symbol, ts, revision)
  SELECT venue, symbol, ${MS_TO_TS('ts_ms')}, revision FROM up
  ON CONFLICT DO NOTHING
)
SELECT * FROM up ORDER BY venue, symbol, ts_ms`;

/**
 * Closes (or re-closes, for late ticks) the given minutes from the ticks stored
 * for them: open = first tick, close = last tick (by ts, then trade id in byte
 * order, whatever the database collation), high/low,
 * volume = exact decimal sum of sizes, trades = tick count. Returns the bars that
 * are new or changed (each also queued in `bar_outbox`).
 */
export async function closeBarsFromTicks(
  client: pg.ClientBase,
  minutes: readonly BarKey[],
  source: BarSource = 'live',
): Promise<StoredBar[]> {
  if (minutes.length === 0) return [];
  const r = await client.query<BarRowDb>(
    `WITH k AS (
       SELECT DISTINCT v, s, m FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(v, s, m)
     ), agg AS (
       -- One index range scan per minute (LATERAL). A join on (venue, symbol) with the
       -- time range as a filter lets the planner hash-join every tick of the series
       -- against every minute: quadratic when a batch closes many minutes of few
       -- symbols (catching up after a burst of history).
       SELECT k.v AS venue, k.s AS symbol, ${MS_TO_TS('k.m')} AS ts, a.open, a.high, a.low, a.close, a.volume, a.trades
       FROM k CROSS JOIN LATERAL (
         SELECT (array_agg(t.price ORDER BY t.ts, t.trade_id COLLATE "C"))[1] AS open,
                max(t.price) AS high, min(t.price) AS low,
                (array_agg(t.price ORDER BY t.ts DESC, t.trade_id COLLATE "C" DESC))[1] AS close,
                sum(t.size::numeric)::float8 AS volume, count(*)::int AS trades
         FROM ticks t
         WHERE t.venue = k.v AND t.symbol = k.s
           AND t.ts >= ${MS_TO_TS('k.m')} AND t.ts < ${MS_TO_TS('(k.m + 60000)')}
       ) a
       -- A minute without ticks has no bar (the aggregate of no rows is one row of nulls).
       WHERE a.trades > 0
     ), up AS (
       INSERT INTO bars_1m (venue, symbol, ts, open, high, low, close, volume, trades, source)
       SELECT venue, symbol, ts, open, high, low, close, volume, trades, $4 FROM agg
       ${UPSERT_TAIL}`,
    [minutes.map((m) => m.venue), minutes.map((m) => m.symbol), minutes.map((m) => m.ts), source],
  );
  return r.rows.map(toStoredBar);
}

/** A minute whose bar PostgreSQL refused to close, with the database's message. */
export type RefusedBar = { minute: BarKey; error: string };

type Attempt = { ok: true; bars: StoredBar[] } | { ok: false; error: string };

/** `closeBarsFromTicks` under a savepoint: a data error is returned (and undone), any other error thrown. */
async function closeUnderSavepoint(client: pg.ClientBase, minutes: readonly BarKey[], source: BarSource): Promise<Attempt> {
  await client.query('SAVEPOINT close_bars');
  try {
    const bars = await closeBarsFromTicks(client, minutes, source);
    await client.query('RELEASE SAVEPOINT close_bars');
    return { ok: true, bars };
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT close_bars');
    await client.query('RELEASE SAVEPOINT close_bars');
    if (!isDataDbError(err)) throw err;
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * `closeBarsFromTicks` where a bar PostgreSQL refuses (a data error, see
 * `isDataDbError`, e.g. a volume that overflows float8) does not hold up the
 * others, and is never retried as if it were an outage: the minutes are closed
 * under a savepoint, and after a data error one by one under their own. A refused
 * minute goes to `repair`, which may take back the ticks that broke it (true when
 * it did), and is closed once more; still refused, its bar is left as it was and
 * the minute comes back in `skipped`. Bars in the same order as
 * `closeBarsFromTicks`. Run inside a transaction.
 */
export async function closeBarsIsolating(
  client: pg.ClientBase,
  minutes: readonly BarKey[],
  source: BarSource,
  repair: (minute: BarKey, error: string) => Promise<boolean>,
): Promise<{ bars: StoredBar[]; skipped: RefusedBar[] }> {
  if (minutes.length === 0) return { bars: [], skipped: [] };
  const all = await closeUnderSavepoint(client, minutes, source);
  if (all.ok) return { bars: all.bars, skipped: [] };
  const distinct = new Map<string, BarKey>();
  for (const m of minutes) distinct.set(`${m.venue}\u0000${m.symbol}\u0000${m.ts}`, m);
  const ordered = [...distinct.values()].sort((a, b) =>
    a.venue < b.venue ? -1 : a.venue > b.venue ? 1 : a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.ts - b.ts,
  );
  const bars: StoredBar[] = [];
  const skipped: RefusedBar[] = [];
  for (const minute of ordered) {
    let attempt = await closeUnderSavepoint(client, [minute], source);
    if (!attempt.ok && (await repair(minute, attempt.error))) attempt = await closeUnderSavepoint(client, [minute], source);
    if (attempt.ok) bars.push(...attempt.bars);
    else skipped.push({ minute, error: attempt.error });
  }
  return { bars, skipped };
}

/**
 * Upserts complete bars (external bar feeds, backfill, replay-as-bars).
 * Returns the bars that are new or changed (each queued in `bar_outbox`).
 */
export async function upsertBars(client: pg.ClientBase, bars: readonly Bar[]): Promise<StoredBar[]> {
  if (bars.length === 0) return [];
  const col = <K extends keyof Bar>(k: K) => bars.map((b) => b[k] ?? null);
  const r = await client.query<BarRowDb>(
    `WITH up AS (
       INSERT INTO bars_1m (venue, symbol, ts, open, high, low, close, volume, trades, source)
       SELECT v, s, ${MS_TO_TS('t')}, o, h, l, c, vol, n, src
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
                   $8::float8[], $9::int[], $10::text[]) AS u(v, s, t, o, h, l, c, vol, n, src)
       ${UPSERT_TAIL}`,
    [col('venue'), col('symbol'), col('ts'), col('open'), col('high'), col('low'), col('close'), col('volume'), col('trades'), col('source')],
  );
  return r.rows.map(toStoredBar);
}

/** Bars of one series in time order, `from`/`to` inclusive epoch ms. */
export async function readBars(
  db: pg.Pool | pg.ClientBase,
  venue: string,
  symbol: string,
  from = 0,
  to = Number.MAX_SAFE_INTEGER,
): Promise<StoredBar[]> {
  const r = await db.query<BarRowDb>(
    `SELECT ${BAR_COLUMNS} FROM bars_1m
     WHERE venue = $1 AND symbol = $2 AND ts >= ${MS_TO_TS('$3::bigint')} AND ts <= ${MS_TO_TS('$4::bigint')}
     ORDER BY ts`,
    [venue, symbol, from, Math.min(to, 32_503_680_000_000)],
  );
  return r.rows.map(toStoredBar);
}

/** The last `n` bars of one series, in time order. */
export async function readLastBars(db: pg.Pool | pg.ClientBase, venue: string, symbol: string, n: number): Promise<StoredBar[]> {
  const r = await db.query<BarRowDb>(
    `SELECT * FROM (SELECT ${BAR_COLUMNS} FROM bars_1m WHERE venue = $1 AND symbol = $2 ORDER BY ts DESC LIMIT $3) last ORDER BY ts_ms`,
    [venue, symbol, n],
  );
  return r.rows.map(toStoredBar);
}

/** Bars waiting in the outbox (oldest first), with their current values. */
export async function readOutbox(db: pg.Pool | pg.ClientBase, limit: number): Promise<StoredBar[]> {
  const r = await db.query<BarRowDb>(
    `SELECT b.venue, b.symbol, ${TS_TO_MS('b.ts')} AS ts_ms, b.open, b.high, b.low, b.close, b.volume, b.trades,
            b.source, o.revision
     FROM bar_outbox o JOIN bars_1m b USING (venue, symbol, ts)
     ORDER BY o.ts, o.venue, o.symbol, o.revision
     LIMIT $1`,
    [limit],
  );
  return r.rows.map(toStoredBar);
}

/** Removes published bars from the outbox. */
export async function deleteOutbox(db: pg.Pool | pg.ClientBase, bars: readonly StoredBar[]): Promise<void> {
  if (bars.length === 0) return;
  await db.query(
    `DELETE FROM bar_outbox o USING unnest($1::text[], $2::text[], $3::bigint[], $4::int[]) AS d(v, s, t, r)
     WHERE o.venue = d.v AND o.symbol = d.s AND o.ts = ${MS_TO_TS('d.t')} AND o.revision = d.r`,
    [bars.map((b) => b.venue), bars.map((b) => b.symbol), bars.map((b) => b.ts), bars.map((b) => b.revision)],
  );
}
