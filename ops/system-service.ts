import { Svcm, ServiceErrorCodeHeader, ServiceErrorHeader, type Service, type ServiceMsg } from '@nats-io/services';
import { RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../config/index.ts';

/**
 * The NATS service of the whole system (`@nats-io/services`), so the nats CLI can
 * inspect it:
 *
 * | subject            | request body (JSON; empty = defaults) | reply |
 * |--------------------|----------------------------------------|-------|
 * | `signals.status`   | ignored                                | the system status (phase, actors, lag, versions) |
 * | `signals.symbols`  | ignored                                | per symbol: data quality, gaps, warm-up of this process |
 * | `signals.models`   | `{ scope?, limit? }`                   | versions and recent deployments |
 * | `signals.retrain`  | `{ symbol?, venue?, trigger?, config?, requestId? }` | `{ requestId, scope }` |
 * | `signals.rollback` | `{ scope, role?, regime?, toVersion?, reason?, actor? }` | `{ version, from, scope, latencyMs, active }` |
 *
 * `models`, `retrain` and `rollback` are answered by the model lifecycle: by default
 * they are forwarded unchanged to its own service (`model-lifecycle.<endpoint>`,
 * actors/model-lifecycle.logic.ts), so the registry logic lives in one place and
 * errors come back with the lifecycle's codes (400 bad request, 404 unknown scope or
 * version, 409 nothing to roll back to, 503 lifecycle or database unavailable).
 */
export const SYSTEM_SERVICE = 'signals';
export const SYSTEM_ENDPOINTS = ['status', 'symbols', 'models', 'retrain', 'rollback'] as const;
export type SystemEndpoint = (typeof SYSTEM_ENDPOINTS)[number];

/** The lifecycle's service name (actors/model-lifecycle.logic.ts `LIFECYCLE_SERVICE`). */
export const LIFECYCLE_SERVICE_NAME = 'model-lifecycle';

/** What a handler answers: a JSON body, or an error with a service error code. */
export type EndpointReply = { ok: true; body: unknown } | { ok: false; code: number; message: string };
/** Handles one request: `data` is the raw request body (empty for none). */
export type EndpointHandler = (data: Uint8Array) => Promise<EndpointReply>;

export type SystemServiceDeps = {
  nc: NatsConnection;
  log: Logger;
  /** The status document `signals.status` answers with (must be JSON-serialisable). */
  status: () => unknown;
  /** The rows `signals.symbols` answers with (default none). */
  symbols?: () => unknown;
  /** Handlers of the lifecycle endpoints; each defaults to forwarding to `model-lifecycle.<name>`. */
  handlers?: Partial<Record<Exclude<SystemEndpoint, 'status' | 'symbols'>, EndpointHandler>>;
  /** How long a forwarded request may take (default 10 s). */
  forwardTimeoutMs?: number;
  version?: string;
};

export type SystemServiceHandle = {
  readonly service: Service;
  stop(): Promise<void>;
};

const encoder = new TextEncoder();

/**
 * A handler that forwards the request to `subject` (another service's endpoint) and
 * passes its answer back, error code included. No responders → 503, timeout → 504.
 */
export function forwardTo(nc: NatsConnection, subject: string, timeoutMs = 10_000): EndpointHandler {
  return async (data) => {
    try {
      const reply = await nc.request(subject, data, { timeout: timeoutMs });
      const code = reply.headers?.get(ServiceErrorCodeHeader);
      if (code) {
        const n = Number(code);
        return { ok: false, code: Number.isInteger(n) && n > 0 ? n : 500, message: reply.headers?.get(ServiceErrorHeader) || `error from ${subject}` };
      }
      if (reply.data.length === 0) return { ok: true, body: null };
      try {
        return { ok: true, body: JSON.parse(reply.string()) as unknown };
      } catch {
        return { ok: false, code: 502, message: `${subject} answered with a body that is not JSON` };
      }
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders()) return { ok: false, code: 503, message: `${subject} is not available (no service answering)` };
      if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
        return { ok: false, code: 504, message: `${subject} did not answer within ${timeoutMs} ms` };
      }
      return { ok: false, code: 502, message: err instanceof Error ? err.message : String(err) };
    }
  };
}

/**
 * Registers the `signals` service with its four endpoints. Several processes may run
 * it: requests are spread over them (the default queue group), and `nats micro info
 * signals` lists every instance.
 */
export async function startSystemService(deps: SystemServiceDeps): Promise<SystemServiceHandle> {
  const log = deps.log.child({ actor: 'systemService' });
  // @nats-io/services 3.0.0-25 pins its own pre-release nats-core whose types differ from
  // 3.4.0 only in optional-property details; the connection object is the same at runtime
  // (the same bridge as actors/model-lifecycle.logic.ts).
  const service = await new Svcm(deps.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: SYSTEM_SERVICE,
    version: deps.version ?? '0.1.0',
    description: 'trading signals system: status of phases and actors; model registry, retrain and rollback',
  });
  const group = service.addGroup(SYSTEM_SERVICE);
  const timeout = deps.forwardTimeoutMs ?? 10_000;

  const answer = (msg: ServiceMsg, reply: EndpointReply) => {
    if (reply.ok) msg.respond(encoder.encode(JSON.stringify(reply.body)));
    else msg.respondError(reply.code, reply.message);
  };
  const serve = (name: SystemEndpoint, handler: EndpointHandler) => {
    group.addEndpoint(name, {
      metadata: { description: name === 'status' ? 'system status' : name === 'symbols' ? 'symbols of this process' : `forwarded to ${LIFECYCLE_SERVICE_NAME}.${name} unless overridden` },
      handler: (err, msg) => {
        if (err) {
          log.warn({ err, endpoint: name }, 'service endpoint error');
          return;
        }
        handler(msg.data)
          .then((reply) => answer(msg, reply))
          .catch((e: unknown) => {
            log.warn({ err: e, endpoint: name }, 'service request failed');
            msg.respondError(500, e instanceof Error ? e.message : String(e));
          });
      },
    });
  };

  serve('status', async () => ({ ok: true, body: deps.status() }));
  serve('symbols', async () => ({ ok: true, body: deps.symbols?.() ?? [] }));
  for (const name of ['models', 'retrain', 'rollback'] as const) {
    serve(name, deps.handlers?.[name] ?? forwardTo(deps.nc, `${LIFECYCLE_SERVICE_NAME}.${name}`, timeout));
  }
  log.info({ service: SYSTEM_SERVICE, endpoints: SYSTEM_ENDPOINTS.map((e) => `${SYSTEM_SERVICE}.${e}`) }, 'system service registered');
  return {
    service,
    stop: async () => {
      await service.stop();
    },
  };
}
