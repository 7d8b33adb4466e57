import pg from 'pg';
import { EXIT, SignalsError } from '../config/index.ts';

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
 * PostgreSQL refused what the application needs to start: the server cannot be
 * reached, the login is refused, or the role lacks a privilege (SQLSTATE 42501).
 * The message is one line for the operator, says what to do, and never contains
 * the connection URL or its password. `exitCode` makes the CLI print it without
 * a stack (service unavailable). Retryable only when the server was unreachable.
 */
export class DatabaseAccessError extends SignalsError {
  override readonly name = 'DatabaseAccessError';
  override readonly exitCode = EXIT.unavailable;
  /** SQLSTATE, or the Node error code (ECONNREFUSED, ...), when there was one. */
  readonly code: string | undefined;
  override readonly retryable: boolean;
  constructor(message: string, options: { cause?: unknown; code?: string | undefined; retryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }

  /**
   * `<context>: <driver message>; <hint>`. The password, should a driver message
   * ever echo it, is masked.
   */
  static from(err: unknown, context: string, options: { hint?: string; password?: string } = {}): DatabaseAccessError {
    const password = options.password ?? '';
    let text = errorText(err);
    // Short passwords are left alone: masking every "ab" in a message would garble it.
    if (password.length >= 4) text = text.split(password).join('***');
    const code = (err as { code?: unknown } | null)?.code;
    return new DatabaseAccessError(`${context}: ${text}${options.hint ? `; ${options.hint}` : ''}`, {
      cause: err,
      code: typeof code === 'string' ? code : undefined,
      retryable: isTransientDbError(err),
    });
  }
}

/** One line from a driver error: Node's AggregateError (one per address tried) has an empty message. */
function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return [...new Set(err.errors.map(errorText))].join('; ');
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  return (message || (typeof code === 'string' ? code : '') || 'unknown error').replace(/\s+/g, ' ').trim();
}

const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * Creates the database named in `databaseUrl` when it does not exist. Returns true
 * when it was created. The database itself is tried first: an application role
 * that owns its database needs nothing else, not even the right to connect to the
 * server's `postgres` database, which is only used to CREATE DATABASE when the
 * target is missing (SQLSTATE 3D000). Every failure is a `DatabaseAccessError`
 * that says what an administrator has to do.
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]{1,63}$/.test(name)) throw new Error(`database name ${JSON.stringify(name)} must match [A-Za-z0-9_]{1,63}`);
  const password = decodeURIComponent(url.password);
  const where = `database ${name} on ${url.host || 'the default host'}`;

  const target = new pg.Client({ connectionString: databaseUrl });
  try {
    await target.connect();
    return false;
  } catch (err) {
    if (sqlState(err) !== '3D000') throw DatabaseAccessError.from(err, `cannot connect to ${where}`, { password });
  } finally {
    await target.end().catch(() => undefined);
  }

  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => undefined);
    const role = url.username ? decodeURIComponent(url.username) : 'the application role';
    throw DatabaseAccessError.from(err, `${where} does not exist, and creating it needs a connection to database postgres`, {
      hint: `the database must be created by an administrator: CREATE DATABASE ${name} OWNER ${role}`,
      password,
    });
  }
  try {
    const role = (await admin.query<{ role: string }>('SELECT current_user AS role')).rows[0]?.role ?? 'the application role';
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount) return false;
    try {
      // Quoted: the name was checked above, and unquoted it would be folded to lower case.
      await admin.query(`CREATE DATABASE "${name}"`);
    } catch (err) {
      // Two processes starting at once: the other one created it.
      if (sqlState(err) === '42P04') return false;
      if (sqlState(err) === '42501') {
        throw DatabaseAccessError.from(err, `${where} does not exist and role ${role} may not create it`, {
          hint: `the database must be created by an administrator: CREATE DATABASE ${name} OWNER ${role} (or let the role create databases: ALTER ROLE ${role} CREATEDB)`,
          password,
        });
      }
      throw DatabaseAccessError.from(err, `cannot create ${where}`, { password });
    }
    return true;
  } catch (err) {
    if (err instanceof DatabaseAccessError) throw err;
    throw DatabaseAccessError.from(err, `cannot check or create ${where}`, { password });
  } finally {
    await admin.end().catch(() => undefined);
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
