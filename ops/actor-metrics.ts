import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter } from 'prom-client';
import type { Logger } from '../config/index.ts';
import type { Alerter } from './alerts.ts';
import type { OpsMetrics } from './metrics.ts';

/** A state value as `running.live`, for display and readiness checks. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? ['?', ''];
    return v === undefined || v === '' ? k : `${k}.${stateName(v)}`;
  }
  return String(value);
}

/** The marketSync counters the ingest metrics are fed from (a structural subset of its stats, so ops needs no actor code). */
export type IngestCounters = {
  batches: number;
  stored: number;
  invalid: number;
  duplicates: number;
  conflicts: number;
  barsPublished: number;
  lastBatchMs: number;
};

/** What `bindMarketSync` needs of the marketSync actor (an XState actor ref). */
export type MarketSyncLike = {
  getSnapshot(): { value: unknown; context: { stats: IngestCounters } };
  subscribe(observer: (snapshot: { value: unknown; context: { stats: IngestCounters } }) => void): { unsubscribe(): void };
};

/** marketSync states in which the process counts as ready (catching up is ready: it is working). */
export const MARKET_SYNC_READY_STATES = ['running.live', 'running.catchingUp'] as const;

/**
 * Feeds the ingest metrics from the marketSync actor's stats: the machine counts
 * every batch (`sync.batch`), this turns the differences into counter increments and
 * one latency observation per batch. Returns the unsubscribe function.
 */
export function bindMarketSync(actor: MarketSyncLike, metrics: OpsMetrics): () => void {
  const ticksConflict = conflictCounter(metrics);
  let last = actor.getSnapshot().context.stats;
  const sub = actor.subscribe((snap) => {
    const s = snap.context.stats;
    if (s.batches === last.batches) return;
    metrics.ticksStored.inc(Math.max(0, s.stored - last.stored));
    metrics.ticksInvalid.inc(Math.max(0, s.invalid - last.invalid));
    metrics.ticksDuplicate.inc(Math.max(0, s.duplicates - last.duplicates));
    ticksConflict.inc(Math.max(0, s.conflicts - last.conflicts));
    metrics.barsPublished.inc(Math.max(0, s.barsPublished - last.barsPublished));
    metrics.ingestBatches.inc(s.batches - last.batches);
    metrics.batchSeconds.observe(s.lastBatchMs / 1000);
    last = s;
  });
  return () => sub.unsubscribe();
}

const CONFLICT_METRIC = 'signals_ticks_conflict_total';

/**
 * Ticks whose key was already stored with other content (a conflicting correction
 * from the venue): the stored tick is kept and the new one dead-lettered as
 * `conflict`. Registered on the process registry once, however many times the
 * marketSync actor is bound (restarts).
 */
function conflictCounter(metrics: OpsMetrics): Counter {
  const existing = metrics.registry.getSingleMetric(CONFLICT_METRIC);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name: CONFLICT_METRIC,
    help: 'Ticks dead-lettered as conflict: their key was stored with another price, size or side (the stored tick is kept).',
    registers: [metrics.registry],
  });
}

export type LagMonitorOptions = {
  nc: NatsConnection;
  metrics: OpsMetrics;
  log: Logger;
  /** Durable consumers to watch. */
  consumers: readonly { stream: string; durable: string }[];
  /** Poll period (default 5 s). */
  intervalMs?: number;
  /** Raise a `consumer_lag` alert when pending + unacked exceeds this (default 100,000), `recovered` when back under half. */
  alertThreshold?: number;
  alert?: Alerter;
};

export type LagMonitor = {
  /** Polls once now (also what the timer does). */
  poll(): Promise<void>;
  /** The last lag seen per `stream/durable` (pending + unacked); absent until polled. */
  lag(stream: string, durable: string): number | undefined;
  stop(): void;
};

/**
 * Polls `consumers.info` of each durable and sets the consumer lag gauges; with an
 * alerter, raises `consumer_lag` once when a consumer falls behind and `recovered`
 * once when it has caught up again. A consumer that does not exist yet is skipped.
 */
export function startLagMonitor(options: LagMonitorOptions): LagMonitor {
  const log = options.log.child({ actor: 'lagMonitor' });
  const threshold = options.alertThreshold ?? 100_000;
  const lags = new Map<string, number>();
  const alerting = new Set<string>();
  let jsm: JetStreamManager | undefined;
  let polling: Promise<void> | undefined;

  const pollOnce = async () => {
    jsm ??= await jetstreamManager(options.nc);
    for (const { stream, durable } of options.consumers) {
      const key = `${stream}/${durable}`;
      let info;
      try {
        info = await jsm.consumers.info(stream, durable);
      } catch (err) {
        log.debug({ err, stream, durable }, 'consumer info unavailable');
        continue;
      }
      options.metrics.setConsumerLag(stream, durable, info.num_pending, info.num_ack_pending);
      const lag = info.num_pending + info.num_ack_pending;
      lags.set(key, lag);
      if (!options.alert) continue;
      if (lag > threshold && !alerting.has(key)) {
        alerting.add(key);
        await options.alert('consumer_lag', {
          severity: 'warning',
          message: `consumer ${durable} on ${stream} is ${lag} messages behind (threshold ${threshold})`,
          details: { stream, durable, pending: info.num_pending, ackPending: info.num_ack_pending, threshold },
        });
      } else if (lag <= threshold / 2 && alerting.has(key)) {
        alerting.delete(key);
        await options.alert('recovered', {
          severity: 'info',
          message: `consumer ${durable} on ${stream} caught up (${lag} behind)`,
          details: { stream, durable, pending: info.num_pending, ackPending: info.num_ack_pending },
        });
      }
    }
  };
  const poll = () => {
    polling ??= pollOnce()
      .catch((err: unknown) => log.warn({ err }, 'lag poll failed'))
      .finally(() => {
        polling = undefined;
      });
    return polling;
  };
  const timer = setInterval(() => void poll(), options.intervalMs ?? 5_000);
  timer.unref();
  return {
    poll,
    lag: (stream, durable) => lags.get(`${stream}/${durable}`),
    stop: () => clearInterval(timer),
  };
}
