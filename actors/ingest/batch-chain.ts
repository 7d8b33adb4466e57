import { retryForever, type PulledMsg, type RetryOptions, type Tick } from '../../streams/index.ts';
import type { SettledBatch } from './batch-outcome.ts';
import type { IngestPipeline, TickClaim } from './ingest-pipeline.ts';
import type { BatchPlan } from './minute-tracker.ts';

/** Batches stored at once (their ticks inserted in parallel, committed in order). */
const UNCOMMITTED_BATCHES = 3;
/** Batches launched and not yet published and acked, at most: a slow NATS must not grow memory without limit. */
const UNPUBLISHED_BATCHES = 3;
const NO_TICKS: TickClaim = { ticks: [], release: () => undefined };

/** One piece of work in the chain: when its transaction has committed, and when it is published (and acked). */
type Stage = { committed: Promise<void>; done: Promise<void> };

/**
 * A stage whose failure (an abort on stop, or a crash of the loop) nobody else may
 * await: the next stage, `throttle` or `finished` report it when they run, but when
 * the loop ends first it must not surface as an unhandled rejection, which would
 * take the whole process down. The promises themselves still reject for whoever awaits them.
 */
function observed(stage: Stage): Stage {
  stage.committed.catch(() => undefined);
  stage.done.catch(() => undefined);
  return stage;
}

export type BatchChainDeps = {
  pipeline: Pick<IngestPipeline, 'store' | 'deadLetterRefused' | 'publishBars' | 'drainOutbox'>;
  retry: RetryOptions;
  /** The consumer's ack wait: messages of a batch waiting for its store are reported in progress well within it. */
  ackWaitMs: number;
  /** A batch or grace closure was settled: stored, published, and its `onDone` run. */
  onSettled(): void;
};

/**
 * The store-and-ack step of a tick loop: every batch (or grace closure, or outbox
 * drain) is launched behind the previous one. Its ticks are inserted at once; its
 * bars are closed and its transaction committed after the previous commit; its bars
 * are published and its `onDone` (which acks) runs after the previous one's. So
 * commits, publishes and acks keep batch order, which the AckAll consumer needs (an
 * ack settles every earlier message), while validation, inserts and publishes of
 * neighbouring batches overlap. Every step is retried until it succeeds: a valid
 * tick is never dropped, and a batch is acked once.
 */
export class BatchChain {
  private tail: Stage = { committed: Promise.resolve(), done: Promise.resolve() };
  private launched = 0;
  private readonly uncommitted: Promise<void>[] = [];
  private readonly unpublished: Stage[] = [];

  constructor(private readonly deps: BatchChainDeps) {}

  /** Batches and grace closures launched and not yet settled. */
  get batchesInFlight(): number {
    return this.launched;
  }

  /**
   * Launches a batch of messages: `keep` are reported in progress while it waits,
   * and `msgOf` finds the message of a tick the store sets aside, to dead-letter it.
   * `throttle` before taking the next batch.
   */
  launchBatch(
    claim: TickClaim,
    plan: BatchPlan,
    keep: readonly PulledMsg[],
    msgOf: (tick: Tick) => PulledMsg | undefined,
    onDone: (settled: SettledBatch) => void,
  ): void {
    const stage = this.launch(claim, plan, keep, msgOf, onDone);
    this.uncommitted.push(stage.committed);
    this.unpublished.push(stage);
  }

  /** Launches the bars a grace period closed, with no ticks of their own. */
  launchClosures(plan: BatchPlan, onDone: (settled: SettledBatch) => void): void {
    this.launch(NO_TICKS, plan, [], () => undefined, onDone);
  }

  /** Publishes, in order with ours, the bars others (backfill) queued in the outbox. */
  appendOutboxDrain(onDrained: (barsPublished: number) => void): void {
    const before = this.tail;
    this.tail = observed({
      committed: before.committed,
      done: before.done.then(async () => {
        onDrained(await retryForever(() => this.deps.pipeline.drainOutbox(), this.deps.retry));
      }),
    });
  }

  /**
   * Waits until the next batch may be launched. Up to UNCOMMITTED_BATCHES wait for
   * their commit at once, each holding a pooled connection, so the next batches are
   * screened and planned while earlier ones are stored.
   */
  async throttle(): Promise<void> {
    while (this.uncommitted.length > UNCOMMITTED_BATCHES) await this.uncommitted.shift();
    while (this.unpublished.length > UNPUBLISHED_BATCHES) await this.unpublished.shift()?.done;
  }

  /** Settles when everything launched so far is settled. */
  finished(): Promise<void> {
    return this.tail.done;
  }

  private launch(
    claim: TickClaim,
    plan: BatchPlan,
    keep: readonly PulledMsg[],
    msgOf: (tick: Tick) => PulledMsg | undefined,
    onDone: (settled: SettledBatch) => void,
  ): Stage {
    const { pipeline, retry } = this.deps;
    const prev = this.tail;
    // While a batch waits for its store, tell the server we are still working on it.
    const keepAlive = setInterval(() => keep.forEach((m) => m.working()), Math.max(1_000, Math.floor(this.deps.ackWaitMs / 3)));
    this.launched += 1;
    const stored = retryForever(() => pipeline.store(claim.ticks, plan, prev.committed), retry);
    const committed = stored.then(() => claim.release());
    const done = (async () => {
      try {
        const { stored: n, bars, refused, conflicts } = await stored;
        await prev.done;
        if (refused.length > 0) await retryForever(() => pipeline.deadLetterRefused(refused, msgOf), retry);
        const barsPublished = await retryForever(() => pipeline.publishBars(bars), retry);
        onDone({ stored: n, barsPublished, refused: refused.length, conflicts });
        this.deps.onSettled();
      } finally {
        this.launched -= 1;
        clearInterval(keepAlive);
      }
    })();
    this.tail = observed({ committed, done });
    return this.tail;
  }
}
