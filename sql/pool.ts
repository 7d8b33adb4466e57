import pg from 'pg';

// timestamptz and bigint come back as JS values we can use directly: epoch ms
// numbers are built in SQL where needed, so keep pg's defaults otherwise.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = pg.Pool;

/** A connection pool for DATABASE_URL. Errors on idle clients are logged, not fatal. */
export function createPool(databaseUrl: string, max = 8, onError?: (err: Error) => void): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000 });
  pool.on('error', (err) => onError?.(err));
  return pool;
}

/**
 * Creates the database named in `databaseUrl` when it does not exist (connecting to
 * the server's `postgres` database to do so). Returns true when it was created.
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]{1,63}$/.test(name)) throw new Error(`database name ${JSON.stringify(name)} must match [A-Za-z0-9_]{1,63}`);
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount) return false;
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } catch (err) {
      // Two processes starting at once: the other one created it.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return false;
    }
    return true;
  } finally {
    await admin.end();
  }
}

/**
 * Checks a client out of the pool with an 'error' listener attached for as long
 * as it is held: a connection cut mid-query (server restart, terminated backend)
 * then surfaces as the query's rejection instead of an unhandled 'error' event
 * that would crash the process. `release` removes the listener.
 */
export async function checkout(db: Db): Promise<pg.PoolClient & { done(err?: Error): void }> {
  const client = await db.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  return Object.assign(client, {
    done(err?: Error) {
      client.off('error', onError);
      // A client whose connection failed is destroyed, not returned to the pool.
      client.release(err ?? broken);
    },
  });
}

/** Runs `fn` in a transaction on one client; rolls back on error. */
export async function withTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await checkout(db);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    client.done();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.done(err instanceof Error && isTransientDbError(err) ? err : undefined);
    throw err;
  }
}

/** True for errors that mean "the database is unreachable right now" (retry later). */
export function isTransientDbError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? '';
  if (/^(08|57P0|53)/.test(code) || code === '40001' || code === '40P01') return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection terminated|terminating connection|the database system is (starting|shutting) up|Client has encountered a connection error/i.test(
    msg,
  );
}

/**
 * PostgreSQL refused the data itself (SQLSTATE class 22 data exception, class 23
 * integrity violation, 54000 program limit such as an index row too large): the
 * same statement will fail again, whatever the retry.
 */
export function isDataDbError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? '';
  return /^(22|23)/.test(code) || code === '54000';
}
