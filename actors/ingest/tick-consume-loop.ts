import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../../config/index.ts';
import { PullPump, retryForever, type PulledMsg, type RetryOptions } from '../../streams/index.ts';
import { BatchChain } from './batch-chain.ts';
import { barsOnlyOutcome, batchOutcome, messageOfTick } from './batch-outcome.ts';
import type { BatchOutcome, IngestPipeline } from './ingest-pipeline.ts';
import { StallWatch, type IngestStall } from './stall-watchdog.ts';
import { WorkSignal } from './work-signal.ts';

export type { IngestStall } from './stall-watchdog.ts';

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

export type TickLoop = { done: Promise<void>; stop(): void; abort(): void };

/**
 * The batched hot loop of marketSync. Messages are buffered as the consumer
 * delivers them and taken in natural batches (whatever arrived meanwhile, up to
 * INGEST_BATCH_SIZE). Stages overlap: batch N+1 is validated here and its ticks
 * inserted while batch N finishes in PostgreSQL; bars, state, commit, publish and
 * acks still happen strictly in batch order (see BatchChain). A plan is applied to the minute
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
  const loop = new TickConsumeLoop(nc, pipeline, settings, log, callbacks, now, stallMs);
  return {
    done: loop.run(),
    stop: () => loop.stop(),
    abort: () => loop.abort(),
  };
}

/** The state of one running tick loop; a new loop (after a reconnect) starts afresh. */
class TickConsumeLoop {
  private readonly abortController = new AbortController();
  /** Delivered and not yet taken into a batch: never acked, so the server delivers it again if we stop. */
  private readonly buffer: PulledMsg[] = [];
  private readonly workSignal = new WorkSignal();
  private readonly retry: RetryOptions;
  private readonly chain: BatchChain;
  private readonly watch: StallWatch;
  private stopping = false;
  /** Silence while we are cut off from NATS is ours, not the market's: no bar closes on it. */
  private disconnected = false;
  private degraded = false;
  /** A batch is being validated (and its invalid messages dead-lettered): work in hand for the watchdog. */
  private screening = false;
  private lastOutboxDrain = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly pipeline: IngestPipeline,
    private readonly settings: Settings,
    private readonly log: Logger,
    private readonly callbacks: TickLoopCallbacks,
    private readonly now: () => number,
    stallMs: number,
  ) {
    this.retry = this.retryOptions();
    this.chain = new BatchChain({
      pipeline,
      retry: this.retry,
      ackWaitMs: settings.INGEST_ACK_WAIT_MS,
      onSettled: () => this.watch.settled(),
    });
    this.watch = new StallWatch({
      now,
      stallMs,
      workInHand: () => ({ bufferedMessages: this.buffer.length, batchesInFlight: this.chain.batchesInFlight, screening: this.screening }),
      onStalled: (stall) => callbacks.onStalled?.(stall),
      onUnstalled: (stalledMs) => callbacks.onUnstalled?.(stalledMs),
    });
    this.watch.start();
  }

  stop(): void {
    this.stopping = true;
    this.workSignal.wake();
  }

  abort(): void {
    this.stopping = true;
    this.abortController.abort();
    this.workSignal.wake();
  }

  async run(): Promise<void> {
    void this.watchReconnects();
    const pump = this.startPump();
    this.lastOutboxDrain = this.now();
    try {
      while (!this.stopping) {
        const waitMs = this.idleWaitMs();
        if (waitMs !== undefined) await this.workSignal.wait(waitMs);
        if (this.stopping) break;
        if (this.buffer.length > 0) {
          await this.consumeBatch(pump);
        } else {
          this.drainOutboxIfDue();
          this.closeExpiredMinutes();
        }
      }
      await this.chain.finished();
    } finally {
      this.watch.stop();
      // Whatever is still buffered was never acked: the server delivers it again.
      await pump.close();
    }
  }

  /** Every store, dead letter and publish is retried until it succeeds: an outage is a degraded state, never lost data. */
  private retryOptions(): RetryOptions {
    return {
      minMs: this.settings.RETRY_MIN_MS,
      maxMs: this.settings.RETRY_MAX_MS,
      signal: this.abortController.signal,
      onRetry: (err, attempt, delayMs) => {
        // Keep the buffered (not yet handled) messages too: an outage must not cause a redelivery storm.
        for (const m of this.buffer) m.working();
        this.log.warn({ err, attempt, delayMs }, 'store/publish failed; retrying (messages stay unacked)');
        if (!this.degraded) {
          this.degraded = true;
          this.callbacks.onDegraded(err instanceof Error ? err.message : String(err));
        }
      },
      onRecovered: () => {
        this.degraded = false;
        this.callbacks.onRecovered();
      },
    };
  }

  /**
   * After a reconnect the loop ends by itself (finishing and acking the batches in
   * hand), and marketSync connects again and resumes from the consumer's ack floor.
   * A restarted nats-server may have lost what it had delivered and we never
   * received: it would hold those messages back until their ack wait expires and
   * deliver newer ones first, and on this AckAll consumer the ack of a newer batch
   * would then acknowledge the missing messages without their ever being stored.
   */
  private async watchReconnects(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.stopping) return;
      if (s.type === 'disconnect') this.disconnected = true;
      if (s.type === 'reconnect') {
        this.log.warn({ server: s.server }, 'reconnected to NATS: ingest resumes from the ack floor');
        this.stopping = true;
        this.workSignal.wake();
        return;
      }
    }
  }

  /** Pulls messages into the buffer, up to two batches ahead; wakes the loop for a first message or a full batch. */
  private startPump(): PullPump {
    const batchSize = this.settings.INGEST_BATCH_SIZE;
    const pump = new PullPump(this.nc, {
      stream: 'MD_TICKS',
      durable: this.settings.INGEST_DURABLE,
      batch: batchSize,
      wantsMore: () => !this.stopping && this.buffer.length < batchSize * 2,
      onMessage: (m) => {
        this.buffer.push(m);
        if (this.buffer.length === 1 || this.buffer.length >= batchSize) this.workSignal.wake();
      },
    });
    pump.start();
    return pump;
  }

  /**
   * How long to wait before the next round; undefined = go on at once. An empty
   * buffer waits for messages or the next grace deadline (a second at most while
   * there is none or NATS is away); a short one may linger for a fuller batch.
   */
  private idleWaitMs(): number | undefined {
    if (this.buffer.length === 0) {
      const deadline = this.pipeline.tracker.nextDeadline(this.settings.BAR_GRACE_MS);
      return deadline === undefined || this.disconnected ? 1_000 : Math.max(0, deadline - this.now());
    }
    if (this.settings.INGEST_BATCH_WAIT_MS > 0 && this.buffer.length < this.settings.INGEST_BATCH_SIZE) {
      return this.settings.INGEST_BATCH_WAIT_MS; // optional linger for fuller batches
    }
    return undefined;
  }

  /**
   * Takes the next batch off the buffer: screens it (invalid messages are
   * dead-lettered), plans its bars, launches its store behind the batches in flight
   * and hands its closed bars over, then waits while too many batches are in flight.
   */
  private async consumeBatch(pump: PullPump): Promise<void> {
    const started = performance.now();
    const batch = this.buffer.splice(0, this.settings.INGEST_BATCH_SIZE);
    pump.poke();
    this.screening = true;
    const screened = await retryForever(() => this.pipeline.screen(batch), this.retry).finally(() => (this.screening = false));
    const { plan, closed } = this.pipeline.planBatch(screened.ticks);
    this.chain.launchBatch(this.pipeline.claimTicks(screened.ticks), plan, batch, messageOfTick(screened), (settled) => {
      // AckAll consumer: acking the batch's last message acks it all, its dead-lettered messages too.
      batch[batch.length - 1]?.ack();
      this.callbacks.onBatch(batchOutcome(batch, screened, settled, plan.late.length, performance.now() - started));
    });
    this.pipeline.handOver(closed);
    await this.chain.throttle();
  }

  /** Bars written by others (backfill) wait in the outbox: publish them in order with ours, once a second while idle. */
  private drainOutboxIfDue(): void {
    if (this.now() - this.lastOutboxDrain < OUTBOX_DRAIN_MS) return;
    this.lastOutboxDrain = this.now();
    const started = performance.now();
    this.chain.appendOutboxDrain((barsPublished) => {
      if (barsPublished > 0) this.callbacks.onBatch(barsOnlyOutcome(barsPublished, performance.now() - started));
    });
  }

  /** Closes the bars whose grace period has passed with no tick, unless the silence is ours (NATS away). */
  private closeExpiredMinutes(): void {
    const deadline = this.pipeline.tracker.nextDeadline(this.settings.BAR_GRACE_MS);
    if (deadline === undefined || deadline > this.now() || this.disconnected) return;
    const { plan, closed } = this.pipeline.planExpired(this.settings.BAR_GRACE_MS);
    const started = performance.now();
    this.chain.launchClosures(plan, (settled) => {
      this.callbacks.onBatch(barsOnlyOutcome(settled.barsPublished, performance.now() - started));
    });
    this.pipeline.handOver(closed);
  }
}
