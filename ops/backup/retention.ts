import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest } from './manifest.ts';

/** Name of the scheduled backup taken at `atMs`: sorts in time order. */
export const scheduledBackupName = (atMs: number): string => `backup-${new Date(atMs).toISOString().replace(/[:.]/g, '-')}`;

/**
 * Keeps the newest `keep` complete backups (`backup-*` with a valid manifest) in
 * `root` and deletes the older ones. Directories that are not backups are never
 * touched. Returns the names deleted.
 */
export async function pruneBackups(root: string, keep: number): Promise<string[]> {
  const names = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name.startsWith('backup-')).map((e) => e.name);
  const complete: string[] = [];
  for (const n of names) {
    if (await readManifest(join(root, n)).then(() => true, () => false)) complete.push(n);
  }
  complete.sort();
  const doomed = complete.slice(0, Math.max(0, complete.length - keep));
  for (const n of doomed) await rm(join(root, n), { recursive: true, force: true });
  return doomed;
}
