import type { Logger } from '../config/index.ts';
import {
  checkout,
  closeBarsFromTicks,
  isTransientDbError,
  deleteOutbox,
  insertTicks,
  insertTicksIsolating,
  isDataDbError,
  loadIngestState,
  readOutbox,
  saveIngestState,
  type Db,
  type RefusedTick,
  type StoredBar,
} from '../sql/index.ts';
import {
  msgIds,
  ORIGIN_HEADER,
  publishPipelined,
  subjects,
  type DecodeFailure,
  type JsPublisher,
  type Tick,
  type PulledMsg,
} from '../streams/index.ts';
import type { BarLane, LaneBar } from './bar-lane.ts';
import { deadLetter } from './dead-letter.ts';
import { MinuteTracker, type BatchPlan } from './minute-tracker.ts';
import { OpenBarBook } from './open-bars.ts';
import { validateTick, type TickValidationOptions } from './tick-validation.ts';

export type IngestPipelineDeps = {
  js: JsPublisher;
  db: Db;
  log: Logger;
  validation: TickValidationOptions;
  /** Bar source written for bars aggregated from ticks. */
  barSource?: 'live' | 'replay';
  /** In-process hand-over of closed bars to the predictor (see BarLane); none = durable path only. */
  lane?: BarLane;
  now?: () => number;
};

/** What one batch's transaction did: ticks inserted, bars closed or corrected, ticks PostgreSQL refused. */
export type StoreResult = { stored: number; bars: StoredBar[]; refused: RefusedTick[] };

export type BatchOutcome = {
  received: number;
  stored: number;
  duplicates: number;
  invalid: number;
  barsPublished: number;
  lateBars: number;
  /** Consumer's pending count after the last message of the batch (0 = caught up). */
  pending: number;
  lastStreamSeq: number;
  durationMs: number;
};

/** The ticks a batch inserts, and the keys it holds until it commits (see `IngestPipeline.claimTicks`). */
export type TickClaim = { ticks: Tick[]; release(): void };

const tickKey = (t: Tick): string => `${t.venue}\u0000${t.symbol}\u0000${t.ts}\u0000${t.tradeId}`;

/**
 * The hot path of marketSync, one call per batch of JetStream messages:
 * validate every message; dead-letter the invalid ones (settled by the batch's ack); store the
 * valid ticks, close/correct bars and persist the aggregation state in ONE
 * transaction; publish new and corrected bars from the outbox; only then ack.
 * Any failure before the acks leaves the messages unacked (they are retried or
 * redelivered) and the in-memory state untouched; every write is idempotent.
 */
export class IngestPipeline {
  readonly tracker = new MinuteTracker();
  private readonly book: OpenBarBook | undefined;
  private readonly now: () => number;
  /** Keys of the ticks inserted by batches launched and not yet committed. */
  private readonly held = new Set<string>();

  constructor(private readonly deps: IngestPipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.book = deps.lane ? new OpenBarBook(deps.barSource ?? 'live') : undefined;
  }

  /**
   * Plans a batch and applies the plan to the tracker at once (its store must
   * then be retried until it commits). Returns the plan, and the complete bars it
   * closes, for the lane (`handOver` them once the store is launched).
   */
  planBatch(ticks: readonly Tick[]): { plan: BatchPlan; closed: LaneBar[] } {
    const plan = this.tracker.plan(ticks, this.now());
    const closed = this.book?.fold(ticks, (venue, symbol) => this.tracker.get(venue, symbol)) ?? [];
    this.tracker.apply(plan);
    return { plan, closed };
  }

  /**
   * The ticks of a batch that no earlier uncommitted batch holds (and each key
   * once). Batches in flight insert at the same time, and a later batch waits
   * for the earlier one's commit before its own: if both inserted one key, the
   * earlier insert could wait for the later batch's row lock while the later
   * batch waits, in this process where PostgreSQL cannot see the cycle, for the
   * earlier commit. A key held by an earlier batch is a duplicate anyway. The
   * keys stay held through retries; `release` them once the batch commits.
   */
  claimTicks(ticks: readonly Tick[]): TickClaim {
    const fresh: Tick[] = [];
    const keys: string[] = [];
    for (const t of ticks) {
      const key = tickKey(t);
      if (this.held.has(key)) continue;
      this.held.add(key);
      keys.push(key);
      fresh.push(t);
    }
    return {
      ticks: fresh,
      release: () => {
        for (const k of keys) this.held.delete(k);
      },
    };
  }

  /** Gives closed bars to the predictor of this process, ahead of their commit. */
  handOver(closed: readonly LaneBar[]): void {
    this.deps.lane?.emit(closed);
  }

  /** Restores the aggregation state persisted by earlier runs. */
  async restore(): Promise<void> {
    this.tracker.clear();
    this.book?.clear();
    this.held.clear();
    const rows = await loadIngestState(this.deps.db);
    const now = this.now();
    this.tracker.load(rows.map((r) => ({ ...r, lastSeenAt: now })));
  }

