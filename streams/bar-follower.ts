import type { ConsumerMessages, JetStreamClient, JsMsg, OrderedConsumerOptions } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Logger } from '../config/index.ts';
import { decodeJson } from './codec.ts';
import { barSchema, type Bar } from './messages.schema.ts';
import { subjects } from './subjects.ts';

export type BarFollowerOptions<T> = {
  js: JetStreamClient;
  log: Logger;
  venue: string;
  symbol: string;
  /** Where the consumer starts; asked again at every reopen (so it can resume after the last message seen). */
  start(): Partial<OrderedConsumerOptions>;
  /** Every message, valid or not, in stream order (before it is decoded). */
  seen?(msg: JsMsg): void;
  /** A valid bar of the series, as the batch should hold it. */
  map(bar: Bar, msg: JsMsg): T;
  /** A batch: `maxBatch` items, or whatever arrived within `batchMs` of the first. */
  onBatch(items: T[]): void;
  batchMs: number;
  maxBatch: number;
  maxPayloadBytes: number;
};

/** The `Signals-Revision` header (ingest numbers bar corrections with it); undefined when absent or malformed. */
export function barRevision(msg: { readonly headers?: MsgHdrs | undefined }): number | undefined {
  let header: string | undefined;
  try {
    header = msg.headers?.get('Signals-Revision');
  } catch {
    return undefined; // a header block the client library cannot decode: no usable revision
  }
  return header && /^\d{1,9}$/.test(header) ? Number(header) : undefined;
}

/**
 * Follows one series' bars (`md.bar.1m.<venue>.<symbol>` in MD_BARS) with an
 * ordered consumer, in batches. Invalid payloads are logged and skipped (the
 * ingest path owns the dead-letter queue); bars of other series are ignored. A
 * consumer that ends (server restart, stream recreated) is opened again, with a
 * growing pause, from wherever `start` says.
 */
export function followBars<T>(opts: BarFollowerOptions<T>): { stop(): void } {
  const subject = subjects.bar1m(opts.venue, opts.symbol);
  const log = opts.log.child({ feed: subject });
  let batch: T[] = [];
  let timer: NodeJS.Timeout | undefined;
  let messages: ConsumerMessages | undefined;
  let stopped = false;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0 || stopped) return;
    const items = batch;
    batch = [];
    opts.onBatch(items);
  };

  const run = async () => {
    const consumer = await opts.js.consumers.get('MD_BARS', { filter_subjects: subject, ...opts.start() });
    if (stopped) return;
    messages = await consumer.consume({ max_messages: opts.maxBatch });
    for await (const m of messages) {
      opts.seen?.(m);
      const decoded = decodeJson(barSchema, m.data, opts.maxPayloadBytes);
      if (!decoded.ok) {
        log.warn({ reason: decoded.reason, issues: decoded.issues, seq: m.seq }, 'invalid bar skipped');
        continue;
      }
      if (decoded.value.venue !== opts.venue || decoded.value.symbol !== opts.symbol) continue;
      batch.push(opts.map(decoded.value, m));
      if (batch.length >= opts.maxBatch) flush();
      else timer ??= setTimeout(flush, opts.batchMs);
    }
  };

  const loop = async () => {
    for (let attempt = 0; !stopped; attempt += 1) {
      try {
        await run();
        attempt = 0;
      } catch (err) {
        if (!stopped) log.warn({ err, attempt }, 'bar feed failed; reopening');
      }
      if (!stopped) await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** Math.min(attempt, 6))));
    }
  };
  void loop();

  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      void messages?.close();
    },
  };
}
