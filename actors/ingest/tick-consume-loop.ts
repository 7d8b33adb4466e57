import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../../config/index.ts';
import { retryForever, type RetryOptions } from '../../streams/index.ts';
import type { BatchOutcome, IngestPipeline, TickClaim } from './ingest-pipeline.ts';
import type { BatchPlan } from './minute-tracker.ts';
import { PullPump, type PulledMsg, type Tick } from '../../streams/index.ts';

/** Batches stored at once (their ticks inserted in parallel, committed in order). */
const UNCOMMITTED_BATCHES = 3;
const NO_TICKS: TickClaim = { ticks: [], release: () => undefined };
/** How often an idle loop publishes bars others queued in `bar_outbox` (backfill fills). */
const OUTBOX_DRAIN_MS = 1_000;

export type TickLoopCallbacks = {
  onBatch(outcome: BatchOutcome): void;
  onDegraded(reason: string): void;
  onRecovered(): void;
  /** Work is pending and no batch has been settled for `stallMs` (the ack floor is not moving). */
  onStalled?(stall: IngestStall): void;
  /** Batches are settled again after a stall. */
  onUnstalled?(stalledMs: number): void;
};

/** A stall of the ingest: since when nothing was settled, and what waits. */
export type IngestStall = { since: number; bufferedMessages: number; batchesInFlight: number };

/** How often the stall watchdog looks. */
const STALL_CHECK_MS = 1_000;

export type TickLoop = { done: Promise<void>; stop(): void; abort(): void };

/**
 * The batched hot loop of marketSync. Messages are buffered as the consumer
 * delivers them and taken in natural batches (whatever arrived meanwhile, up to
 * INGEST_BATCH_SIZE). Stages overlap: batch N+1 is validated here and its ticks
 * inserted while batch N finishes in PostgreSQL; bars, state, commit, publish and
 * acks still happen strictly in batch order (see IngestPipeline.store). A plan is applied to the minute
 * tracker when made: its store is retried until it commits, and a process that
 * stops instead reloads the committed state from the database when it restarts.
 */
