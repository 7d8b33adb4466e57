import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'signals_dashboard';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison (of digests, so lengths do not leak either). */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/**
 * Whether a request carries the dashboard's token: `Authorization: Bearer`, the
 * cookie set when the page was first opened with `?token=`, or that query
 * parameter. Without a configured token every request is allowed.
 */
export function authorised(req: IncomingMessage, url: URL, token: string | undefined): boolean {
  if (token === undefined) return true;
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const offered = [bearer, cookie(req, TOKEN_COOKIE), url.searchParams.get('token') ?? undefined];
  return offered.some((t) => t !== undefined && same(t, token));
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The host name of a Host header (`[::1]:8080` -> `[::1]`, `localhost:8080` -> `localhost`). */
function hostName(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
}

/**
 * A dashboard bound to loopback answers only requests addressed to loopback: a web
 * page elsewhere that points its own domain at 127.0.0.1 (DNS rebinding) gets
 * nothing, not even read-only data. Bound to another interface, the operator chose
 * who can reach it (and DASHBOARD_TOKEN is the lock).
 */
export function hostAllowed(req: IncomingMessage, boundHost: string): boolean {
  if (!LOOPBACK.has(boundHost)) return true;
  return LOOPBACK.has(hostName(req.headers.host ?? ''));
}
