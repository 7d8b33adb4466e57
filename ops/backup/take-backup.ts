import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT } from '../../config/index.ts';
import { BackupError } from './backup-error.ts';
import { withClient } from './pg-client.ts';
import { describeFiles, DUMP_DIR, writeManifest, type Manifest } from './manifest.ts';
import { libpqTarget, runPgTool } from './pg-tools.ts';
import { tableStats } from './table-stats.ts';

/**
 * A consistent backup of the whole database into `dir` (which must be empty or
 * absent): pg_dump's directory format under `db/`, and `manifest.json` with every
 * table's row count and checksum and every file's sha256. pg_dump reads the
 * snapshot a REPEATABLE READ transaction of ours exported, and the counts and
 * checksums are taken in that same transaction, so the manifest describes exactly
 * what was dumped while ingest goes on writing. That covers the registry (versions
 * with their artifacts, deployments, retrain runs), the actor snapshots and the
 * market data (ticks, bars, gaps, quality reports, predictions).
 */
export async function takeBackup(databaseUrl: string, dir: string, now: () => number = Date.now): Promise<Manifest> {
  const started = now();
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new BackupError(`${dir} is not empty: a backup goes into a new directory`, { exitCode: EXIT.usage });
  return withClient(databaseUrl, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]?.id ?? '';
    const info = (
      await client.query<{ name: string; version: string; timescale: boolean }>(
        `SELECT current_database() AS name, current_setting('server_version') AS version,
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS timescale`,
      )
    ).rows[0];
    const target = libpqTarget(databaseUrl);
    // Runs while our transaction holds the snapshot open.
    const dump = runPgTool('pg_dump', ['--format=directory', `--file=${join(dir, DUMP_DIR)}`, `--snapshot=${snapshot}`, '--no-owner', '--no-privileges', `--dbname=${target.dbname}`], target.env);
    const tables = await tableStats(client);
    await dump;
    await client.query('COMMIT');
    const manifest: Manifest = {
      format: 'signals-backup',
      version: 1,
      createdAt: started,
      seconds: 0,
      database: { name: info?.name ?? '', serverVersion: info?.version ?? '', timescale: info?.timescale ?? false },
      tables,
      files: await describeFiles(dir, DUMP_DIR),
    };
    const done = { ...manifest, seconds: (now() - started) / 1000 };
    await writeManifest(dir, done);
    return done;
  });
}
