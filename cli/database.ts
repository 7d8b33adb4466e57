import { redactUrl, SignalsError, type Logger, type Settings } from '../config/index.ts';
import { createPool, ensureDatabase, migrate, type Db, type MigrationReport } from '../sql/index.ts';
import { CliError, EXIT } from './errors.ts';

/**
 * DATABASE_URL's database, created if missing, with every migration applied: what
 * `signals migrate` and `signals run` both start from. A database that cannot be
 * reached, a refused login or a missing privilege is for the operator to fix, not a
 * bug: one line naming the URL without its password, exit 8. An edited migration
 * keeps its own code (9); anything else keeps its stack.
 */
export async function openMigratedDatabase(
  settings: Settings,
  log: Logger,
  pool: { size: number; onIdleError?: (err: Error) => void },
): Promise<{ db: Db; report: MigrationReport }> {
  const unavailable = (err: unknown) =>
    new CliError(`PostgreSQL at ${redactUrl(settings.DATABASE_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
  try {
    await ensureDatabase(settings.DATABASE_URL);
  } catch (err) {
    throw unavailable(err);
  }
  const db = createPool(settings.DATABASE_URL, pool.size, pool.onIdleError);
  try {
    return { db, report: await migrate(db, log) };
  } catch (err) {
    await db.end().catch(() => undefined);
    if (err instanceof SignalsError && err.exitCode === EXIT.unavailable) throw unavailable(err);
    throw err;
  }
}
