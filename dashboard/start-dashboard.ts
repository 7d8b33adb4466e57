import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { SignalsError, type Logger, type Settings } from '../config/index.ts';
import { knownSymbols, type Db } from '../sql/index.ts';
import { SymbolBoard } from './board.ts';
import { createHealthPoller, type Health } from './health-poll.ts';
import { Ring, startLiveFeed } from './live-feed.ts';
import { recentMessages } from './recent-events.ts';
import { createDashboardServer } from './server.ts';
import { SseHub } from './sse.ts';

export type DashboardOptions = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  settings: Pick<Settings, 'DASHBOARD_PORT' | 'DASHBOARD_HOST' | 'DASHBOARD_TOKEN' | 'DASHBOARD_ACTIONS' | 'DASHBOARD_HISTORY_HOURS'>;
  /** How often the system's health and symbols are asked for while a page is open (default 2 s). */
  pollMs?: number;
};

export type DashboardHandle = {
  readonly port: number;
  /** The address to open (with the token's query parameter when one is set). */
  readonly url: string;
  /** Open pages. */
  clients(): number;
  close(): Promise<void>;
};

/** The dashboard could not start (its port in use, no permission). */
export class DashboardError extends SignalsError {
  override readonly name = 'DashboardError';
  override readonly retryable = false;
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
  }
}

/** The history a page gets of alerts and model events: the last day, at most this many. */
const RECENT = 200;

/**
 * Starts the live web dashboard on DASHBOARD_HOST:DASHBOARD_PORT against a
 * system's NATS and database (the running process's own connections in `signals
 * run`, its own in `signals dashboard`). Read-only unless DASHBOARD_ACTIONS.
 */
export async function startDashboard(opts: DashboardOptions): Promise<DashboardHandle> {
  const { nc, db, settings } = opts;
  const log = opts.log.child({ actor: 'dashboard' });
  if (settings.DASHBOARD_PORT === 'off') throw new Error('startDashboard: DASHBOARD_PORT is off');
  const board = new SymbolBoard();
  const hub = new SseHub();
  const modelEvents = new Ring<unknown>(RECENT);
  const alerts = new Ring<unknown>(RECENT);
  const since = Date.now() - 24 * 3_600_000;
  // What happened before the page opened: from the streams (model events carry the gate's reasons; alerts are not in the database).
  const [known, events, raised] = await Promise.all([
    knownSymbols(db).catch((err: unknown) => {
      log.warn({ err }, 'dashboard: cannot list symbols from the database');
      return [];
    }),
    recentMessages(nc, 'MODEL_EVENTS', 'model.events.>', since, RECENT).catch((err: unknown) => {
      log.warn({ err }, 'dashboard: cannot read MODEL_EVENTS');
      return [];
    }),
    recentMessages(nc, 'OPS_EVENTS', 'ops.alert.>', since, RECENT).catch((err: unknown) => {
      log.warn({ err }, 'dashboard: cannot read OPS_EVENTS');
      return [];
    }),
  ]);
  board.loadKnown(known);
  for (const e of events) modelEvents.push(e);
  for (const a of raised) alerts.push(a);
  const feed = await startLiveFeed({ nc, board, hub, log, modelEvents, alerts });

  let health: Health | undefined;
  const poll = createHealthPoller(nc, log);
  let polling: Promise<void> | undefined;
  const refresh = (): void => {
    if (polling) return;
    polling = poll()
      .then((r) => {
        health = r.health;
        if (r.symbols) board.applyService(r.symbols);
        hub.send('health', r.health);
        hub.send('board', board.list());
      })
      .catch((err: unknown) => log.warn({ err }, 'dashboard: health poll failed'))
      .finally(() => {
        polling = undefined;
      });
  };
  // Only while a page is open: an unwatched dashboard asks nothing of the system.
  const timer = setInterval(() => {
    if (hub.size > 0) refresh();
  }, opts.pollMs ?? 2_000);
  timer.unref();

  const server = createDashboardServer({
    nc, db, log, hub, board, modelEvents, alerts,
    health: () => health,
    onClientOpen: refresh,
    token: settings.DASHBOARD_TOKEN,
    host: settings.DASHBOARD_HOST,
    actions: settings.DASHBOARD_ACTIONS,
    historyHours: settings.DASHBOARD_HISTORY_HOURS,
  });
  const port = settings.DASHBOARD_PORT;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, settings.DASHBOARD_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    clearInterval(timer);
    hub.close();
    await feed.stop();
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${port} is in use: set DASHBOARD_PORT to a free port (0 = any, off = no dashboard)` : e.message;
    throw new DashboardError(`dashboard cannot listen on ${settings.DASHBOARD_HOST}:${port}: ${why}`, { cause: err });
  }
  server.on('error', (err) => log.error({ err }, 'dashboard server error'));
  const actual = (server.address() as AddressInfo).port;
  const host = settings.DASHBOARD_HOST === '0.0.0.0' || settings.DASHBOARD_HOST === '::' ? '127.0.0.1' : settings.DASHBOARD_HOST;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${actual}/`;
  const url = settings.DASHBOARD_TOKEN ? `${base}?token=${encodeURIComponent(settings.DASHBOARD_TOKEN)}` : base;
  log.info({ url: base, actions: settings.DASHBOARD_ACTIONS, token: settings.DASHBOARD_TOKEN !== undefined }, 'dashboard serving');
  return {
    port: actual,
    url,
    clients: () => hub.size,
    async close() {
      clearInterval(timer);
      hub.close();
      await feed.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
