import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, type Db } from '../../../sql/index.ts';
import { TestDatabase } from '../../helpers/postgres.ts';

const SCRIPT = readFileSync('sql/roles/readonly.sql', 'utf8');

/** Runs `fn` as `signals_reader` (SET ROLE: the privilege checks are the reader's) and rolls back. */
async function asReader<T>(db: Db, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await db.connect();
  try {
    await c.query('BEGIN');
    await c.query('SET LOCAL ROLE signals_reader');
    return await fn(c);
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    c.release();
  }
}

const denied = async (db: Db, sql: string): Promise<string | undefined> =>
  asReader(db, async (c) => {
    try {
      await c.query(sql);
      return undefined;
    } catch (err) {
      return (err as { code?: string }).code;
    }
  });

describe('sql/roles/readonly.sql: the read-only role for consumers that only read', () => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await TestDatabase.create('readonly');
    db = createPool(database.url, 2);
    await migrate(db);
    await db.query(SCRIPT);
    await db.query(SCRIPT); // idempotent
  });
  afterAll(async () => {
    await db?.end();
    await database?.dispose();
  });

  it('can read every table and view of the schema', async () => {
    const { rows } = await db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    const names = rows.map((r) => r.name);
    for (const t of ['ticks', 'bars_1m', 'predictions', 'model_versions', 'actor_snapshots']) expect(names, `migrations create ${t}`).toContain(t);
    for (const name of names) {
      const code = await denied(db, `SELECT * FROM "${name}" LIMIT 1`);
      expect(code, `SELECT on ${name} must be allowed`).toBeUndefined();
    }
  });

  it('cannot write, delete, truncate or create', async () => {
    const now = new Date().toISOString();
    const attempts = {
      insert: `INSERT INTO ticks (venue, symbol, ts, trade_id, price, size) VALUES ('x', 'y', '${now}', '1', 1, 1)`,
      update: `UPDATE bars_1m SET close = 1`,
      delete: `DELETE FROM predictions`,
      truncate: `TRUNCATE model_versions`,
      drop: `DROP TABLE ticks`,
    };
    for (const [what, sql] of Object.entries(attempts)) {
      const code = await denied(db, sql);
      // 42501 insufficient_privilege; 42501 also for DROP by a non-owner.
      expect(code, `${what} must be refused with insufficient_privilege`).toBe('42501');
    }
    // PostgreSQL 15+ no longer lets every role create in schema public (see the script's note for 14 and older).
    const version = Number((await db.query<{ v: string }>('SHOW server_version_num')).rows[0]?.v);
    if (version >= 150_000) expect(await denied(db, 'CREATE TABLE reader_made (id int)'), 'create in public must be refused').toBe('42501');
  });

  it('can read tables created after it was set up (default privileges)', async () => {
    await db.query('CREATE TABLE later_table (id int)');
    expect(await denied(db, 'SELECT * FROM later_table'), 'default privileges cover new tables').toBeUndefined();
    expect(await denied(db, 'INSERT INTO later_table VALUES (1)')).toBe('42501');
  });
});
