import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../../config/index.ts';
import { createPool, DatabaseAccessError, decideTimescale, detectTimescale, ensureDatabase, migrate, type Db, type TimescaleFacts } from '../../../sql/index.ts';
import { adminQuery, adminUrl } from '../../helpers/postgres.ts';

/** A connection URL for `role` (no password: the test server trusts local logins). */
function urlAs(role: string, database: string): string {
  const url = new URL(adminUrl());
  url.username = role;
  url.password = '';
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Answers the `pg_available_extensions` question as a server with TimescaleDB
 * would, and sends every other query to the real connection, as the real role:
 * the TimescaleDB branches of the detection then run on this machine (which has
 * no TimescaleDB), and any query the role may not run still fails for real.
 */
function pretendTimescaleOffered<C extends pg.ClientBase>(client: C, issued: string[]): C {
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'query') {
        return (text: unknown, values?: unknown[]) => {
          const sql = typeof text === 'string' ? text : String((text as { text?: unknown }).text);
          issued.push(sql);
          if (/FROM pg_available_extensions\b/.test(sql)) return Promise.resolve({ rows: [{ default_version: '2.26.0' }], rowCount: 1 });
          return target.query(sql, values);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const facts = (over: Partial<TimescaleFacts>): TimescaleFacts => ({
  database: 'signals',
  installedVersion: undefined,
  availableVersion: '2.26.0',
  superuser: false,
  trusted: true,
  createOnDatabase: true,
  preloadLibraries: undefined,
  license: 'timescale',
  ...over,
});

describe('decideTimescale: the decision from what any role may read (pure)', () => {
  it('not offered by the server: plain PostgreSQL, nothing for an administrator to do', () => {
    const d = decideTimescale(facts({ availableVersion: undefined }));
    expect(d).toEqual({ available: false, reason: 'timescaledb is not in pg_available_extensions', needsAdministrator: false });
  });

  it('installed in the database: used, also by a role that cannot read shared_preload_libraries', () => {
    expect(decideTimescale(facts({ installedVersion: '2.26.0', preloadLibraries: undefined })), 'an unreadable preload setting is no reason to doubt an installation').toEqual({
      available: true,
      installed: true,
      version: '2.26.0',
      license: 'timescale',
    });
    expect(decideTimescale(facts({ installedVersion: '2.26.0', superuser: true, preloadLibraries: 'timescaledb' }))).toMatchObject({ available: true, installed: true });
  });

  it('installed but the readable preload setting lacks it: unavailable, as before', () => {
    const d = decideTimescale(facts({ installedVersion: '2.26.0', superuser: true, preloadLibraries: 'pg_stat_statements' }));
    expect(d).toMatchObject({ available: false, needsAdministrator: true });
    expect(d.available ? '' : d.reason).toMatch(/not in shared_preload_libraries/);
  });

  it('a superuser on a preloaded server creates it (the unchanged TimescaleDB path)', () => {
    for (const preload of ['timescaledb', 'pg_stat_statements, "timescaledb"', 'timescaledb-2.26.0,auto_explain']) {
      expect(decideTimescale(facts({ superuser: true, trusted: false, createOnDatabase: false, preloadLibraries: preload })), preload).toEqual({
        available: true,
        installed: false,
        version: '2.26.0',
        license: 'timescale',
      });
    }
  });

  it('a superuser on a server without the preload: unavailable, with the step for an administrator', () => {
    const d = decideTimescale(facts({ superuser: true, preloadLibraries: 'pg_stat_statements' }));
    expect(d).toMatchObject({ available: false, needsAdministrator: true });
    expect(d.available ? '' : d.reason).toMatch(/not in shared_preload_libraries; an administrator must add timescaledb/);
  });

  it('a role that owns only its database (preload unreadable): unavailable, an administrator must CREATE EXTENSION', () => {
    const d = decideTimescale(facts({ superuser: false, trusted: true, createOnDatabase: true, preloadLibraries: undefined }));
    expect(d).toMatchObject({ available: false, needsAdministrator: true });
    expect(d.available ? '' : d.reason).toMatch(
      /^TimescaleDB 2\.26\.0 is available but not installed in database signals and this role may not read shared_preload_libraries .*; an administrator must run CREATE EXTENSION timescaledb \(needs superuser and shared_preload_libraries\)$/,
    );
  });

  it('a role that may not create extensions at all: unavailable, an administrator must CREATE EXTENSION', () => {
    for (const over of [{ trusted: false }, { createOnDatabase: false }]) {
      const d = decideTimescale(facts({ ...over, preloadLibraries: 'timescaledb' }));
      expect(d).toEqual({
        available: false,
        reason: 'TimescaleDB 2.26.0 is available but not installed in database signals; an administrator must run CREATE EXTENSION timescaledb (needs superuser and shared_preload_libraries)',
        needsAdministrator: true,
      });
    }
  });

  it('a non-superuser that may read the preload setting and create the trusted extension: created, as before', () => {
    expect(decideTimescale(facts({ preloadLibraries: 'timescaledb' }))).toMatchObject({ available: true, installed: false });
  });
});

describe('a least-privileged role that owns its database (real PostgreSQL)', () => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `signals_app_${suffix}`;
  const guest = `signals_guest_${suffix}`;
  const ownDb = `signals_test_lp_${suffix}`;
  const guestDb = `signals_test_lpg_${suffix}`;
  const pools: Db[] = [];
  const pool = (url: string): Db => {
    const p = createPool(url, 2);
    pools.push(p);
    return p;
  };

  beforeAll(async () => {
    await adminQuery(`CREATE ROLE ${owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await adminQuery(`CREATE ROLE ${guest} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await adminQuery(`CREATE DATABASE ${ownDb} OWNER ${owner}`);
    // Owned by the admin: the guest may connect (PUBLIC) but not create in schema public.
    await adminQuery(`CREATE DATABASE ${guestDb}`);
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    for (const db of [ownDb, guestDb]) await adminQuery(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    for (const role of [owner, guest]) await adminQuery(`DROP ROLE IF EXISTS ${role}`);
  });

  it('the role is what the test means: no superuser, no CREATEDB, cannot read shared_preload_libraries', async () => {
    const db = pool(urlAs(owner, ownDb));
    const r = await db.query<{ rolsuper: boolean; rolcreatedb: boolean }>('SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user');
    expect(r.rows[0]).toEqual({ rolsuper: false, rolcreatedb: false });
    await expect(db.query('SHOW shared_preload_libraries'), 'the query the detection must never issue').rejects.toMatchObject({ code: '42501' });
  });

  it('ensureDatabase on its existing database works', async () => {
    expect(await ensureDatabase(urlAs(owner, ownDb)), 'it exists: nothing created').toBe(false);
  });

  it('ensureDatabase on a missing database says an administrator must create it, with the statement', async () => {
    const missing = `signals_test_lpm_${suffix}`;
    const err = await ensureDatabase(urlAs(owner, missing)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'a typed error, not the driver error').toBeInstanceOf(DatabaseAccessError);
    const e = err as DatabaseAccessError;
    expect(e.code).toBe('42501');
    expect(e.exitCode, 'service unavailable').toBe(8);
    expect(e.message).toMatch(new RegExp(`database ${missing} on .* does not exist and role ${owner} may not create it`));
    expect(e.message).toMatch(new RegExp(`must be created by an administrator: CREATE DATABASE ${missing} OWNER ${owner}`));
    expect(e.message, 'one line').not.toMatch(/\n/);
  });

  it('migrate as the owner: every table, the plain-PostgreSQL path, detection without an error', async () => {
    const db = pool(urlAs(owner, ownDb));
    const report = await migrate(db);
    expect(report.timescale).toEqual({ available: false, reason: 'timescaledb is not in pg_available_extensions', needsAdministrator: false });
    expect(report.applied).toEqual(expect.arrayContaining(['migrations/001_market_data', 'plain/001_bars_views']));
    const tables = await db.query<{ tablename: string; tableowner: string }>(`SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(tables.rows.map((r) => r.tablename)).toEqual(
      expect.arrayContaining(['ticks', 'bars_1m', 'data_gaps', 'quality_reports', 'predictions', 'model_versions', 'model_deployments', 'retrain_runs', 'actor_snapshots', 'schema_migrations']),
    );
    expect(new Set(tables.rows.map((r) => r.tableowner)), 'the application role owns what it created').toEqual(new Set([owner]));
    expect((await migrate(db)).applied, 'a second run is a no-op').toEqual([]);
  });

  it('detectTimescale as the owner, on a server that offers TimescaleDB: unavailable with the reason, no query it may not run', async () => {
    const db = pool(urlAs(owner, ownDb));
    const client = await db.connect();
    const issued: string[] = [];
    try {
      const support = await detectTimescale(pretendTimescaleOffered(client, issued));
      expect(support).toMatchObject({ available: false, needsAdministrator: true });
      expect(support.available ? '' : support.reason).toMatch(
        new RegExp(`^TimescaleDB 2\\.26\\.0 is available but not installed in database ${ownDb}.*an administrator must run CREATE EXTENSION timescaledb`),
      );
    } finally {
      client.release();
    }
    expect(issued.join('\n'), 'never SHOW a superuser-only setting').not.toMatch(/\bSHOW\b/i);
  });

  it('migrate as the owner, on a server that offers TimescaleDB: one warning, then plain PostgreSQL', async () => {
    const fresh = `signals_test_lpt_${suffix}`;
    await adminQuery(`CREATE DATABASE ${fresh} OWNER ${owner}`);
    const real = createPool(urlAs(owner, fresh), 2);
    try {
      const issued: string[] = [];
      const offering = { connect: async () => pretendTimescaleOffered(await real.connect(), issued) } as unknown as pg.Pool;
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      });
      const report = await migrate(offering, createRootLogger('info', sink));
      expect(report.timescale.available).toBe(false);
      expect(report.applied, 'the plain views instead of the TimescaleDB files').toContain('plain/001_bars_views');
      expect(report.applied.some((f) => f.startsWith('timescale/'))).toBe(false);
      const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
      expect(warnings.map((w) => w.msg), 'exactly one warning line, saying what an administrator must do').toEqual([
        `TimescaleDB 2.26.0 is available but not installed in database ${fresh}; an administrator must run CREATE EXTENSION timescaledb (needs superuser and shared_preload_libraries); going on with plain PostgreSQL`,
      ]);
      expect(issued.join('\n')).not.toMatch(/CREATE EXTENSION|\bSHOW\b/i);
    } finally {
      await real.end();
      await adminQuery(`DROP DATABASE IF EXISTS ${fresh} WITH (FORCE)`);
    }
  });

  it('migrate as a role without CREATE on schema public: a DatabaseAccessError naming the grant, not a bare driver error', async () => {
    const db = pool(urlAs(guest, guestDb));
    const err = await migrate(db).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatabaseAccessError);
    const e = err as DatabaseAccessError;
    expect(e.code).toBe('42501');
    expect(e.exitCode).toBe(8);
    expect(e.message).toMatch(/permission denied for schema public/);
    expect(e.message).toMatch(new RegExp(`role ${guest} must own database ${guestDb} .*"Database roles and grants" in docs/operations.md`));
  });

  it('ensureDatabase with a role that may not log in: a DatabaseAccessError, the password not in the message', async () => {
    const url = new URL(urlAs(guest, guestDb));
    url.password = 'not-to-be-printed';
    await adminQuery(`ALTER ROLE ${guest} NOLOGIN`);
    try {
      const err = await ensureDatabase(url.toString()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DatabaseAccessError);
      expect((err as Error).message).toMatch(new RegExp(`cannot connect to database ${guestDb} on .*: role "${guest}" is not permitted to log in`));
      expect((err as Error).message).not.toMatch(/not-to-be-printed/);
    } finally {
      await adminQuery(`ALTER ROLE ${guest} LOGIN`);
    }
  });
});
