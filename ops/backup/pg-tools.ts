import { execFile } from 'node:child_process';
import { childProcessEnv, EXIT, SignalsError } from '../../config/index.ts';

/** pg_dump / pg_restore failed, or is not installed. */
export class PgToolError extends SignalsError {
  override readonly name = 'PgToolError';
  override readonly retryable = true;
}

/**
 * Connection arguments for libpq tools: the URL without its password (which goes in
 * PGPASSWORD), so the password never appears in a process list or an error message.
 */
export function libpqTarget(databaseUrl: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(databaseUrl);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { dbname: u.toString(), env: password ? { PGPASSWORD: password } : {} };
}

/**
 * Runs a PostgreSQL client tool to completion. Its stderr is the message of the
 * error it fails with; a missing binary says which package provides it.
 */
export function runPgTool(bin: 'pg_dump' | 'pg_restore', args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, [...args], { env: childProcessEnv(env), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      const message = missing ? `${bin} not found: install the PostgreSQL client tools (Debian: postgresql-client)` : `${bin} failed: ${stderr.trim() || err.message}`;
      reject(new PgToolError(message, { cause: err, exitCode: EXIT.unavailable }));
    });
  });
}
