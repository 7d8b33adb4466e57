import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

export type StreamMessage<T = unknown> = { subject: string; seq: number; msgId: string | undefined; data: T };

/** Every message currently in `stream` matching `filter`, in stream order (an ephemeral, no-ack consumer). */
export async function readStream<T = unknown>(nc: NatsConnection, stream: string, filter: string): Promise<StreamMessage<T>[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    filter_subject: filter,
    inactive_threshold: nanos(30_000),
  });
  const total = info.num_pending;
  const out: StreamMessage<T>[] = [];
  if (total === 0) {
    await jsm.consumers.delete(stream, info.name);
    return out;
  }
  const consumer = await jetstream(nc).consumers.get(stream, info.name);
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(10_000, total - out.length), expires: 2_000 });
    for await (const m of batch) {
      out.push({ subject: m.subject, seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id') || undefined, data: m.json<T>() });
    }
  }
  await jsm.consumers.delete(stream, info.name);
  return out;
}

/**
 * Polls `check` until it returns true or `timeoutMs` passes. `what` names the
 * condition; a function is called on timeout, to report the state it ended in.
 */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  what: string | (() => string | Promise<string>) = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
