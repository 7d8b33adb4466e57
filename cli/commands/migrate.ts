import { createRootLogger, loadSettings } from '../../config/index.ts';
import type { CliCommand } from '../command.ts';
import { openMigratedDatabase } from '../database.ts';
import { EXIT } from '../errors.ts';

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
    const { db, report } = await openMigratedDatabase(settings, log, { size: 2 });
    await db.end();
    const ts = report.timescale.available ? `TimescaleDB ${report.timescale.version}` : `plain PostgreSQL (${report.timescale.reason})`;
    process.stdout.write(`migrations: ${report.applied.length} applied, ${report.skipped} already applied; ${ts}\n`);
    return EXIT.ok;
  },
};
