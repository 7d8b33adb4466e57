import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * The messages of `stream` on `filter` published since `sinceMs`, oldest first, at
 * most the newest `max` of them. An ordered consumer (ephemeral, no acks): reading
 * history must not leave state on the server or compete with the system's durables.
 */
export async function recentMessages(nc: NatsConnection, stream: string, filter: string, sinceMs: number, max: number, timeoutMs = 3_000): Promise<unknown[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, {
    // A single subject: several filters need nats-server 2.10.
    filter_subjects: filter,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(sinceMs).toISOString(),
  });
  const out: unknown[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const info = await consumer.info(true);
    if (info.num_pending === 0 || Date.now() > end) break;
    const batch = await consumer.fetch({ max_messages: Math.min(1_000, info.num_pending), expires: 1_000 });
    for await (const m of batch) {
      try {
        out.push(m.json());
      } catch {
        // A message that is not JSON is not worth showing; the system dead-letters its own.
      }
      if (out.length > max) out.shift();
    }
  }
  return out;
}
