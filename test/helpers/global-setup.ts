import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { adminUrl } from './postgres.ts';

/** Fails the run early, with a clear message, when a required server is missing. */
export default async function setup(): Promise<void> {
  // Every `signals run` a test spawns serves its dashboard on a free port, not on a user's 8080.
  process.env.DASHBOARD_PORT ??= '0';
  try {
    execFileSync(process.env.NATS_SERVER_BIN ?? 'nats-server', ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error('nats-server is not installed: run `make services-up` (or apt-get install nats-server)');
  }
  const client = new pg.Client({ connectionString: adminUrl() });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${adminUrl()}: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
