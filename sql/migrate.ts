import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { EXIT, SignalsError, type Logger } from '../config/index.ts';
import { DatabaseAccessError, isTransientDbError } from './pool.ts';
import { detectTimescale, type TimescaleSupport } from './timescale.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Advisory lock key that serialises migrations across processes. */
const MIGRATION_LOCK = 727_100_001;

/** An applied migration whose file has changed since. Not retryable. */
export class MigrationChecksumError extends SignalsError {
  override readonly name = 'MigrationChecksumError';
  override readonly retryable = false;
  /** Someone edited a file, not a bug: the CLI prints one line (checksum mismatch). */
  override readonly exitCode = EXIT.checksum;
  constructor(readonly migration: string) {
    super(`migration ${migration} was applied with different contents; write a new migration instead of editing it`);
  }
}

export type MigrationReport = { applied: string[]; skipped: number; timescale: TimescaleSupport };

type MigrationFile = { name: string; sql: string; checksum: string };

/** Who runs the migrations where, for the messages. */
type Session = { role: string; database: string };

/**
 * A failure the operator can fix, as a `DatabaseAccessError` (missing privilege,
 * refused login, lost connection), or undefined for anything else: a statement
 * the server rejects for another reason is a bug in a migration.
 */
function accessProblem(err: unknown, what: string, who: Session | undefined): DatabaseAccessError | undefined {
  if (err instanceof DatabaseAccessError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '42501') {
    const role = who?.role ?? 'the application role';
    const database = who?.database ?? 'its database';
    return DatabaseAccessError.from(err, what, {
      hint: `role ${role} must own database ${database} (or have CONNECT and CREATE on it, USAGE and CREATE on schema public, and own the tables earlier migrations created); see "Database roles and grants" in docs/operations.md`,
    });
  }
  if ((typeof code === 'string' && code.startsWith('28')) || isTransientDbError(err)) return DatabaseAccessError.from(err, what);
  return undefined;
}

async function readFolder(folder: string): Promise<MigrationFile[]> {
  const dir = join(HERE, folder);
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => {
      const sql = await readFile(join(dir, f), 'utf8');
      return { name: `${folder}/${f.replace(/\.sql$/, '')}`, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies the numbered migrations once each, in order, each in its own
 * transaction and recorded in `schema_migrations`. Holds a session advisory lock
 * for the whole run, so two processes migrating at once apply each file once.
 * Then the TimescaleDB files when the extension can be used, else the plain ones.
 */
export async function migrate(pool: pg.Pool, log?: Logger): Promise<MigrationReport> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw accessProblem(err, 'cannot connect to run the migrations', undefined) ?? err;
  }
  let who: Session | undefined;
  try {
    who = (await client.query<Session>('SELECT current_user AS role, current_database() AS database')).rows[0];
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map(
      (await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations')).rows.map(
        (r) => [r.name, r.checksum],
      ),
    );
    const timescale = await detectTimescale(client);
    if (!timescale.available && timescale.needsAdministrator) {
      // One line an operator can act on; the system works without TimescaleDB.
      log?.warn({ database: who?.database }, `${timescale.reason}; going on with plain PostgreSQL`);
    }
    const files = [...(await readFolder('migrations'))];
    if (timescale.available) {
      if (!timescale.installed) await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
      const tsFiles = await readFolder('timescale');
      files.push(...tsFiles.filter((f) => !f.name.endsWith('_policies') || timescale.license === 'timescale'));
    } else {
      files.push(...(await readFolder('plain')));
    }
    const applied: string[] = [];
    for (const file of files) {
      const previous = done.get(file.name);
      if (previous !== undefined) {
        if (previous !== file.checksum) throw new MigrationChecksumError(file.name);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(file.sql);
        await client.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [file.name, file.checksum]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw (
          accessProblem(err, `migration ${file.name} failed`, who) ??
          new Error(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err })
        );
      }
      applied.push(file.name);
    }
    log?.info(
      { applied, skipped: files.length - applied.length, timescale: timescale.available ? timescale.version : timescale.reason },
      'migrations done',
    );
    return { applied, skipped: files.length - applied.length, timescale };
  } catch (err) {
    throw accessProblem(err, 'migrations failed', who) ?? err;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}
