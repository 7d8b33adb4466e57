import type { Logger } from '../../config/index.ts';
import {
  checkout,
  closeBarsIsolating,
  deleteTicks,
  findConflictingTicks,
  isTransientDbError,
  deleteOutbox,
  insertTicksIsolating,
  insertTicksReporting,
  isDataDbError,
  loadIngestState,
  readOutbox,
  saveIngestState,
  type BarKey,
  type Db,
  type RefusedTick,
  type StoredBar,
  type TickConflict,
  type TickInsert,
} from '../../sql/index.ts';
import {
  msgIds,
  ORIGIN_HEADER,
  publishPipelined,
  subjects,
  type DecodeFailure,
  type JsPublisher,
  type Tick,
  type PulledMsg,
} from '../../streams/index.ts';
import type { BarLane, LaneBar } from './bar-lane.ts';
import { deadLetter, type UndeliverableLetter } from '../../streams/index.ts';
import { MinuteTracker, minuteOf, type BatchPlan } from './minute-tracker.ts';
import { OpenBarBook } from './open-bars.ts';
import { SubjectScopes, validateTick, type TickValidationOptions } from './tick-validation.ts';

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
  /** A dead letter NATS refused for good (its message is settled anyway): raise an alert. */
  onUndeliverable?: (letter: UndeliverableLetter) => void;
};

/**
 * A tick of a batch set aside and dead-lettered (see `deadLetterRefused`): one
 * PostgreSQL refused (`poison`: the tick itself, or the bar closed from it), or a
 * conflicting duplicate (`conflict`: its key is stored with other content, which is kept).
 */
export type SetAsideTick = { tick: Tick; reason: 'poison' | 'conflict'; issue: string };

/**
 * What one batch's transaction did: ticks inserted, bars closed or corrected, ticks
 * set aside (to dead-letter), and how many of those were conflicting duplicates.
 */
export type StoreResult = { stored: number; bars: StoredBar[]; refused: SetAsideTick[]; conflicts: number };

