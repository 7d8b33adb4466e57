import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, type Db } from '../../../sql/index.ts';
import { TestDatabase } from '../../helpers/postgres.ts';

describe('migrations', () => {
  let database: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    database = await TestDatabase.create('migrations');
    db = createPool(database.url);
  });
  afterAll(async () => {
    await db.end();
    await database.dispose();
  });

  it('apply on an empty database, then re-run as a no-op, then run twice concurrently', async () => {
    const first = await migrate(db);
    expect(first.applied.length, 'every migration file applied on an empty database').toBeGreaterThanOrEqual(4);
    expect(first.timescale.available, 'plain PostgreSQL here: no TimescaleDB').toBe(false);
    const tables = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['ticks', 'bars_1m', 'data_gaps', 'quality_reports', 'predictions', 'model_versions', 'model_deployments', 'retrain_runs', 'actor_snapshots', 'schema_migrations']),
    );
    const again = await migrate(db);
    expect(again.applied, 're-running applies nothing').toEqual([]);

    // Two processes at once on a fresh database: the advisory lock makes one wait, each file is applied once.
    const other = await TestDatabase.create('migrations_concurrent');
    const a = createPool(other.url);
    const b = createPool(other.url);
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect([...ra.applied, ...rb.applied].sort(), 'each migration applied exactly once across both').toEqual([...first.applied].sort());
      const rows = await a.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
      expect(Number(rows.rows[0]?.n)).toBe(first.applied.length);
    } finally {
      await a.end();
      await b.end();
      await other.dispose();
    }
  });

  it('the plain-PostgreSQL fallback offers bars_5m / bars_1h with the continuous aggregates\' columns', async () => {
    await db.query(`INSERT INTO bars_1m (venue, symbol, ts, open, high, low, close, volume, trades, source)
      SELECT 'v', 's', TIMESTAMPTZ '2024-03-01 00:00Z' + i * INTERVAL '1 minute', 10 + i, 20 + i, 5, 11 + i, 1, 1, 'live'
      FROM generate_series(0, 9) i`);
    const r = await db.query(`SELECT open, high, low, close, volume, bars FROM bars_5m WHERE venue = 'v' ORDER BY ts`);
    expect(r.rows, 'two 5-minute bars: first open, max high, min low, last close, summed volume').toEqual([
      { open: 10, high: 24, low: 5, close: 15, volume: 5, bars: 5 },
      { open: 15, high: 29, low: 5, close: 20, volume: 5, bars: 5 },
    ]);
  });

  it('refuses an applied migration whose file changed', async () => {
    await db.query(`UPDATE schema_migrations SET checksum = 'edited' WHERE name = 'migrations/001_market_data'`);
    await expect(migrate(db)).rejects.toThrow(/001_market_data was applied with different contents/);
  });
});
