import { PublishRejectedError, type JsPublisher } from './ack-publisher.ts';
import { publishJson, type OutboundMessage } from './publish.ts';

/**
 * True when publishing the same message again cannot succeed: the client refused it
 * (larger than the server's `max_payload`, a bad subject) or the stream rejected it
 * for what it is (a 4xx in the PubAck). Timeouts, 503 (no stream leader or stream
 * yet, e.g. during a restart or an election), a closed or reconnecting connection
 * are passing: publish again with the same msg id.
 */
export function isPermanentPublishError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'InvalidArgumentError' || err.name === 'InvalidSubjectError') return true;
  return err instanceof PublishRejectedError && !err.retryable;
}

/**
 * Waits before another attempt; resolves false when the caller stops (abort), and
 * the publish then rejects with the last error. Built from the actors' backoff.
 */
export type RetryWait = (err: unknown, attempt: number) => Promise<boolean>;

export type ReliablePublishOptions = {
  wait: RetryWait;
  /** Acks outstanding at once. */
  window?: number;
  /**
   * A message that can never be published (see `isPermanentPublishError`): called
   * and counted as settled, so one bad message cannot hold back the rest. Without
   * it the publish rejects with that error.
   */
  onUndeliverable?: (message: OutboundMessage, err: unknown) => void;
  /** Called once per round of retries (the caller shows `degraded`). */
  onRetry?: (err: unknown, attempt: number, failed: number) => void;
  /** Called when a round of retries succeeded. */
  onRecovered?: () => void;
};

export type ReliablePublishResult = { published: number; duplicates: number; undeliverable: number };

/**
 * Publishes many messages with up to `window` acks outstanding, and keeps publishing
 * those that failed for a passing reason, in their original order and each with its
 * own msg id (the stream drops a copy it already stored), until every one is
 * acknowledged. A nats-server restart or a leader election in the middle of a batch
 * so neither loses nor duplicates a message, and never ends the caller.
 */
export async function publishReliably(
  js: JsPublisher,
  messages: Iterable<OutboundMessage>,
  opts: ReliablePublishOptions,
): Promise<ReliablePublishResult> {
  const window = opts.window ?? 256;
  const result: ReliablePublishResult = { published: 0, duplicates: 0, undeliverable: 0 };
  let failed: { index: number; message: OutboundMessage; err: unknown }[] = [];
  const inFlight = new Set<Promise<void>>();
  const send = (message: OutboundMessage, i: number): Promise<void> =>
    publishJson(js, message).then(
      (ack) => {
        result.published += 1;
        if (ack.duplicate) result.duplicates += 1;
      },
      (err: unknown) => {
        if (isPermanentPublishError(err) && opts.onUndeliverable) {
          result.undeliverable += 1;
          opts.onUndeliverable(message, err);
          return;
        }
        failed.push({ index: i, message, err });
      },
    );
  const it = messages[Symbol.iterator]();
  let index = 0;
  for (let next = it.next(); ; ) {
    // Pipelined until the first failure: nothing newer goes out before the failed ones went again.
    while (!next.done && failed.length === 0) {
      const p = send(next.value, index++);
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= window) await Promise.race(inFlight);
      next = it.next();
    }
    await Promise.all(inFlight);
    // Retries go one at a time, in order: an outage is no time for a window of doomed publishes.
    for (let attempt = 0; failed.length > 0; attempt++) {
      failed.sort((a, b) => a.index - b.index);
      const first = failed[0]!;
      if (isPermanentPublishError(first.err) && !opts.onUndeliverable) throw first.err;
      opts.onRetry?.(first.err, attempt, failed.length);
      if (!(await opts.wait(first.err, attempt))) throw first.err;
      const round = failed;
      failed = [];
      for (const [k, f] of round.entries()) {
        await send(f.message, f.index);
        if (failed.length > 0) {
          // Still failing: keep the rest for the next round, in order.
          failed.push(...round.slice(k + 1));
          break;
        }
      }
      if (failed.length === 0) opts.onRecovered?.();
    }
    if (next.done) return result;
  }
}