  /**
   * Step 1: validation and dead letters. Returns the valid ticks and their
   * messages, index for index. Rejected messages are not terminated here: the
   * ingest consumer is AckAll, where a `+TERM` would also acknowledge the earlier
   * batches still being stored; the batch's ack (of its last message, in batch
   * order) settles them.
   */
  async screen(msgs: readonly PulledMsg[]): Promise<{ ticks: Tick[]; valid: PulledMsg[]; invalid: number }> {
    const now = this.now();
    const ticks: Tick[] = [];
    const valid: PulledMsg[] = [];
    const rejected: { msg: PulledMsg; failure: DecodeFailure }[] = [];
    for (const msg of msgs) {
      const r = validateTick(msg.subject, msg.data, this.deps.validation, now);
      if (r.ok) {
        ticks.push(r.value);
        valid.push(msg);
      } else {
        rejected.push({ msg, failure: r });
      }
    }
    if (rejected.length > 0) {
      await deadLetter(this.deps.js, rejected, 2, now, { terminate: false });
      const first = rejected[0];
      this.deps.log.warn({ count: rejected.length, subject: first?.msg.subject, reason: first?.failure.reason }, 'ticks dead-lettered');
    }
    return { ticks, valid, invalid: rejected.length };
  }

  /**
   * Step 2: one transaction for ticks, bars and state. The tick insert starts at
   * once; closing bars and saving state wait for `after` (the previous batch's
   * whole commit), so a bar is computed only from ticks committed before it and
   * batches still commit in order, while two inserts overlap in PostgreSQL.
   */
  async store(ticks: readonly Tick[], plan: BatchPlan, after: Promise<unknown> = Promise.resolve()): Promise<StoreResult> {
    const client = await checkout(this.deps.db);
    try {
      await client.query('BEGIN');
      let inserted: { stored: number; refused: RefusedTick[] };
      try {
        inserted = { stored: await insertTicks(client, ticks), refused: [] };
      } catch (err) {
        if (!isDataDbError(err)) throw err;
        // A tick the schema let through but PostgreSQL refuses: store the others, set it aside (dead-lettered as `poison`).
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        inserted = await insertTicksIsolating(client, ticks);
        this.deps.log.warn({ refused: inserted.refused.length, error: inserted.refused[0]?.error }, 'PostgreSQL refused ticks; the others are stored');
      }
      await after;
      const bars = await closeBarsFromTicks(client, plan.close, this.deps.barSource ?? 'live');
      await saveIngestState(client, plan.next);
      await client.query('COMMIT');
      client.done();
      return { stored: inserted.stored, bars, refused: inserted.refused };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.done(err instanceof Error && isTransientDbError(err) ? err : undefined);
      throw err;
    }
  }

  /** Dead-letters the ticks PostgreSQL refused (reason `poison`); their batch's ack settles them. */
  async deadLetterRefused(refused: readonly RefusedTick[], msgOf: (tick: Tick) => PulledMsg | undefined): Promise<void> {
    const letters: { msg: PulledMsg; failure: DecodeFailure }[] = [];
    for (const r of refused) {
      const msg = msgOf(r.tick);
      if (msg) letters.push({ msg, failure: { ok: false, reason: 'poison', issues: [`PostgreSQL refused the tick: ${r.error}`] } });
    }
    await deadLetter(this.deps.js, letters, 2, this.now(), { terminate: false });
  }

  /** Step 3: publishes new or corrected bars (in time order), then clears their outbox rows. */
  async publishBars(bars: readonly StoredBar[]): Promise<number> {
    if (bars.length === 0) return 0;
    await publishPipelined(
      this.deps.js,
      bars.map((b) => {
        const { revision, ...bar } = b;
        return {
          subject: subjects.bar1m(b.venue, b.symbol),
          payload: bar,
          msgId: msgIds.bar(b.venue, b.symbol, b.ts, revision),
          headers: { [ORIGIN_HEADER]: 'market-sync', 'Signals-Revision': String(revision) },
        };
      }),
    );
    await deleteOutbox(this.deps.db, bars);
    return bars.length;
  }

  /** Publishes whatever an earlier run left in the outbox (a crash between commit and publish). */
  async drainOutbox(limit = 5_000): Promise<number> {
    let total = 0;
    for (;;) {
      const bars = await readOutbox(this.deps.db, limit);
      total += await this.publishBars(bars);
      if (bars.length < limit) return total;
    }
  }

  /**
   * Plans the grace closures due now and applies them to the tracker at once; the
   * returned plan must then be stored (see `store`) and its bars published.
   */
  planExpired(graceMs: number): { plan: BatchPlan; closed: LaneBar[] } {
    const plan = this.tracker.planExpired(this.now(), graceMs);
    const closed = this.book?.closeExpired(plan) ?? [];
    this.tracker.apply(plan);
    return { plan, closed };
  }
}
