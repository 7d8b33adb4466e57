import type { NatsConnection } from '@nats-io/transport-node';
import { PullPump, type PulledMsg } from './index.ts';
import { SignalsError, type Logger } from '../config/index.ts';
import { isTransientDbError } from '../sql/index.ts';
import { retryForever } from './backoff.ts';

/**
 * True for an error that says something about the message being handled rather
 * than about the infrastructure: a plain programming error (TypeError, ...), a
 * PostgreSQL data or integrity error (classes 22, 23), or a typed error that
 * says `retryable: false`. Connection, timeout and NATS errors are outages:
 * they are retried, never blamed on a message.
 */
export function isPoisonSuspect(err: unknown): boolean {
  if (err instanceof SignalsError) return !err.retryable;
  if (!(err instanceof Error)) return false;
  // An error from outside the system (a library's, a test double) may still say so.
  const retryable = (err as { retryable?: unknown }).retryable;
  if (typeof retryable === 'boolean') return !retryable;
  if (isTransientDbError(err)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(22|23)/.test(code);
  if (/Timeout|NoResponders|Connection|Request|Draining|JetStream|Nats|Protocol|Permission|Aborted/i.test(err.name)) return false;
  if (/timeout|timed out|no responders|connection|disconnect|closed|draining|jetstream|ECONN|EPIPE|socket/i.test(err.message)) return false;
  return true;
}

/** The handler threw a poison-suspect error: the consumer stops (its actor crashes) and the batch is redelivered. */
export class PoisonSuspectError extends SignalsError {
  override readonly name = 'PoisonSuspectError';
  override readonly retryable = true;
  constructor(
    readonly streamSequences: number[],
    options: { cause: unknown },
  ) {
    super(`handler failed on messages ${streamSequences.slice(0, 5).join(', ')}${streamSequences.length > 5 ? ', ...' : ''}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options);
  }
}

export type PoisonPolicy = {
  /**
   * Failed handlings of a message after which it is dead-lettered with reason
   * 'poison' instead of being handed to the handler again. Each failure is one
   * crash and supervised restart: keep it below the supervisor's restart limit.
   */
  maxFailures: number;
  /**
   * Failed handlings per stream sequence. Owned by the caller and kept across
   * restarts of the consumer (the server's delivery count is not used: a consumer
   * re-created from its ack floor starts counting again).
   */
  failures: Map<number, number>;
  /** Publishes the dead letters and terminates the messages. */
  deadLetter(msgs: readonly PulledMsg[], issue: string): Promise<void>;
};

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
  /**
   * Opt-in poison handling. Without it every handler failure is retried in
   * place forever (an outage). With it, a poison-suspect failure (see
   * `isPoisonSuspect`) naks the messages in hand and ends `done` with a
   * `PoisonSuspectError`, so the owning actor crashes and its supervisor
   * restarts it; messages that failed before are then handled one at a time (an
   * innocent neighbour of the poison goes through) and one that failed
   * `maxFailures` times is dead-lettered.
   */
  poison?: PoisonPolicy;
  /**
   * End the loop (after the batch in hand) when the connection comes back after a
   * drop: `done` then resolves `'reconnected'`, and the owner resumes from the
   * consumer's ack floor. A restarted nats-server may have lost what it had delivered
   * to us: it would redeliver those messages only after their ack wait, behind newer
   * ones, and a reader that keeps each series in order would skip them.
   */
  endOnReconnect?: boolean;
};

/** Why the loop ended: asked to stop, or the connection came back (see `endOnReconnect`). */
export type BatchConsumerEnd = 'stopped' | 'reconnected';

export type BatchConsumerHandle = { stop(): Promise<void>; done: Promise<BatchConsumerEnd> };

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

  let reconnected = false;
  const watchReconnects = async () => {
    for await (const s of opts.nc.status()) {
      if (stopping) return;
      if (s.type === 'reconnect') {
        opts.log.warn({ stream: opts.stream, durable: opts.durable }, 'reconnected to NATS: the consumer ends to resume from its ack floor');
        reconnected = true;
        stopping = true;
        wakeUp();
        return;
      }
    }
  };

  const run = async (): Promise<BatchConsumerEnd> => {
    if (opts.endOnReconnect) void watchReconnects();
    let crashed: { err: PoisonSuspectError; inHand: PulledMsg[] } | undefined;
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
          const poison = opts.poison;
          if (!poison) {
            const toAck = await retryForever(() => opts.handle(batch), retry);
            for (const m of toAck) m.ack();
            continue;
          }
          const failed = (m: PulledMsg) => poison.failures.get(m.info.streamSequence) ?? 0;
          const dead = batch.filter((m) => failed(m) >= poison.maxFailures);
          if (dead.length > 0) {
            const issue = `the handler failed on it ${poison.maxFailures} times (each time the actor crashed and was restarted)`;
            await retryForever(() => poison.deadLetter(dead, issue), retry);
            // The counts stay: a durable re-created from its ack floor delivers a terminated message again.
            opts.log.error({ count: dead.length, streamSeq: dead.map((m) => m.info.streamSequence) }, 'poison messages dead-lettered');
          }
          const live = batch.filter((m) => failed(m) < poison.maxFailures);
          // Messages that failed before are handled one at a time: the poison among them fails alone.
          const groups = [...live.filter((m) => failed(m) > 0).map((m) => [m]), live.filter((m) => failed(m) === 0)];
          for (const [i, group] of groups.entries()) {
            if (group.length === 0) continue;
            const r = await retryForever(async () => {
              try {
                return { ack: await opts.handle(group) };
              } catch (err) {
                if (isPoisonSuspect(err)) return { crash: err };
                throw err;
              }
            }, retry);
            if ('ack' in r) {
              for (const m of r.ack) m.ack();
              for (const m of group) poison.failures.delete(m.info.streamSequence);
              continue;
            }
            for (const m of group) poison.failures.set(m.info.streamSequence, failed(m) + 1);
            crashed = { err: new PoisonSuspectError(group.map((m) => m.info.streamSequence), { cause: r.crash }), inHand: groups.slice(i).flat() };
            break;
          }
          if (crashed) break;
        } finally {
          clearInterval(keepAlive);
        }
      }
    } finally {
      stopping = true;
      await pump.close();
      // After the pump stopped listening (so no pull request of ours can take them again), everything
      // in hand goes back to the server at once, in order, for the restarted actor.
      if (crashed) for (const m of [...crashed.inHand, ...buffer.splice(0)]) m.nak();
    }
    if (crashed) throw crashed.err;
    return reconnected ? 'reconnected' : 'stopped';
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
