import { join } from 'node:path';
import { EXIT } from '../../config/index.ts';
import { ensureDatabase } from '../../sql/index.ts';
import { DUMP_DIR, type TableStats } from './manifest.ts';
import { libpqTarget, runPgTool } from './pg-tools.ts';
import { tableStats } from './table-stats.ts';
import { BackupError } from './backup-error.ts';
import { withClient } from './pg-client.ts';
import { verifyBackup } from './verify-backup.ts';

export type TableCheck = { table: string; expected: TableStats | undefined; restored: TableStats | undefined; ok: boolean };
export type RestoreReport = { database: string; seconds: number; replaced: boolean; tables: TableCheck[]; mismatches: string[] };

/**
 * Restores a verified backup into DATABASE_URL's database (created when missing),
 * then counts and hashes every table again and compares them with the manifest.
 * Refuses a database that already has tables unless `force` (then pg_restore
 * drops and replaces what the backup holds). A TimescaleDB backup is restored
 * between timescaledb_pre_restore() and timescaledb_post_restore(), as that
 * extension requires.
 */
export async function restoreBackup(databaseUrl: string, dir: string, options: { force?: boolean; now?: () => number } = {}): Promise<RestoreReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const { manifest } = await verifyBackup(dir);
  try {
    await ensureDatabase(databaseUrl);
  } catch (err) {
    throw new BackupError(`PostgreSQL: ${(err as Error).message}`, { cause: err, exitCode: EXIT.unavailable });
  }
  const existing = await withClient(databaseUrl, async (c) => {
    const r = await c.query<{ n: string; name: string }>(
      `SELECT count(*)::text AS n, current_database() AS name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    return { tables: Number(r.rows[0]?.n ?? 0), name: r.rows[0]?.name ?? '' };
  });
  if (existing.tables > 0 && !options.force) {
    throw new BackupError(`database ${existing.name} is not empty (${existing.tables} tables): restore into an empty database, or give --force to replace what the backup holds`, { exitCode: EXIT.usage });
  }
  if (manifest.database.timescale) {
    await withClient(databaseUrl, async (c) => {
      await c.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
      await c.query('SELECT timescaledb_pre_restore()');
    });
  }
  const target = libpqTarget(databaseUrl);
  try {
    await runPgTool(
      'pg_restore',
      ['--no-owner', '--no-privileges', '--exit-on-error', ...(options.force ? ['--clean', '--if-exists'] : []), `--dbname=${target.dbname}`, join(dir, DUMP_DIR)],
      target.env,
    );
  } finally {
    if (manifest.database.timescale) await withClient(databaseUrl, (c) => c.query('SELECT timescaledb_post_restore()'));
  }
  const restored = await withClient(databaseUrl, async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await tableStats(c);
    } finally {
      await c.query('COMMIT');
    }
  });
  const names = [...new Set([...Object.keys(manifest.tables), ...Object.keys(restored)])].sort();
  const tables = names.map((table): TableCheck => {
    const expected = manifest.tables[table];
    const got = restored[table];
    return { table, expected, restored: got, ok: expected !== undefined && got !== undefined && expected.rows === got.rows && expected.md5 === got.md5 };
  });
  return {
    database: existing.name,
    seconds: (now() - started) / 1000,
    replaced: existing.tables > 0,
    tables,
    mismatches: tables.filter((t) => !t.ok).map((t) => t.table),
  };
}
