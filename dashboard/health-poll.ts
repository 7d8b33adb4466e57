import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Logger } from '../config/index.ts';
import type { ServiceSymbolRow } from './board.ts';

/** The part of the status document (`signals.status`) the page shows; everything else is passed through untouched. */
const statusSchema = z.looseObject({
  phase: z.string(),
  sync: z.looseObject({ state: z.string(), stats: z.looseObject({ received: z.number(), stored: z.number(), invalid: z.number(), barsPublished: z.number(), pending: z.number() }).optional() }),
  predictor: z.looseObject({ state: z.string(), stats: z.looseObject({ predictions: z.number() }).optional(), warmingUp: z.number(), ready: z.number() }),
  lifecycle: z.looseObject({ state: z.string() }),
  quality: z.looseObject({ healthy: z.number(), degraded: z.number(), quarantined: z.number(), gapsFound: z.number(), gapsFilled: z.number(), gapsUnfillable: z.number() }),
  eventLoop: z.looseObject({ p50Ms: z.number(), p99Ms: z.number(), maxMs: z.number() }),
  versions: z.array(z.string()),
});

const symbolRowSchema = z.looseObject({
  venue: z.string(),
  symbol: z.string(),
  quality: z.enum(['healthy', 'degraded', 'quarantined', 'unknown']),
  prediction: z.enum(['warming_up', 'ready', 'unknown']),
  bars: z.number(),
  barsNeeded: z.number(),
  regime: z.string().nullable(),
  gaps: z.object({ found: z.number(), filled: z.number(), unfillable: z.number() }),
  lastBarTs: z.number().nullable(),
});

/** What the page's health strip shows. `system: 'down'` when nothing answers `signals.status`. */
export type Health = {
  at: number;
  system: 'up' | 'down';
  phase: string | null;
  ingest: { state: string; ticksPerSecond: number | null; received: number; stored: number; invalid: number; bars: number } | null;
  predictions: number | null;
  warmingUp: number | null;
  lifecycle: string | null;
  quality: z.output<typeof statusSchema>['quality'] | null;
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number } | null;
  versions: string[];
  /** Messages not yet processed by each durable of the system (pending + unacked). */
  lag: { stream: string; consumer: string; pending: number }[];
};

export type HealthPoll = { health: Health; symbols: ServiceSymbolRow[] | undefined };

const decoder = new TextDecoder();

async function ask(nc: NatsConnection, subject: string, timeoutMs: number): Promise<unknown> {
  const reply = await nc.request(subject, '', { timeout: timeoutMs });
  return JSON.parse(decoder.decode(reply.data)) as unknown;
}

/** Consumer lag of the durables on MD_TICKS and MD_BARS (the system's ingest and predictors). */
async function consumerLag(nc: NatsConnection): Promise<Health['lag']> {
  const jsm = await jetstreamManager(nc, { timeout: 2_000 });
  const out: Health['lag'] = [];
  for (const stream of ['MD_TICKS', 'MD_BARS']) {
    for await (const c of jsm.consumers.list(stream)) {
      if (!c.config.durable_name) continue;
      out.push({ stream, consumer: c.name, pending: c.num_pending + c.num_ack_pending });
    }
  }
  return out;
}

/**
 * Asks the running system how it is (the `signals.status` and `signals.symbols`
 * service endpoints, the same the CLI uses) and the servers how far behind its
 * consumers are. Never throws: a system that does not answer is `down`.
 */
export function createHealthPoller(nc: NatsConnection, log: Logger): () => Promise<HealthPoll> {
  let last: { at: number; received: number } | undefined;
  return async () => {
    const at = Date.now();
    const [status, symbols, lag] = await Promise.all([
      ask(nc, 'signals.status', 1_500).catch(() => undefined),
      ask(nc, 'signals.symbols', 1_500).catch(() => undefined),
      consumerLag(nc).catch((err: unknown) => {
        log.debug({ err }, 'dashboard: consumer lag unavailable');
        return [];
      }),
    ]);
    const s = statusSchema.safeParse(status);
    const rows = z.array(symbolRowSchema).safeParse(symbols);
    if (!s.success) {
      last = undefined;
      return {
        health: { at, system: 'down', phase: null, ingest: null, predictions: null, warmingUp: null, lifecycle: null, quality: null, eventLoop: null, versions: [], lag },
        symbols: undefined,
      };
    }
    const d = s.data;
    const received = d.sync.stats?.received ?? 0;
    const rate = last && at > last.at && received >= last.received ? ((received - last.received) * 1000) / (at - last.at) : null;
    last = { at, received };
    return {
      health: {
        at,
        system: 'up',
        phase: d.phase,
        ingest: { state: d.sync.state, ticksPerSecond: rate, received, stored: d.sync.stats?.stored ?? 0, invalid: d.sync.stats?.invalid ?? 0, bars: d.sync.stats?.barsPublished ?? 0 },
        predictions: d.predictor.stats?.predictions ?? 0,
        warmingUp: d.predictor.warmingUp,
        lifecycle: d.lifecycle.state,
        quality: d.quality,
        eventLoop: { p50Ms: d.eventLoop.p50Ms, p99Ms: d.eventLoop.p99Ms, maxMs: d.eventLoop.maxMs },
        versions: d.versions,
        lag,
      },
      symbols: rows.success ? rows.data : undefined,
    };
  };
}
