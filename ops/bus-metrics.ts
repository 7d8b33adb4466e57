import type { KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Logger } from '../config/index.ts';
import { gapEventSchema, qualityMessageSchema } from '../actors/quality/index.ts';
import { decodeJson, epochMs, KV_BUCKETS, modelActiveSchema, openBucket, parseScopedSubject, subjects } from '../streams/index.ts';
import type { OpsMetrics } from './metrics.ts';

/** Only the fields the observer needs; the full schemas are checked by the consumers. */
const timedSchema = z.object({ ts: epochMs });
const rolledbackSchema = z.object({ actor: z.string() });

export type BusObserverOptions = {
  /** Bars remembered while waiting for their prediction (oldest forgotten first); default 50,000. */
  maxPendingBars?: number;
};

export type BusObserver = { stop(): Promise<void> };

/**
 * Derives metrics from what crosses the bus, so no actor has to be changed to be
 * measured: predictions and their latency (a bar's arrival on `md.bar.1m.>` → its
 * prediction's arrival on `signal.pred.>`), gap events (`md.gap.>`), per-symbol
 * quality (`md.quality.>`), rollbacks (`model.events.rolledback`), and the active
 * versions and swaps of KV `model_active`. Core subscriptions: they see what is
 * published while this process runs, not the history.
 *
 * Every process that runs it sees the same events: with several processes, aggregate
 * these series with `max`, not `sum` (or run the observer in one process only).
 */
export async function observeBus(nc: NatsConnection, metrics: OpsMetrics, log: Logger, options: BusObserverOptions = {}): Promise<BusObserver> {
  const olog = log.child({ actor: 'busMetrics' });
  const maxPending = options.maxPendingBars ?? 50_000;
  /** `venue.symbol.ts` of bars seen → arrival time (ms, performance clock). Insertion order = age. */
  const barSeenAt = new Map<string, number>();
  /** Predictions that came before their bar (fast lane), until the bar comes. */
  const predictedFirst = new Set<string>();
  const subs: Subscription[] = [];

  const listen = (subject: string, onMsg: (subject: string, data: Uint8Array) => void) => {
    const sub = nc.subscribe(subject);
    subs.push(sub);
    void (async () => {
      for await (const m of sub) {
        try {
          onMsg(m.subject, m.data);
        } catch (err) {
          olog.warn({ err, subject: m.subject }, 'metric update failed');
        }
      }
    })().catch((err: unknown) => olog.warn({ err, subject }, 'bus subscription ended'));
  };

  listen('md.bar.1m.>', (subject, data) => {
    const scope = parseScopedSubject(subject, 3);
    const bar = decodeJson(timedSchema, data, 65_536);
    if (!scope || !bar.ok) return;
    const key = `${scope.venue}.${scope.symbol}.${bar.value.ts}`;
    if (barSeenAt.has(key)) return; // a correction: latency counts from the first publication
    if (predictedFirst.delete(key)) return; // predicted on the fast lane before the stored bar came
    barSeenAt.set(key, performance.now());
    if (barSeenAt.size > maxPending) {
      const oldest = barSeenAt.keys().next();
      if (!oldest.done) barSeenAt.delete(oldest.value);
    }
  });

  listen('signal.pred.>', (subject, data) => {
    const scope = parseScopedSubject(subject, 2);
    const pred = decodeJson(timedSchema, data, 1_048_576);
    if (!scope || !pred.ok) return;
    metrics.predictions.inc();
    const key = `${scope.venue}.${scope.symbol}.${pred.value.ts}`;
    const seen = barSeenAt.get(key);
    if (seen !== undefined) {
      metrics.predictionSeconds.observe((performance.now() - seen) / 1000);
      barSeenAt.delete(key);
    } else {
      // Made from the bar marketSync handed over in memory (BarLane): published before the stored bar.
      metrics.predictionsAheadOfBar.inc();
      predictedFirst.add(key);
      if (predictedFirst.size > maxPending) {
        const oldest = predictedFirst.values().next();
        if (!oldest.done) predictedFirst.delete(oldest.value);
      }
    }
  });

  listen('md.gap.>', (_subject, data) => {
    const r = decodeJson(gapEventSchema, data, 65_536);
    if (!r.ok) return;
    metrics.gap(r.value.type === 'gap.detected' ? 'found' : r.value.type === 'gap.filled' ? 'filled' : 'unfillable');
  });

  listen('md.quality.>', (_subject, data) => {
    const r = decodeJson(qualityMessageSchema, data, 1_048_576);
    if (!r.ok) return;
    metrics.setQualityState(r.value.venue, r.value.symbol, r.value.type === 'quality.report' ? r.value.state : r.value.to);
  });

  listen(subjects.modelEvent('rolledback'), (_subject, data) => {
    const r = decodeJson(rolledbackSchema, data, 1_048_576);
    if (!r.ok) return;
    // A rollout's rollback is decided by its paired test: automatic too.
    metrics.modelRollbacks.inc({ trigger: r.value.actor === 'auto-rollback' || r.value.actor === 'rollout' ? 'auto' : 'manual' });
  });

  // KV model_active: the first value of a key sets the gauge; every later change is a swap.
  const kv = await openBucket(nc, KV_BUCKETS.modelActive);
  const watcher = await kv.watch();
  const known = new Map<string, string>();
  const onEntry = (e: KvWatchEntry) => {
    if (e.operation === 'DEL' || e.operation === 'PURGE') {
      metrics.setActiveVersions(e.key, undefined);
      known.delete(e.key);
      return;
    }
    const r = decodeJson(modelActiveSchema, e.value, 1_048_576);
    if (!r.ok) return;
    const versions = JSON.stringify([r.value.pretrained, r.value.online ?? null]);
    const before = known.get(e.key);
    if (before !== undefined && before !== versions) metrics.modelSwaps.inc({ scope: e.key });
    known.set(e.key, versions);
    metrics.setActiveVersions(e.key, r.value);
  };
  void (async () => {
    for await (const e of watcher) onEntry(e);
  })().catch((err: unknown) => olog.warn({ err }, 'model_active watch ended'));

  return {
    async stop() {
      watcher.stop();
      for (const s of subs) s.unsubscribe();
      barSeenAt.clear();
      predictedFirst.clear();
    },
  };
}
