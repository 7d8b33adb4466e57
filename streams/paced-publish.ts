import { setTimeout as sleep } from 'node:timers/promises';
import type { JsPublisher } from './ack-publisher.ts';
import type { OutboundMessage } from './publish.ts';
import { publishReliably, type RetryWait } from './resilient-publish.ts';

/** `--speed`: market time per wall time (60 = one market minute per second), or as fast as possible. */
export type Speed = number | 'max';
/** An outbound message with the market time it is paced by. */
export type TimedMessage = OutboundMessage & { ts: number };
export type PublishStats = { published: number; duplicates: number; seconds: number; interrupted: boolean };

const PROGRESS_EVERY_MS = 5_000;

function* untilAborted<T>(items: Iterable<T>, signal: AbortSignal, counter: { n: number }): Generator<T> {
  for (const item of items) {
    if (signal.aborted) return;
    counter.n++;
    yield item;
  }
}

/**
 * Publishes messages in order. `max`: pipelined, as fast as the server acks.
 * A number: paced by market time, message `ts` is due at
 * `start + (ts - firstTs) / speed`; every message already due is sent as one
 * pipelined batch, so a slow server delays but never reorders. A publish that fails
 * for a passing reason (a nats-server restart, a leader election) is sent again with
 * its msg id after `retry.wait` (see `publishReliably`), so an outage delays the
 * replay and never ends it. Stops early (with `interrupted`) when `signal` aborts;
 * every message sent is acked before return.
 */
export async function publishPaced(
  js: JsPublisher,
  messages: Iterable<TimedMessage>,
  speed: Speed,
  signal: AbortSignal,
  onProgress: (submitted: number) => void = () => undefined,
  retry: { wait: RetryWait; onRetry?: (err: unknown, attempt: number, failed: number) => void; onRecovered?: () => void } = { wait: () => Promise.resolve(false) },
): Promise<PublishStats> {
  const publish = (batch: Iterable<TimedMessage>) => publishReliably(js, batch, retry);
  const started = performance.now();
  let lastProgress = started;
  const counter = { n: 0 };
  const progress = (): void => {
    const now = performance.now();
    if (now - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = now;
      onProgress(counter.n);
    }
  };
  let published = 0;
  let duplicates = 0;
  if (speed === 'max') {
    const tracked = (function* () {
      for (const m of untilAborted(messages, signal, counter)) {
        progress();
        yield m;
      }
    })();
    ({ published, duplicates } = await publish(tracked));
  } else {
    const it = messages[Symbol.iterator]();
    let next = it.next();
    const firstTs = next.done ? 0 : next.value.ts;
    const dueAt = (ts: number): number => started + (ts - firstTs) / speed;
    while (!next.done && !signal.aborted) {
      const wait = dueAt(next.value.ts) - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) break;
      const batch: TimedMessage[] = [];
      const now = performance.now();
      while (!next.done && dueAt(next.value.ts) <= now) {
        batch.push(next.value);
        next = it.next();
      }
      counter.n += batch.length;
      const r = await publish(batch);
      published += r.published;
      duplicates += r.duplicates;
      progress();
    }
  }
  return { published, duplicates, seconds: (performance.now() - started) / 1000, interrupted: signal.aborted };
}

