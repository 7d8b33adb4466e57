import { createRootLogger, loadSettings, redactUrl, SignalsError } from '../../config/index.ts';
import { createPool, ensureDatabase, migrate } from '../../sql/index.ts';
import type { CliCommand } from '../command.ts';
import { CliError, EXIT } from '../errors.ts';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'create the database if missing and apply the migrations (idempotent)',
  usage: [
    'usage: signals migrate',
    '',
    'Creates the database named in DATABASE_URL when it does not exist, then applies every',
    'migration in sql/migrations once, in order (TimescaleDB files when the extension is',
    'available and preloaded, plain-PostgreSQL views otherwise). Safe to run concurrently.',
    'Needs no superuser: a role that owns its database is enough. When TimescaleDB is on the',
    'server but not installed in the database, it says so once and goes on with plain PostgreSQL',
    '(an administrator runs CREATE EXTENSION timescaledb; see docs/operations.md).',
    'Exit codes: 0 ok, 8 PostgreSQL unreachable, login refused or a privilege missing, 9 an applied',
    'migration file was edited.',
  ].join('\n'),
  async run() {
    const settings = loadSettings();
    const log = createRootLogger(settings.LOG_LEVEL);
    // A database that cannot be reached, a refused login or a missing privilege is for
    // the operator to fix, not a bug: one line naming the URL without its password, exit 8.
    const unavailable = (err: unknown) =>
      new CliError(`PostgreSQL at ${redactUrl(settings.DATABASE_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
    try {
      await ensureDatabase(settings.DATABASE_URL);
    } catch (err) {
      throw unavailable(err);
    }
    const db = createPool(settings.DATABASE_URL, 2);
    try {
      const report = await migrate(db, log);
      const ts = report.timescale.available ? `TimescaleDB ${report.timescale.version}` : `plain PostgreSQL (${report.timescale.reason})`;
      process.stdout.write(`migrations: ${report.applied.length} applied, ${report.skipped} already applied; ${ts}\n`);
      return EXIT.ok;
    } catch (err) {
      // DatabaseAccessError carries exit code 8; an edited migration its own (9); a bug keeps its stack.
      if (err instanceof SignalsError && err.exitCode === EXIT.unavailable) throw unavailable(err);
      throw err;
    } finally {
      await db.end();
    }
  },
};
