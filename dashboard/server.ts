import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../config/index.ts';
import type { Db } from '../sql/index.ts';
import { isToken } from '../streams/index.ts';
import { ACTIONS, runAction, type Action } from './actions.ts';
import { authorised, hostAllowed, TOKEN_COOKIE } from './auth.ts';
import type { SymbolBoard } from './board.ts';
import type { Health } from './health-poll.ts';
import { symbolHistory } from './history.ts';
import type { Ring } from './live-feed.ts';
import type { SseHub } from './sse.ts';
import { staticFile } from './static-files.ts';

export type DashboardRoutesDeps = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  hub: SseHub;
  board: SymbolBoard;
  modelEvents: Ring<unknown>;
  alerts: Ring<unknown>;
  health: () => Health | undefined;
  /** A page opened: ask the system for fresh health and symbols now. */
  onClientOpen: () => void;
  token: string | undefined;
  /** The interface it listens on (DASHBOARD_HOST): loopback means loopback callers only. */
  host: string;
  actions: boolean;
  historyHours: number;
};

const MAX_BODY = 16 * 1024;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, body: unknown): void => send(res, status, 'application/json', JSON.stringify(body));

/** `venue.symbol` of a query, validated as subject tokens. */
function symbolParam(url: URL): { venue: string; symbol: string } | undefined {
  const [venue, symbol, ...rest] = (url.searchParams.get('symbol') ?? '').split('.');
  if (rest.length > 0 || venue === undefined || symbol === undefined || !isToken(venue) || !isToken(symbol)) return undefined;
  return { venue, symbol };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
}

/**
 * The dashboard's HTTP server (node:http):
 * - `GET /` and its scripts, styles and the chart library, all local;
 * - `GET /api/overview`: symbols, health, recent model events and alerts;
 * - `GET /api/history?symbol=V.S`: the symbol's last hours from the database;
 * - `GET /api/live?symbol=V.S`: server-sent events from the NATS subjects;
 * - `POST /api/actions/retrain|rollback` only when operator actions are enabled.
 */
export function createDashboardServer(deps: DashboardRoutesDeps): Server {
  const { log } = deps;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (!hostAllowed(req, deps.host)) return send(res, 421, 'text/plain; charset=utf-8', 'this dashboard answers requests to 127.0.0.1 or localhost only\n');
    if (!authorised(req, url, deps.token)) {
      return send(res, 401, 'text/plain; charset=utf-8', 'this dashboard needs its token: open it with ?token=<DASHBOARD_TOKEN>\n');
    }
    if (deps.token !== undefined && url.searchParams.has('token') && req.method === 'GET' && url.pathname === '/') {
      // Trade the token in the address for a cookie, and drop it from the address bar and history.
      return send(res, 303, 'text/plain', '', {
        location: '/',
        'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(deps.token)}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    if (req.method === 'POST' && url.pathname.startsWith('/api/actions/')) {
      const action = url.pathname.slice('/api/actions/'.length) as Action;
      if (!deps.actions) return sendJson(res, 403, { error: 'operator actions are off (DASHBOARD_ACTIONS=false)' });
      if (!ACTIONS.includes(action)) return sendJson(res, 404, { error: `no action ${action}` });
      // A page elsewhere must not be able to trigger actions through the operator's browser.
      const origin = req.headers.origin;
      if (origin !== undefined && new URL(origin).host !== req.headers.host) return sendJson(res, 403, { error: 'cross-origin request refused' });
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return sendJson(res, 415, { error: 'expected application/json' });
      let body: unknown;
      try {
        body = await readBody(req);
      } catch (err) {
        return sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
      const reply = await runAction(deps.nc, action, body);
      log.info({ action, body, ok: reply.ok }, 'dashboard: operator action');
      return reply.ok ? sendJson(res, 200, reply.body) : sendJson(res, reply.code, { error: reply.message });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    switch (url.pathname) {
      case '/api/overview':
        return sendJson(res, 200, {
          symbols: deps.board.list(),
          health: deps.health() ?? null,
          modelEvents: deps.modelEvents.list(),
          alerts: deps.alerts.list(),
          actions: deps.actions,
          historyHours: deps.historyHours,
        });
      case '/api/history': {
        const s = symbolParam(url);
        if (!s) return sendJson(res, 400, { error: 'symbol must be <venue>.<symbol>' });
        return sendJson(res, 200, await symbolHistory(deps.db, s.venue, s.symbol, deps.historyHours));
      }
      case '/api/live': {
        const raw = url.searchParams.get('symbol');
        const s = raw === null || raw === '' ? undefined : symbolParam(url);
        if (raw && !s) return sendJson(res, 400, { error: 'symbol must be <venue>.<symbol>' });
        const client = deps.hub.open(res, s ? `${s.venue}.${s.symbol}` : undefined);
        deps.hub.sendTo(client, 'board', deps.board.list());
        const h = deps.health();
        if (h) deps.hub.sendTo(client, 'health', h);
        deps.onClientOpen();
        return;
      }
      case '/favicon.ico':
        return send(res, 204, 'image/x-icon', '');
      default: {
        const f = await staticFile(url.pathname);
        if (!f) return send(res, 404, 'text/plain', 'not found\n');
        return send(res, 200, f.type, f.body);
      }
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.warn({ err, url: req.url }, 'dashboard request failed');
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}
