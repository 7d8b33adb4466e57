import { join } from 'node:path';
import { loadSettings, redactUrl } from '../../config/index.ts';
import { scheduledBackupName, takeBackup, verifyBackup, type Manifest } from '../../ops/index.ts';
import { parseFlags, type CliCommand } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';

const fmt = (n: number) => n.toLocaleString('en-US');

function tableLines(m: Manifest): string[] {
  const width = Math.max(5, ...Object.keys(m.tables).map((t) => t.length));
  return Object.entries(m.tables).map(([t, s]) => `  ${t.padEnd(width)}  ${fmt(s.rows).padStart(12)} rows  md5 ${s.md5}`);
}

export const backupCommand: CliCommand = {
  name: 'backup',
  summary: 'a consistent backup of the database (pg_dump) with a manifest; `backup verify DIR` checks one',
  usage: [
    'usage: signals backup [--out DIR]',
    '       signals backup verify DIR',
    '',
    'Backs up DATABASE_URL\'s database: the model registry (versions with their artifacts,',
    'deployments, retrain runs), actor snapshots and the market data (ticks, bars, gaps, quality',
    'reports, predictions). pg_dump (directory format) reads one snapshot while the system keeps',
    'writing; manifest.json holds the row count and checksum of every table as of that snapshot,',
    'and the size and sha256 of every file.',
    '  --out DIR   a new or empty directory (default <BACKUP_DIR>/backup-<time>)',
    '',
    '`verify DIR` checks the manifest, every file\'s size and sha256, and that pg_restore can read',
    'the archive; it needs no database.',
    'Exit codes: 0 ok, 2 usage (DIR not empty), 3 not a backup, 8 PostgreSQL or pg_dump unavailable,',
    '9 a file does not match its checksum, 10 DIR or a file missing.',
  ].join('\n'),
  async run(argv) {
    if (argv[0] === 'verify') {
      const { positionals } = parseFlags(argv.slice(1), {}, true);
      const dir = positionals[0];
      if (dir === undefined || positionals.length > 1) throw new UsageError('usage: signals backup verify DIR');
      const r = await verifyBackup(dir);
      process.stdout.write(
        `backup ${dir}: ok — ${r.files} files, ${fmt(r.bytes)} bytes, sha256 verified; ${r.archiveEntries} archive entries readable; ` +
          `${Object.keys(r.manifest.tables).length} tables, taken ${new Date(r.manifest.createdAt).toISOString()} from ${r.manifest.database.name}\n`,
      );
      return EXIT.ok;
    }
    const { values, positionals } = parseFlags(argv, { out: { type: 'string' } }, true);
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (did you mean: signals backup verify DIR?)`);
    const settings = loadSettings();
    const dir = values.out ?? join(settings.BACKUP_DIR, scheduledBackupName(Date.now()));
    const m = await takeBackup(settings.DATABASE_URL, dir);
    const bytes = m.files.reduce((a, f) => a + f.bytes, 0);
    process.stdout.write(
      [`backup of ${redactUrl(settings.DATABASE_URL)} in ${dir}: ${m.files.length} files, ${fmt(bytes)} bytes, ${m.seconds.toFixed(1)} s`, ...tableLines(m)].join('\n') + '\n',
    );
    return EXIT.ok;
  },
};
