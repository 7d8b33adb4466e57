import type { BarSource, Tick } from '../../streams/index.ts';
import type { LaneBar } from './bar-lane.ts';
import { minuteOf, type BatchPlan, type SeriesState } from './minute-tracker.ts';

/** Byte order of the UTF-8 encodings (what `COLLATE "C"` sorts by), cheap for ASCII. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 code unit order equals UTF-8 byte order unless a surrogate pair meets a char in U+E000..U+FFFF.
  if (/[\uD800-\uFFFF]/.test(a) || /[\uD800-\uFFFF]/.test(b)) return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : 1;
}

type Aggregate = {
  minute: number;
  /** False when ticks of this minute may have been handled before this process saw them. */
  complete: boolean;
  open: number;
  firstTs: number;
  firstId: string;
  high: number;
  low: number;
  close: number;
  lastTs: number;
  lastId: string;
  volume: number;
  trades: number;
  /** Tick keys (ts, tradeId) seen: the `ticks` primary key, so a duplicate counts once, as in SQL. */
  seen: Set<string>;
};

const seriesKey = (venue: string, symbol: string): string => `${venue}\u0000${symbol}`;

/**
 * The open minute of every series, aggregated in memory from the ticks as
 * marketSync plans them, so a bar can be handed to the predictor at the tick
 * that closes it (see BarLane). It mirrors `closeBarsFromTicks`: open and close
 * by (ts, trade id), high, low, volume, trade count, a tick counted once per
 * (ts, trade id). A minute is complete only if this process saw its first tick
 * (not after a restart in the middle of it, nor a minute re-opened by a tick
 * after its grace closure); only complete minutes are handed over.
 */
export class OpenBarBook {
  private readonly open = new Map<string, Aggregate>();
  /** Per series: the open time of the last bar closed in order (not a late correction). */
  private readonly lastClosed = new Map<string, number>();

  constructor(private readonly source: BarSource = 'live') {}

  /**
   * Folds a batch in. `before` is the tracker's state of a series before the
   * batch's plan was applied. Returns the complete bars the batch closed.
   */
  fold(ticks: readonly Tick[], before: (venue: string, symbol: string) => SeriesState | undefined): LaneBar[] {
    const closed: LaneBar[] = [];
    const state = new Map<string, { openMinute: number | undefined; lastMinute: number | undefined }>();
    for (const t of ticks) {
      const k = seriesKey(t.venue, t.symbol);
      let s = state.get(k);
      if (!s) {
        const prev = before(t.venue, t.symbol);
        s = { openMinute: prev?.openMinute, lastMinute: prev ? minuteOf(prev.lastTickTs) : undefined };
        state.set(k, s);
      }
      const m = minuteOf(t.ts);
      if (s.openMinute === undefined) {
        // Opening a minute: complete if no tick of it can have come before (a new series, or a later minute).
        this.start(k, t, m, s.lastMinute === undefined || m > s.lastMinute);
        s.openMinute = m;
      } else if (m > s.openMinute) {
        this.close(k, t.venue, t.symbol, s.openMinute, closed);
        this.start(k, t, m, true);
        s.openMinute = m;
      } else if (m === s.openMinute) {
        const agg = this.open.get(k);
        if (agg?.minute === m) this.add(agg, t);
        else this.start(k, t, m, false); // restored open minute: its earlier ticks are in the database only
      }
      // m < openMinute: a late tick; its correction goes the durable way.
      if (s.lastMinute === undefined || m > s.lastMinute) s.lastMinute = m;
    }
    return closed;
  }

  /** Grace closures (`planExpired`): hands over the complete ones. */
  closeExpired(plan: BatchPlan): LaneBar[] {
    const closed: LaneBar[] = [];
    for (const key of plan.close) this.close(seriesKey(key.venue, key.symbol), key.venue, key.symbol, key.ts, closed);
    return closed;
  }

  clear(): void {
    this.open.clear();
    this.lastClosed.clear();
  }

  private start(k: string, t: Tick, minute: number, complete: boolean): void {
    const id = String(t.tradeId);
    this.open.set(k, {
      minute,
      complete,
      open: t.price,
      firstTs: t.ts,
      firstId: id,
      high: t.price,
      low: t.price,
      close: t.price,
      lastTs: t.ts,
      lastId: id,
      volume: t.size,
      trades: 1,
      seen: new Set([`${t.ts}\u0000${id}`]),
    });
  }

  private add(agg: Aggregate, t: Tick): void {
    const id = String(t.tradeId);
    const key = `${t.ts}\u0000${id}`;
    if (agg.seen.has(key)) return;
    agg.seen.add(key);
    if (t.ts < agg.firstTs || (t.ts === agg.firstTs && compareBytes(id, agg.firstId) < 0)) {
      agg.open = t.price;
      agg.firstTs = t.ts;
      agg.firstId = id;
    }
    if (t.ts > agg.lastTs || (t.ts === agg.lastTs && compareBytes(id, agg.lastId) > 0)) {
      agg.close = t.price;
      agg.lastTs = t.ts;
      agg.lastId = id;
    }
    if (t.price > agg.high) agg.high = t.price;
    if (t.price < agg.low) agg.low = t.price;
    agg.volume += t.size;
    agg.trades += 1;
  }

  private close(k: string, venue: string, symbol: string, minute: number, out: LaneBar[]): void {
    const agg = this.open.get(k);
    const prevTs = this.lastClosed.get(k);
    if (agg?.minute === minute) {
      this.open.delete(k);
      if (agg.complete) {
        const { open, high, low, close, volume, trades } = agg;
        out.push({ bar: { venue, symbol, interval: '1m', ts: minute, open, high, low, close, volume, trades, source: this.source }, prevTs });
      }
    }
    if (prevTs === undefined || minute > prevTs) this.lastClosed.set(k, minute);
  }
}
