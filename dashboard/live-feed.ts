import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { KvWatchEntry } from '@nats-io/kv';
import { z } from 'zod';
import type { Logger } from '../config/index.ts';
import { modelEventSchema } from '../actors/lifecycle/index.ts';
import { blendWeightsSchema } from '../actors/prediction/index.ts';
import { gapEventSchema, qualityMessageSchema } from '../actors/quality/index.ts';
import { alertSchema } from '../ops/index.ts';
import { barSchema, KV_BUCKETS, modelActiveSchema, openBucket, parseScopedSubject, predictionSchema } from '../streams/index.ts';
import type { SymbolBoard } from './board.ts';
import type { SseHub } from './sse.ts';

/** A challenger's forecast in shadow: a prediction plus the version it came from (read loosely: only what the page draws). */
const shadowSchema = z.looseObject({ venue: z.string(), symbol: z.string(), ts: z.number(), version: z.string(), horizons: z.record(z.string(), z.looseObject({ sigma: z.number(), value: z.number() })).optional() });

/** The newest `max` entries, oldest first. */
export class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly max: number) {}
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max);
  }
  list(): T[] {
    return [...this.items];
  }
}

export type LiveFeedDeps = {
  nc: NatsConnection;
  board: SymbolBoard;
  hub: SseHub;
  log: Logger;
  modelEvents: Ring<unknown>;
  alerts: Ring<unknown>;
};

export type LiveFeed = { invalid: () => number; stop(): Promise<void> };

/**
 * Feeds the open pages from the system's subjects (core NATS subscriptions: the
 * page sees what subscribers see, and reading never touches the system's
 * durables). Every message is validated before it reaches a page; per-symbol
 * detail (bars, predictions, weights, shadow) is decoded only for the symbols a
 * page shows, so an idle dashboard costs next to nothing beside a busy system.
 */
export async function startLiveFeed(deps: LiveFeedDeps): Promise<LiveFeed> {
  const { nc, board, hub, log } = deps;
  let invalid = 0;
  const reject = (subject: string, issues: unknown) => {
    invalid += 1;
    log.debug({ subject, issues }, 'dashboard: message failed validation, not shown');
  };
  const subs: Subscription[] = [];
  const on = (subject: string, prefixTokens: number, handle: (key: string, venue: string, symbol: string, data: Uint8Array, subj: string) => void) => {
    subs.push(
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          const scope = parseScopedSubject(msg.subject, prefixTokens);
          if (!scope) return;
          try {
            handle(`${scope.venue}.${scope.symbol}`, scope.venue, scope.symbol, msg.data, msg.subject);
          } catch (e) {
            reject(msg.subject, e instanceof Error ? e.message : String(e));
          }
        },
      }),
    );
  };
  const json = (data: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(data)) as unknown;

  // Unwatched symbols are not decoded at all: the list's last-bar time comes from the
  // system's answers, its prediction age from the arrival time alone.
  on('md.bar.1m.>', 3, (key, venue, symbol, data, subj) => {
    if (!hub.watched().has(key)) return;
    const b = barSchema.safeParse(json(data));
    if (!b.success) return reject(subj, b.error.issues);
    board.bar(venue, symbol, b.data.ts);
    hub.send('bar', b.data, key);
  });
  on('signal.pred.>', 2, (key, venue, symbol, data, subj) => {
    const at = Date.now();
    if (!hub.watched().has(key)) {
      board.predictionSeen(venue, symbol, at);
      return;
    }
    const p = predictionSchema.safeParse(json(data));
    if (!p.success) return reject(subj, p.error.issues);
    board.prediction(venue, symbol, p.data.ts, at);
    hub.send('prediction', { ...p.data, receivedAt: at }, key);
  });
  on('signal.weights.>', 2, (key, _venue, _symbol, data, subj) => {
    if (!hub.watched().has(key)) return;
    const w = blendWeightsSchema.safeParse(json(data));
    if (!w.success) return reject(subj, w.error.issues);
    // The history window repeats what the page already has; the current weights are enough.
    hub.send('weights', { ...w.data, history: [] }, key);
  });
  on('signal.shadow.>', 2, (key, _venue, _symbol, data, subj) => {
    if (!hub.watched().has(key)) return;
    const s = shadowSchema.safeParse(json(data));
    if (!s.success) return reject(subj, s.error.issues);
    hub.send('shadow', s.data, key);
  });
  on('md.gap.>', 2, (_key, _venue, _symbol, data, subj) => {
    const g = gapEventSchema.safeParse(json(data));
    if (!g.success) return reject(subj, g.error.issues);
    hub.send('gap', g.data);
  });
  on('md.quality.>', 2, (_key, venue, symbol, data, subj) => {
    const q = qualityMessageSchema.safeParse(json(data));
    if (!q.success) return reject(subj, q.error.issues);
    if (q.data.type === 'quality.state_changed') board.setQuality(venue, symbol, q.data.to);
    else board.setQuality(venue, symbol, q.data.state);
    hub.send('quality', q.data);
  });
  const plain = (subject: string, handle: (data: Uint8Array, subj: string) => void) => {
    subs.push(
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            handle(msg.data, msg.subject);
          } catch (e) {
            reject(msg.subject, e instanceof Error ? e.message : String(e));
          }
        },
      }),
    );
  };
  plain('model.events.>', (data, subj) => {
    const e = modelEventSchema.safeParse(json(data));
    if (!e.success) return reject(subj, e.error.issues);
    deps.modelEvents.push(e.data);
    hub.send('model', e.data);
  });
  plain('ops.alert.>', (data, subj) => {
    const a = alertSchema.safeParse(json(data));
    if (!a.success) return reject(subj, a.error.issues);
    deps.alerts.push(a.data);
    hub.send('alert', a.data);
  });

  // The active versions: a watch on `model_active`, the same one every predictor hot-swaps from.
  const kv = await openBucket(nc, KV_BUCKETS.modelActive);
  const watch = await kv.watch();
  const applyEntry = (e: KvWatchEntry) => {
    if (e.operation !== 'PUT') {
      board.setActive(e.key, undefined);
    } else {
      const v = modelActiveSchema.safeParse(e.json());
      if (!v.success) return reject(`$KV.${KV_BUCKETS.modelActive}.${e.key}`, v.error.issues);
      board.setActive(e.key, v.data);
      hub.send('active', { key: e.key, ...v.data });
    }
  };
  const watching = (async () => {
    for await (const e of watch) {
      try {
        applyEntry(e);
      } catch (err) {
        reject(`$KV.${KV_BUCKETS.modelActive}.${e.key}`, err instanceof Error ? err.message : String(err));
      }
    }
  })().catch((err: unknown) => log.warn({ err }, 'dashboard: model_active watch ended'));

  return {
    invalid: () => invalid,
    async stop() {
      for (const s of subs) s.unsubscribe();
      watch.stop();
      await watching;
    },
  };
}
