import { createRootLogger, loadSettings, redactUrl } from '../../config/index.ts';
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
  ].join('\n'),
  async run() {
    const settings = loadSettings();
    const log = createRootLogger(settings.LOG_LEVEL);
    try {
      await ensureDatabase(settings.DATABASE_URL);
    } catch (err) {
      throw new CliError(`cannot reach PostgreSQL at ${redactUrl(settings.DATABASE_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
    }
    const db = createPool(settings.DATABASE_URL, 2);
    try {
      const report = await migrate(db, log);
      const ts = report.timescale.available ? `TimescaleDB ${report.timescale.version}` : `plain PostgreSQL (${report.timescale.reason})`;
      process.stdout.write(`migrations: ${report.applied.length} applied, ${report.skipped} already applied; ${ts}\n`);
      return EXIT.ok;
    } finally {
      await db.end();
    }
  },
};
