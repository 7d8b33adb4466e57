import type { NatsConnection } from '@nats-io/transport-node';
import { createRootLogger, loadSettings, redactUrl } from '../../config/index.ts';
import { DashboardError, startDashboard } from '../../dashboard/index.ts';
import { createPool } from '../../sql/index.ts';
import { connectNats } from '../../streams/index.ts';
import { parseFlags, type CliCommand } from '../command.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';

export const dashboardCommand: CliCommand = {
  name: 'dashboard',
  summary: 'the live web dashboard of a running system (signals run serves it too)',
  usage: [
    'usage: signals dashboard',
    '',
    'Serves the live dashboard on DASHBOARD_HOST:DASHBOARD_PORT (default 127.0.0.1:8080) against the',
    "system at NATS_URL and DATABASE_URL, and prints its address. It reads: symbols, candles with the",
    'forecast bands of every horizon, volatility forecast vs realised, blend weights, scores, gaps and',
    'quality, the model timeline and system health, live from the NATS subjects. DASHBOARD_TOKEN asks',
    'every request for a token; DASHBOARD_ACTIONS=true adds retrain and rollback buttons.',
    'Ctrl-C stops it. Exit codes: 0 ok, 2 usage (DASHBOARD_PORT=off), 8 NATS, PostgreSQL or the port unavailable.',
  ].join('\n'),
  async run(argv) {
    parseFlags(argv, {});
    const settings = loadSettings();
    if (settings.DASHBOARD_PORT === 'off') throw new UsageError('DASHBOARD_PORT is off: set it to a port (0 = any free one)');
    const log = createRootLogger(settings.LOG_LEVEL, process.stderr);
    let nc: NatsConnection;
    try {
      nc = await connectNats(settings, 'signals-dashboard');
    } catch (err) {
      throw new CliError(`cannot connect to NATS at ${redactUrl(settings.NATS_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
    }
    const db = createPool(settings.DATABASE_URL, 4);
    const dashboard = await startDashboard({ nc, db, log, settings }).catch(async (err: unknown) => {
      await nc.close();
      await db.end();
      if (err instanceof DashboardError) throw new CliError(err.message, EXIT.unavailable, { cause: err });
      throw new CliError(`dashboard did not start: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
    });
    process.stdout.write(`dashboard: ${dashboard.url}\n`);
    return new Promise<number>((resolve) => {
      const stop = () => {
        void (async () => {
          await dashboard.close();
          await nc.drain().catch(() => undefined);
          await db.end();
          resolve(EXIT.ok);
        })();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
