import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../config/index.ts';
import {
  checkout,
  closeBarsFromTicks,
  isTransientDbError,
  deleteOutbox,
  insertTicks,
  loadIngestState,
  readOutbox,
  saveIngestState,
  type Db,
  type StoredBar,
} from '../sql/index.ts';
import {
  msgIds,
  ORIGIN_HEADER,
  publishPipelined,
  subjects,
  type DecodeFailure,
  type Tick,
  type PulledMsg,
} from '../streams/index.ts';
import { deadLetter } from './dead-letter.ts';
import { MinuteTracker, type BatchPlan } from './minute-tracker.ts';
import { validateTick, type TickValidationOptions } from './tick-validation.ts';

export type IngestPipelineDeps = {
  js: JetStreamClient;
  db: Db;
  log: Logger;
  validation: TickValidationOptions;
  /** Bar source written for bars aggregated from ticks. */
  barSource?: 'live' | 'replay';
  now?: () => number;
};

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

/**
 * The hot path of marketSync, one call per batch of JetStream messages:
 * validate every message; dead-letter the invalid ones (then `term`); store the
 * valid ticks, close/correct bars and persist the aggregation state in ONE
 * transaction; publish new and corrected bars from the outbox; only then ack.
 * Any failure before the acks leaves the messages unacked (they are retried or
 * redelivered) and the in-memory state untouched; every write is idempotent.
 */
export class IngestPipeline {
  readonly tracker = new MinuteTracker();
  private readonly now: () => number;

  constructor(private readonly deps: IngestPipelineDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Restores the aggregation state persisted by earlier runs. */
  async restore(): Promise<void> {
    this.tracker.clear();
    const rows = await loadIngestState(this.deps.db);
    const now = this.now();
    this.tracker.load(rows.map((r) => ({ ...r, lastSeenAt: now })));
  }

  /** Step 1: validation and dead letters. Returns the valid ticks with their messages. */
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
      await deadLetter(this.deps.js, rejected, 2, now);
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
  async store(ticks: readonly Tick[], plan: BatchPlan, after: Promise<unknown> = Promise.resolve()): Promise<{ stored: number; bars: StoredBar[] }> {
    const client = await checkout(this.deps.db);
    try {
      await client.query('BEGIN');
      const stored = await insertTicks(client, ticks);
      await after;
      const bars = await closeBarsFromTicks(client, plan.close, this.deps.barSource ?? 'live');
      await saveIngestState(client, plan.next);
      await client.query('COMMIT');
      client.done();
      return { stored, bars };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.done(err instanceof Error && isTransientDbError(err) ? err : undefined);
      throw err;
    }
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
  planExpired(graceMs: number): BatchPlan {
    const plan = this.tracker.planExpired(this.now(), graceMs);
    this.tracker.apply(plan);
    return plan;
  }
}
