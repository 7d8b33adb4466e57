import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The one root logger. Actors take `log.child({ actor, symbol })`.
 * Secrets (passwords, tokens, connection strings) are redacted.
 */
export function createRootLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    redact: {
      paths: [
        'password', 'pass', 'token', 'databaseUrl', '*.password', '*.pass', '*.token', '*.databaseUrl',
        // The settings object itself (logged whole or as a field).
        'DATABASE_URL', 'NATS_PASS', 'NATS_TOKEN', 'DASHBOARD_TOKEN', '*.DATABASE_URL', '*.NATS_PASS', '*.NATS_TOKEN', '*.DASHBOARD_TOKEN',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Hides the password of a connection URL, for logs and status output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
