import { loadSettings, redactUrl } from '../../config/index.ts';
import { restoreBackup } from '../../ops/index.ts';
import { parseFlags, type CliCommand } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';

export const restoreCommand: CliCommand = {
  name: 'restore',
  summary: 'restore a backup into an empty database and check every table against its manifest',
  usage: [
    'usage: signals restore DIR [--force]',
    '',
    'Verifies the backup (as `signals backup verify`), creates DATABASE_URL\'s database when missing,',
    'restores it with pg_restore and compares the row count and checksum of every table with the',
    'manifest. Then `signals run` goes on from the restored state: the same active model versions',
    '(KV model_active is rewritten from the registry at start-up), the same weight snapshots, and',
    'ingest resumes without duplicates.',
    '  --force   restore into a database that has tables (what the backup holds is dropped and replaced)',
    'Exit codes: 0 ok, 2 usage (the database is not empty), 3 not a backup, 8 PostgreSQL or',
    'pg_restore unavailable, 9 a file or a restored table does not match the manifest, 10 not found.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { force: { type: 'boolean' } }, true);
    const dir = positionals[0];
    if (dir === undefined || positionals.length > 1) throw new UsageError('usage: signals restore DIR [--force]');
    const settings = loadSettings();
    const r = await restoreBackup(settings.DATABASE_URL, dir, { force: values.force === true });
    const width = Math.max(5, ...r.tables.map((t) => t.table.length));
    const lines = r.tables.map((t) => `  ${t.table.padEnd(width)}  ${String(t.restored?.rows ?? '-').padStart(12)} rows  ${t.ok ? 'ok' : `MISMATCH (backup: ${t.expected?.rows ?? '-'} rows)`}`);
    process.stdout.write(
      [`restored ${dir} into ${redactUrl(settings.DATABASE_URL)}${r.replaced ? ' (replacing its tables)' : ''} in ${r.seconds.toFixed(1)} s:`, ...lines].join('\n') + '\n',
    );
    if (r.mismatches.length > 0) {
      process.stderr.write(`signals: ${r.mismatches.length} tables differ from the backup: ${r.mismatches.join(', ')}\n`);
      return EXIT.checksum;
    }
    return EXIT.ok;
  },
};