export type BatchOutcome = {
  received: number;
  stored: number;
  duplicates: number;
  invalid: number;
  /** Ticks whose key was stored with other content: dead-lettered as `conflict` (also counted in `invalid`); absent = 0. */
  conflicts?: number;
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

/** At most one warning line about conflicting duplicates per this many ms (each one is dead-lettered anyway). */
const CONFLICT_LOG_MS = 10_000;

/** The dead letter's issue for a conflicting duplicate: what differs from the stored tick. */
function conflictIssue(c: TickConflict): string {
  const diffs: string[] = [];
  if (c.tick.price !== c.stored.price) diffs.push(`price ${c.tick.price} != stored ${c.stored.price}`);
  if (c.tick.size !== c.stored.size) diffs.push(`size ${c.tick.size} != stored ${c.stored.size}`);
  if ((c.tick.side ?? null) !== c.stored.side) diffs.push(`side ${c.tick.side ?? '(none)'} != stored ${c.stored.side ?? '(none)'}`);
  return `conflicts with the stored tick of the same key, which is kept: ${diffs.length > 0 ? diffs.join(', ') : 'content differs'}`;
}

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
  private readonly scopes = new SubjectScopes();
  private readonly book: OpenBarBook | undefined;
  private readonly now: () => number;
  /** Keys of the ticks inserted by batches launched and not yet committed. */
  private readonly held = new Set<string>();
  /** Per claimed tick list (`TickClaim.ticks`): the copies left out of it, compared with the stored ticks by `store`. */
  private readonly copiesOf = new WeakMap<readonly Tick[], Tick[]>();
  /** Conflicting duplicates not yet reported in a warning, and when the last warning went out. */
  private conflictsUnlogged = 0;
  private conflictLoggedAt = Number.NEGATIVE_INFINITY;

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
   * The copies left out are still compared with the stored tick once the earlier
   * batches have committed (see `store`): a copy with other content is a conflict.
   */
  claimTicks(ticks: readonly Tick[]): TickClaim {
    const fresh: Tick[] = [];
    const copies: Tick[] = [];
    const keys: string[] = [];
    for (const t of ticks) {
      const key = tickKey(t);
      if (this.held.has(key)) {
        copies.push(t);
        continue;
      }
      this.held.add(key);
      keys.push(key);
      fresh.push(t);
    }
    if (copies.length > 0) this.copiesOf.set(fresh, copies);
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

  /** How this pipeline dead-letters: settled by the batch's ack, and a letter NATS refuses is logged and alerted. */
  private letterOptions() {
    return { terminate: false, log: this.deps.log, ...(this.deps.onUndeliverable ? { onUndeliverable: this.deps.onUndeliverable } : {}) };
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
      const r = validateTick(msg.subject, msg.data, this.deps.validation, now, this.scopes);
      if (r.ok) {
        ticks.push(r.value);
        valid.push(msg);
      } else {
        rejected.push({ msg, failure: r });
      }
    }
    if (rejected.length > 0) {
      await deadLetter(this.deps.js, rejected, 2, now, this.letterOptions());
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
   *
   * A data error (see `isDataDbError`) is never retried as an outage: a tick
   * PostgreSQL refuses is isolated (`insertTicksIsolating`), and so is a bar it
   * refuses to close (e.g. a volume beyond float8): that minute's ticks of THIS
   * batch are taken back and the bar closed again from the ticks stored before;
   * a bar still refused then is left as it was (logged). Ticks whose key was
   * already stored, and the copies `claimTicks` left out, are compared with the
   * stored tick: other content is a conflicting duplicate, set aside with the
   * stored tick kept. `ticks` is the `TickClaim.ticks` of the batch.
   */
  async store(ticks: readonly Tick[], plan: BatchPlan, after: Promise<unknown> = Promise.resolve()): Promise<StoreResult> {
    const copies = this.copiesOf.get(ticks) ?? [];
    const client = await checkout(this.deps.db);
    try {
      await client.query('BEGIN');
      let inserted: TickInsert & { refused: RefusedTick[] };
      try {
        inserted = { ...(await insertTicksReporting(client, ticks)), refused: [] };
      } catch (err) {
        if (!isDataDbError(err)) throw err;
        // A tick the schema let through but PostgreSQL refuses: store the others, set it aside (dead-lettered as `poison`).
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        inserted = await insertTicksIsolating(client, ticks);
        this.deps.log.warn({ refused: inserted.refused.length, error: inserted.refused[0]?.error }, 'PostgreSQL refused ticks; the others are stored');
      }
      await after;
      const refused: SetAsideTick[] = inserted.refused.map((r) => ({ tick: r.tick, reason: 'poison', issue: `PostgreSQL refused the tick: ${r.error}` }));
      // Only when something was not inserted: every batch that held one of these keys has committed by now.
      const conflicts = await findConflictingTicks(client, [...inserted.existing, ...copies]);
      for (const c of conflicts) refused.push({ tick: c.tick, reason: 'conflict', issue: conflictIssue(c) });

      let stored = inserted.stored;
      const notMine = new Set<Tick>([...inserted.existing, ...inserted.refused.map((r) => r.tick)]);
      const takeBack = async (minute: BarKey, error: string): Promise<boolean> => {
        // The rows this batch inserted in that minute; earlier batches' rows are committed and stay.
        const mine = ticks.filter(
          (t) => t.venue === minute.venue && t.symbol === minute.symbol && minuteOf(t.ts) === minute.ts && !notMine.has(t),
        );
        if (mine.length === 0) return false;
        stored -= await deleteTicks(client, mine);
        const at = new Date(minute.ts).toISOString();
        for (const t of mine) {
          notMine.add(t);
          refused.push({ tick: t, reason: 'poison', issue: `PostgreSQL refused the bar ${at} closed from this tick: ${error}` });
        }
        this.deps.log.warn({ venue: minute.venue, symbol: minute.symbol, minute: at, ticks: mine.length, error }, 'PostgreSQL refused a bar; its ticks of this batch are taken back');
        return true;
      };
      const closed = await closeBarsIsolating(client, plan.close, this.deps.barSource ?? 'live', takeBack);
      for (const s of closed.skipped) {
        this.deps.log.error(
          { venue: s.minute.venue, symbol: s.minute.symbol, minute: new Date(s.minute.ts).toISOString(), error: s.error },
          'PostgreSQL refused a bar from ticks stored before this batch; the bar is left as it was',
        );
      }
      await saveIngestState(client, plan.next);
      await client.query('COMMIT');
      client.done();
      if (conflicts.length > 0) this.warnConflicts(conflicts);
      return { stored, bars: closed.bars, refused, conflicts: conflicts.length };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.done(err instanceof Error && isTransientDbError(err) ? err : undefined);
      throw err;
    }
  }

  /** Conflicting duplicates are dead-lettered one by one; the log gets at most one line per CONFLICT_LOG_MS, with a count. */
  private warnConflicts(conflicts: readonly TickConflict[]): void {
    this.conflictsUnlogged += conflicts.length;
    const at = performance.now();
    if (at - this.conflictLoggedAt < CONFLICT_LOG_MS) return;
    const first = conflicts[0];
    this.deps.log.warn(
      { conflicts: this.conflictsUnlogged, example: first && { tick: first.tick, stored: first.stored } },
      'conflicting duplicate ticks dead-lettered (reason conflict); the stored ticks are kept',
    );
    this.conflictsUnlogged = 0;
    this.conflictLoggedAt = at;
  }

  /** Dead-letters the ticks a batch set aside (reason `poison` or `conflict`, see `store`); their batch's ack settles them. */
  async deadLetterRefused(refused: readonly SetAsideTick[], msgOf: (tick: Tick) => PulledMsg | undefined): Promise<void> {
    const letters: { msg: PulledMsg; failure: DecodeFailure }[] = [];
    for (const r of refused) {
      const msg = msgOf(r.tick);
      if (msg) letters.push({ msg, failure: { ok: false, reason: r.reason, issues: [r.issue] } });
    }
    await deadLetter(this.deps.js, letters, 2, this.now(), this.letterOptions());
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
