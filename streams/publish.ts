import type { JetStreamPublishOptions, PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { JsPublisher } from './ack-publisher.ts';
import { encodeJson } from './codec.ts';

export type OutboundMessage = { subject: string; payload: unknown; msgId?: string; headers?: Record<string, string> };

/** Header set on bars the ingest path itself publishes, so bar consumers can tell them from external feeds. */
export const ORIGIN_HEADER = 'Signals-Origin';

/** Publishes one JSON message to JetStream and waits for the stream's ack. */
export async function publishJson(js: JsPublisher, message: OutboundMessage): Promise<PubAck> {
  const opts: Partial<JetStreamPublishOptions> = {};
  if (message.msgId) opts.msgID = message.msgId;
  if (message.headers) {
    const h = headers();
    for (const [k, v] of Object.entries(message.headers)) h.set(k, v);
    opts.headers = h;
  }
  return js.publish(message.subject, encodeJson(message.payload), opts);
}

/**
 * Publishes many messages with up to `window` acks outstanding at once (ordered
 * submission, pipelined acks): far faster than awaiting each one, and still every
 * publish is confirmed before this resolves. Rejects on the first failure.
 */
export async function publishPipelined(
  js: JsPublisher,
  messages: Iterable<OutboundMessage>,
  window = 256,
): Promise<{ published: number; duplicates: number }> {
  const inFlight = new Set<Promise<void>>();
  let published = 0;
  let duplicates = 0;
  let failure: unknown;
  for (const m of messages) {
    if (failure !== undefined) break;
    const p: Promise<void> = publishJson(js, m).then(
      (ack) => {
        published += 1;
        if (ack.duplicate) duplicates += 1;
      },
      (err: unknown) => {
        failure ??= err;
      },
    );
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  return { published, duplicates };
}

/** Dedup ids (contract): ticks `<venue>:<symbol>:<tradeId>`, bars `<venue>:<symbol>:<ts>`. */
export const msgIds = {
  tick: (venue: string, symbol: string, tradeId: string): string => `${venue}:${symbol}:${tradeId}`,
  bar: (venue: string, symbol: string, ts: number, revision = 0): string =>
    revision === 0 ? `${venue}:${symbol}:${ts}` : `${venue}:${symbol}:${ts}:r${revision}`,
} as const;