export function startTickLoop(
  nc: NatsConnection,
  pipeline: IngestPipeline,
  settings: Settings,
  log: Logger,
  callbacks: TickLoopCallbacks,
  now: () => number = Date.now,
  stallMs = 30_000,
): TickLoop {
  const abort = new AbortController();
  const buffer: PulledMsg[] = [];
  let stopping = false;
  let wake: (() => void) | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  const wakeUp = () => {
    clearTimeout(idleTimer);
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForWork = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      idleTimer = setTimeout(wakeUp, ms);
    });

  let degraded = false;
  const retry: RetryOptions = {
    minMs: settings.RETRY_MIN_MS,
    maxMs: settings.RETRY_MAX_MS,
    signal: abort.signal,
    onRetry: (err, attempt, delayMs) => {
      // Keep the buffered (not yet handled) messages too: an outage must not cause a redelivery storm.
      for (const m of buffer) m.working();
      log.warn({ err, attempt, delayMs }, 'store/publish failed; retrying (messages stay unacked)');
      if (!degraded) {
        degraded = true;
        callbacks.onDegraded(err instanceof Error ? err.message : String(err));
      }
    },
    onRecovered: () => {
      degraded = false;
      callbacks.onRecovered();
    },
  };
  // While a batch waits for its store, tell the server we are still working on it.
  const keepAlive = (msgs: readonly PulledMsg[]) =>
    setInterval(() => msgs.forEach((m) => m.working()), Math.max(1_000, Math.floor(settings.INGEST_ACK_WAIT_MS / 3)));

  // The stall watchdog: work in hand (buffered or in flight) and no batch settled for
  // `stallMs` means the ack floor is stuck, whatever the reason; say so once, and again
  // when it moves. Retries already report `degraded`; this also catches a wait nobody retries.
  let batchesInFlight = 0;
  let screening = false;
  let lastSettled = now();
  let stalled: number | undefined;
  const settledOne = () => {
    lastSettled = now();
    if (stalled !== undefined) {
      const ms = lastSettled - stalled;
      stalled = undefined;
      callbacks.onUnstalled?.(ms);
    }
  };
  const watchdog = setInterval(() => {
    const working = buffer.length > 0 || batchesInFlight > 0 || screening;
    if (!working) lastSettled = now();
    else if (stalled === undefined && now() - lastSettled >= stallMs) {
      stalled = lastSettled;
      callbacks.onStalled?.({ since: lastSettled, bufferedMessages: buffer.length, batchesInFlight });
    }
  }, Math.min(STALL_CHECK_MS, stallMs));
  watchdog.unref();

  type Stage = { committed: Promise<void>; done: Promise<void> };
  const settled: Stage = { committed: Promise.resolve(), done: Promise.resolve() };

  /**
   * Launches one batch (or grace closure) behind the previous one: its ticks are
   * inserted at once; its bars are closed and its transaction committed after the
   * previous commit; its bars are published and its messages acked after the
   * previous batch's publish. So commits and publishes keep batch order while
   * validation, inserts and publishes of neighbouring batches overlap.
   */
  const launch = (
    prev: Stage,
    claim: TickClaim,
    plan: BatchPlan,
    onDone: (stored: number, barsPublished: number, refused: number, conflicts: number) => void,
    keep: readonly PulledMsg[],
    msgOf: (tick: Tick) => PulledMsg | undefined = () => undefined,
  ): Stage => {
    const timer = keepAlive(keep);
    batchesInFlight += 1;
    const stored = retryForever(() => pipeline.store(claim.ticks, plan, prev.committed), retry);
    const committed = stored.then(() => claim.release());
    const done = (async () => {
      try {
        const { stored: n, bars, refused, conflicts } = await stored;
        await prev.done;
        if (refused.length > 0) await retryForever(() => pipeline.deadLetterRefused(refused, msgOf), retry);
        const barsPublished = await retryForever(() => pipeline.publishBars(bars), retry);
        onDone(n, barsPublished, refused.length, conflicts);
        settledOne();
      } finally {
        batchesInFlight -= 1;
        clearInterval(timer);
      }
    })();
    return { committed, done };
  };

  /**
   * After a reconnect the loop ends by itself (finishing and acking the batches in
   * hand), and marketSync connects again and resumes from the consumer's ack floor.
   * A restarted nats-server may have lost what it had delivered and we never
   * received: it would hold those messages back until their ack wait expires and
   * deliver newer ones first, and on this AckAll consumer the ack of a newer batch
   * would then acknowledge the missing messages without their ever being stored.
   */
  const watchReconnects = async () => {
    for await (const s of nc.status()) {
      if (stopping) return;
      // Silence while we are cut off from NATS is ours, not the market's: no bar closes on it.
      if (s.type === 'disconnect') disconnected = true;
      if (s.type === 'reconnect') {
        log.warn({ server: s.server }, 'reconnected to NATS: ingest resumes from the ack floor');
        stopping = true;
        wakeUp();
        return;
      }
    }
  };

  let disconnected = false;

  const run = async () => {
    void watchReconnects();
    const pump = new PullPump(nc, {
      stream: 'MD_TICKS',
      durable: settings.INGEST_DURABLE,
      batch: settings.INGEST_BATCH_SIZE,
      wantsMore: () => !stopping && buffer.length < settings.INGEST_BATCH_SIZE * 2,
      onMessage: (m) => {
        buffer.push(m);
        if (buffer.length === 1 || buffer.length >= settings.INGEST_BATCH_SIZE) wakeUp();
      },
    });
    pump.start();
    let previous: Stage = settled;
    let lastOutboxDrain = now();
    const inflight: Stage[] = [];
    const uncommitted: Promise<void>[] = [];
    try {
      while (!stopping) {
        if (buffer.length === 0) {
          const deadline = pipeline.tracker.nextDeadline(settings.BAR_GRACE_MS);
          await waitForWork(deadline === undefined || disconnected ? 1_000 : Math.max(0, deadline - now()));
        } else if (settings.INGEST_BATCH_WAIT_MS > 0 && buffer.length < settings.INGEST_BATCH_SIZE) {
          await waitForWork(settings.INGEST_BATCH_WAIT_MS); // optional linger for fuller batches
        }
        if (stopping) break;
        if (buffer.length > 0) {
          const started = performance.now();
          const batch = buffer.splice(0, settings.INGEST_BATCH_SIZE);
          pump.poke();
          screening = true;
          const screened = await retryForever(() => pipeline.screen(batch), retry).finally(() => (screening = false));
          const { plan, closed } = pipeline.planBatch(screened.ticks);
          const before = previous;
          previous = launch(before, pipeline.claimTicks(screened.ticks), plan, (stored, barsPublished, refused, conflicts) => {
            // AckAll consumer: acking the batch's last message acks it all, its dead-lettered messages too.
            const last = batch[batch.length - 1];
            last?.ack();
            callbacks.onBatch({
              received: batch.length,
              stored,
              duplicates: screened.ticks.length - stored - refused,
              invalid: screened.invalid + refused,
              conflicts,
              barsPublished,
              lateBars: plan.late.length,
              pending: last?.info.pending ?? 0,
              lastStreamSeq: last?.info.streamSequence ?? 0,
              durationMs: performance.now() - started,
            });
          }, batch, (tick) => screened.valid[screened.ticks.indexOf(tick)]);
          pipeline.handOver(closed);
          // The next batches are validated and planned (and their closed bars handed over) while this one is
          // stored: up to UNCOMMITTED_BATCHES wait for their commit at once, each holding a pooled connection.
          uncommitted.push(previous.committed);
          while (uncommitted.length > UNCOMMITTED_BATCHES) await uncommitted.shift();
          inflight.push(previous);
          // Bound the batches waiting to be published (a slow NATS must not grow memory without limit).
          while (inflight.length > 3) await inflight.shift()?.done;
        } else {
          if (now() - lastOutboxDrain >= OUTBOX_DRAIN_MS) {
            // Bars written by others (backfill) wait in the outbox: publish them in order with ours.
            lastOutboxDrain = now();
            const before = previous;
            const started = performance.now();
            previous = {
              committed: before.committed,
              done: before.done.then(async () => {
                const barsPublished = await retryForever(() => pipeline.drainOutbox(), retry);
                if (barsPublished > 0) {
                  callbacks.onBatch({
                    received: 0, stored: 0, duplicates: 0, invalid: 0, barsPublished, lateBars: 0,
                    pending: 0, lastStreamSeq: 0, durationMs: performance.now() - started,
                  });
                }
              }),
            };
          }
          const deadline = pipeline.tracker.nextDeadline(settings.BAR_GRACE_MS);
          if (deadline !== undefined && deadline <= now() && !disconnected) {
            const { plan, closed } = pipeline.planExpired(settings.BAR_GRACE_MS);
            const started = performance.now();
            previous = launch(previous, NO_TICKS, plan, (_stored, barsPublished) => {
              callbacks.onBatch({
                received: 0, stored: 0, duplicates: 0, invalid: 0, barsPublished, lateBars: 0,
                pending: 0, lastStreamSeq: 0, durationMs: performance.now() - started,
              });
            }, []);
            pipeline.handOver(closed);
          }
        }
      }
      await previous.done;
    } finally {
      clearInterval(watchdog);
      // Whatever is still buffered was never acked: the server delivers it again.
      await pump.close();
    }
  };

  return {
    done: run(),
    stop() {
      stopping = true;
      wakeUp();
    },
    abort() {
      stopping = true;
      abort.abort();
      wakeUp();
    },
  };
}
