import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Cron } from 'croner';
import { EXIT, type Logger } from '../../config/index.ts';
import type { Db } from '../../sql/index.ts';
import type { Alerter } from '../alerts.ts';
import { pruneBackups, scheduledBackupName } from './retention.ts';
import { BackupError } from './backup-error.ts';
import { takeBackup } from './take-backup.ts';

/** Advisory lock key of the scheduled backup (any number no other lock uses): one process of a scale-out group takes it. */
const BACKUP_LOCK = 5_162_024;

export type BackupScheduleDeps = {
  db: Db;
  databaseUrl: string;
  /** Where the backups go (BACKUP_DIR). */
  root: string;
  /** Complete backups kept (BACKUP_KEEP). */
  keep: number;
  log: Logger;
  alert: Alerter;
};

export type ScheduledBackup = { status: 'taken'; dir: string; seconds: number; pruned: string[] } | { status: 'skipped'; reason: string } | { status: 'failed'; error: string };

/**
 * One scheduled backup: only the process that gets the advisory lock takes it (the
 * others skip), into `backup-<scheduled time>` (a name another process may already
 * have used, then skipped), then old ones are pruned. A failure removes the partial
 * directory and raises `ops.alert.backup_failed`.
 */
export async function scheduledBackup(deps: BackupScheduleDeps, atMs: number): Promise<ScheduledBackup> {
  const log = deps.log.child({ actor: 'backup' });
  const client = await deps.db.connect();
  try {
    const locked = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [BACKUP_LOCK])).rows[0]?.ok === true;
    if (!locked) return { status: 'skipped', reason: 'another process is taking the backup' };
    const dir = join(deps.root, scheduledBackupName(atMs));
    try {
      const m = await takeBackup(deps.databaseUrl, dir);
      const pruned = await pruneBackups(deps.root, deps.keep);
      log.info({ dir, seconds: m.seconds, tables: Object.keys(m.tables).length, pruned }, 'backup taken');
      return { status: 'taken', dir, seconds: m.seconds, pruned };
    } catch (err) {
      const error = (err as Error).message;
      // A directory of that name: another process took this schedule's backup before us.
      if (err instanceof BackupError && err.exitCode === EXIT.usage) return { status: 'skipped', reason: `${dir} exists already` };
      await rm(dir, { recursive: true, force: true });
      await deps.alert('backup_failed', { severity: 'critical', message: `scheduled backup failed: ${error}`.slice(0, 1_000), details: { dir, error: error.slice(0, 500) } });
      return { status: 'failed', error };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [BACKUP_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Takes `scheduledBackup` on the cron (UTC) until `stop()`; `protect`: a backup still running blocks the next. */
export function startBackupSchedule(deps: BackupScheduleDeps, cron: string): { stop(): void; nextAt(): number | undefined } {
  const job = new Cron(cron, { timezone: 'UTC', protect: true }, async (self: Cron) => {
    const at = self.currentRun()?.getTime() ?? Date.now();
    await scheduledBackup(deps, at).catch((err: unknown) => deps.log.error({ err }, 'scheduled backup crashed'));
  });
  return {
    stop: () => job.stop(),
    nextAt: () => job.nextRun()?.getTime() ?? undefined,
  };
}
