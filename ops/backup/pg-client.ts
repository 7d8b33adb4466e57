import pg from 'pg';
import { EXIT } from '../../config/index.ts';
import { BackupError } from './backup-error.ts';

/** Runs `f` on a new client of `url`, closed afterwards; a refused connection is exit 8. */
export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    throw new BackupError(`PostgreSQL: ${(err as Error).message}`, { cause: err, exitCode: EXIT.unavailable });
  }
  try {
    return await f(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
