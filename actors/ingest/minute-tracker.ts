import type { Tick } from '../../streams/index.ts';

export const MINUTE_MS = 60_000;
export const minuteOf = (ts: number): number => ts - (((ts % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);

/** Per-symbol aggregation state: the open minute (bar not yet closed) and the last tick seen. */
export type SeriesState = { venue: string; symbol: string; openMinute: number | undefined; lastTickTs: number; lastSeenAt: number };
export type MinuteKey = { venue: string; symbol: string; ts: number };

/** What one batch does to the aggregation state, computed before anything is written. */
export type BatchPlan = {
  /** Minutes whose bar must be (re)computed from stored ticks: closed now, or corrected by late ticks. */
  close: MinuteKey[];
  /** Minutes that got late ticks after their bar had closed (a subset of `close`). */
  late: MinuteKey[];
  /** The series states after the batch, to persist in the same transaction. */
  next: SeriesState[];
};

const keyOf = (venue: string, symbol: string): string => `${venue}\u0000${symbol}`;

/**
 * Decides when 1-minute bars close, by event time: a bar closes when a tick of a
 * later minute arrives for its symbol, or when no tick came for the grace period
 * (wall clock). A tick for a minute before the open one is late: its bar is
 * re-computed and the correction published. Planning is pure; `apply` commits a
 * plan once the batch is stored, so a failed batch leaves the tracker unchanged.
 */
export class MinuteTracker {
  private readonly series = new Map<string, SeriesState>();

  load(states: Iterable<SeriesState>): void {
    for (const s of states) this.series.set(keyOf(s.venue, s.symbol), { ...s });
  }

  clear(): void {
    this.series.clear();
  }

  get size(): number {
    return this.series.size;
  }

  /** The state of one series (as last applied). */
  get(venue: string, symbol: string): SeriesState | undefined {
    return this.series.get(keyOf(venue, symbol));
  }

  plan(ticks: readonly Tick[], now: number): BatchPlan {
    const touched = new Map<string, SeriesState>();
    const close = new Map<string, MinuteKey>();
    const late = new Map<string, MinuteKey>();
    for (const t of ticks) {
      const k = keyOf(t.venue, t.symbol);
      let s = touched.get(k);
      if (!s) {
        const prev = this.series.get(k);
        s = prev ? { ...prev } : { venue: t.venue, symbol: t.symbol, openMinute: undefined, lastTickTs: t.ts, lastSeenAt: now };
        touched.set(k, s);
      }
      const m = minuteOf(t.ts);
      if (s.openMinute === undefined) {
        s.openMinute = m;
      } else if (m > s.openMinute) {
        const key = { venue: t.venue, symbol: t.symbol, ts: s.openMinute };
        close.set(`${k}\u0000${key.ts}`, key);
        s.openMinute = m;
      } else if (m < s.openMinute) {
        const key = { venue: t.venue, symbol: t.symbol, ts: m };
        close.set(`${k}\u0000${m}`, key);
        late.set(`${k}\u0000${m}`, key);
      }
      if (t.ts > s.lastTickTs) s.lastTickTs = t.ts;
      s.lastSeenAt = now;
    }
    // A minute closed in this batch may have been marked late by an earlier tick in the batch: it is not late.
    for (const [id, key] of late) if (!this.wasClosed(key)) late.delete(id);
    return { close: [...close.values()], late: [...late.values()], next: [...touched.values()] };
  }

  /** Series with no tick for `graceMs` whose open minute should close now. */
  planExpired(now: number, graceMs: number): BatchPlan {
    const close: MinuteKey[] = [];
    const next: SeriesState[] = [];
    for (const s of this.series.values()) {
      if (s.openMinute !== undefined && now - s.lastSeenAt >= graceMs) {
        close.push({ venue: s.venue, symbol: s.symbol, ts: s.openMinute });
        next.push({ ...s, openMinute: undefined });
      }
    }
    return { close, late: [], next };
  }

  /** Wall-clock time at which the next grace closure is due, if any. */
  nextDeadline(graceMs: number): number | undefined {
    let min: number | undefined;
    for (const s of this.series.values()) {
      if (s.openMinute !== undefined && (min === undefined || s.lastSeenAt + graceMs < min)) min = s.lastSeenAt + graceMs;
    }
    return min;
  }

  apply(plan: BatchPlan): void {
    for (const s of plan.next) this.series.set(keyOf(s.venue, s.symbol), s);
  }

  private wasClosed(key: MinuteKey): boolean {
    const s = this.series.get(keyOf(key.venue, key.symbol));
    return s !== undefined && (s.openMinute === undefined ? key.ts <= minuteOf(s.lastTickTs) : key.ts < s.openMinute);
  }
}
