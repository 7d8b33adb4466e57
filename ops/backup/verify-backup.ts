import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, SignalsError } from '../../config/index.ts';
import { DUMP_DIR, readManifest, sha256File, type Manifest } from './manifest.ts';
import { runPgTool } from './pg-tools.ts';

export class BackupVerifyError extends SignalsError {
  override readonly name = 'BackupVerifyError';
  override readonly retryable = false;
}

export type VerifyReport = { manifest: Manifest; files: number; bytes: number; archiveEntries: number };

/**
 * Checks a backup directory without a database: its manifest parses, every file
 * it lists is there with its size and sha256, and pg_restore can read the
 * archive's table of contents. Throws BackupVerifyError: exit 10 when the
 * directory or a file is missing, 3 when it is not a backup, 9 on a checksum or
 * size mismatch.
 */
export async function verifyBackup(dir: string): Promise<VerifyReport> {
  let manifest: Manifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BackupVerifyError(missing ? `${dir}: no manifest.json (not a backup, or not there)` : `${dir}/manifest.json is not a signals backup manifest: ${(err as Error).message}`, {
      cause: err,
      exitCode: missing ? EXIT.notFound : EXIT.input,
    });
  }
  let bytes = 0;
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined) throw new BackupVerifyError(`${f.path}: missing`, { exitCode: EXIT.notFound });
    if (size !== f.bytes) throw new BackupVerifyError(`${f.path}: ${size} bytes, the manifest says ${f.bytes}`, { exitCode: EXIT.checksum });
    const sha = await sha256File(path);
    if (sha !== f.sha256) throw new BackupVerifyError(`${f.path}: sha256 ${sha}, the manifest says ${f.sha256}`, { exitCode: EXIT.checksum });
    bytes += size;
  }
  const toc = await runPgTool('pg_restore', ['--list', join(dir, DUMP_DIR)]);
  const archiveEntries = toc.split('\n').filter((l) => /^\d+;/.test(l)).length;
  return { manifest, files: manifest.files.length, bytes, archiveEntries };
}
