import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignalsError, type Logger } from '../config/index.ts';
import type { HealthChecks } from './health.ts';
import type { OpsMetrics } from './metrics.ts';

export type OpsServerOptions = {
  /** TCP port (settings METRICS_PORT); 0 picks a free one (tests). */
  port: number;
  /** Interface to listen on; default all (`0.0.0.0`) so a Prometheus in a container can scrape it. */
  host?: string;
  metrics: OpsMetrics;
  health: HealthChecks;
  log?: Logger;
};

export type OpsServer = {
  /** The port actually listened on. */
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
};

/** Could not listen on the metrics port (in use, no permission). Not retryable with the same port. */
export class OpsServerError extends SignalsError {
  override readonly name = 'OpsServerError';
  override readonly retryable = false;
  constructor(
    readonly port: number,
    options: { cause: unknown },
  ) {
    super(`cannot serve metrics on port ${port}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options);
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The operations endpoint of a process (node:http):
 * - `GET /metrics`: Prometheus text exposition of `metrics`;
 * - `GET /healthz`: 200 while the process runs (liveness);
 * - `GET /readyz`: 200 when every registered readiness check passes, else 503; both
 *   with a JSON body `{ ready, notReady: [names], checks: { name: { ok, reason|detail } } }`.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { metrics, health } = options;
  const log = options.log?.child({ actor: 'opsServer' });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/metrics':
        return send(res, 200, metrics.registry.contentType, await metrics.text());
      case '/healthz':
        return send(res, 200, 'application/json', JSON.stringify({ ok: true, uptimeS: Math.round(process.uptime()) }));
      case '/readyz': {
        const report = await health.evaluate();
        return send(res, report.ready ? 200 : 503, 'application/json', JSON.stringify(report));
      }
      default:
        return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz, /readyz\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.warn({ err, url: req.url }, 'ops request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.end();
    });
  });
  // Scrapers keep connections alive; closing must not wait for them.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: unknown) => reject(new OpsServerError(options.port, { cause: err }));
    server.once('error', onError);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log?.error({ err }, 'ops server error'));
  const port = (server.address() as AddressInfo).port;
  log?.info({ port }, 'serving /metrics, /healthz, /readyz');

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
