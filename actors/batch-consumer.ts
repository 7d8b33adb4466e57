import type { NatsConnection } from '@nats-io/transport-node';
import { PullPump, type PulledMsg } from '../streams/index.ts';
import type { Logger } from '../config/index.ts';
import { retryForever } from './backoff.ts';

export type BatchConsumerOptions = {
  nc: NatsConnection;
  stream: string;
  durable: string;
  batchSize: number;
  retryMinMs: number;
  retryMaxMs: number;
  ackWaitMs: number;
  log: Logger;
  /**
   * Handles one batch. Resolves with the messages to ack (the rest must have been
   * `term`ed by the handler). A rejection is retried with backoff, batch unacked.
   */
  handle(batch: PulledMsg[]): Promise<readonly PulledMsg[]>;
  onDegraded?(reason: string): void;
  onRecovered?(): void;
  /** Called when idle with nothing buffered (e.g. timers); errors are retried. */
  onIdle?(): Promise<void>;
  idleMs?: number;
};

export type BatchConsumerHandle = { stop(): Promise<void>; done: Promise<void> };

/**
 * A durable pull consumer read in natural batches: whatever arrived while the
 * previous batch was handled forms the next one (bounded by `batchSize`), so a
 * trickle is handled message by message and a flood in large batches. Acks only
 * after `handle` resolved; on stop, finishes the batch in hand and closes.
 */
export function startBatchConsumer(opts: BatchConsumerOptions): BatchConsumerHandle {
  const abort = new AbortController();
  const buffer: PulledMsg[] = [];
  let wake: (() => void) | undefined;
  let stopping = false;
  let degraded = false;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const retry = {
    minMs: opts.retryMinMs,
    maxMs: opts.retryMaxMs,
    signal: abort.signal,
    onRetry: (err: unknown, attempt: number, delayMs: number) => {
      opts.log.warn({ err, attempt, delayMs }, 'batch failed; retrying (messages stay unacked)');
      if (!degraded) {
        degraded = true;
        opts.onDegraded?.(err instanceof Error ? err.message : String(err));
      }
    },
    onRecovered: () => {
      degraded = false;
      opts.onRecovered?.();
    },
  };

  const run = async () => {
    const pump = new PullPump(opts.nc, {
      stream: opts.stream,
      durable: opts.durable,
      batch: opts.batchSize,
      wantsMore: () => !stopping && buffer.length < opts.batchSize * 2,
      onMessage: (m) => {
        buffer.push(m);
        wakeUp();
      },
    });
    pump.start();
    try {
      while (!stopping) {
        if (buffer.length === 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              wake = undefined;
              resolve();
            }, opts.idleMs ?? 1_000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
          const idle = opts.onIdle;
          if (buffer.length === 0 && idle && !stopping) await retryForever(() => idle(), retry);
          continue;
        }
        const batch = buffer.splice(0, opts.batchSize);
        pump.poke();
        const keepAlive = setInterval(() => batch.forEach((m) => m.working()), Math.max(1_000, opts.ackWaitMs / 3));
        try {
          const toAck = await retryForever(() => opts.handle(batch), retry);
          for (const m of toAck) m.ack();
        } finally {
          clearInterval(keepAlive);
        }
      }
    } finally {
      await pump.close();
    }
  };

  const done = run();
  return {
    done,
    async stop() {
      stopping = true;
      wakeUp();
      try {
        await done;
      } catch (err) {
        if (!abort.signal.aborted) opts.log.error({ err }, 'consumer ended with an error');
      }
      abort.abort();
    },
  };
}
