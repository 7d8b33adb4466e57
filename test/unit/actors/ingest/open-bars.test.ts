import { describe, expect, it } from 'vitest';
import { BarLane, type LaneBar } from '../../../../actors/ingest/bar-lane.ts';
import { MinuteTracker, type SeriesState } from '../../../../actors/ingest/minute-tracker.ts';
import { compareBytes, OpenBarBook } from '../../../../actors/ingest/open-bars.ts';
import type { Tick } from '../../../../streams/index.ts';

const T0 = Date.UTC(2024, 2, 1, 0, 0);
const tick = (ts: number, price: number, size: number, tradeId: string, symbol = 'S'): Tick => ({ venue: 'v', symbol, ts, price, size, tradeId });

/** Runs batches through a tracker and a book as the ingest pipeline does (fold before apply). */
function feed(book: OpenBarBook, tracker: MinuteTracker, batches: Tick[][]): LaneBar[] {
  const out: LaneBar[] = [];
  for (const ticks of batches) {
    const plan = tracker.plan(ticks, 0);
    out.push(...book.fold(ticks, (venue, symbol) => tracker.get(venue, symbol)));
    tracker.apply(plan);
  }
  return out;
}

describe('OpenBarBook (the bars handed to the predictor before they are stored)', () => {
  it('closes a minute at the first tick of a later one, with OHLCV as closeBarsFromTicks computes them', () => {
    const book = new OpenBarBook();
    const tracker = new MinuteTracker();
    const closed = feed(book, tracker, [
      [tick(T0 + 5_000, 100, 1, 'b'), tick(T0 + 1_000, 99, 2, 'z')],
      // Same ts as the open tick: 'a' sorts before 'z' in byte order, so it is the open.
      [tick(T0 + 1_000, 98, 0.5, 'a'), tick(T0 + 59_000, 103, 1.5, 'c'), tick(T0 + 59_000, 101, 1, 'd')],
      // A duplicate (same ts and trade id: the ticks primary key) counts once, even with another price.
      [tick(T0 + 59_000, 500, 9, 'd')],
      [tick(T0 + 61_000, 104, 1, 'e')],
    ]);
    expect(closed).toEqual([
      {
        bar: { venue: 'v', symbol: 'S', interval: '1m', ts: T0, open: 98, high: 103, low: 98, close: 101, volume: 6, trades: 5, source: 'live' },
        prevTs: undefined,
      },
    ]);
  });

  it('chains prevTs, ignores late ticks, and hands over grace closures', () => {
    const book = new OpenBarBook('replay');
    const tracker = new MinuteTracker();
    const a = feed(book, tracker, [[tick(T0, 1, 1, '1'), tick(T0 + 60_000, 2, 1, '2'), tick(T0 + 180_000, 3, 1, '3')]]);
    expect(a.map((b) => [b.bar.ts, b.prevTs])).toEqual([
      [T0, undefined],
      [T0 + 60_000, T0],
    ]);
    expect(a[0]?.bar.source).toBe('replay');
    // A late tick of a closed minute changes nothing here (its correction goes the durable way).
    expect(feed(book, tracker, [[tick(T0 + 30_000, 50, 1, 'late')]])).toEqual([]);
    const plan = tracker.planExpired(10_000, 0);
    const expired = book.closeExpired(plan);
    tracker.apply(plan);
    expect(expired.map((b) => [b.bar.ts, b.bar.close, b.prevTs])).toEqual([[T0 + 180_000, 3, T0 + 60_000]]);
  });

  it('hands over nothing it may have seen only part of: a minute open before a restart, or re-opened after its grace closure', () => {
    const tracker = new MinuteTracker();
    // Restored state: minute T0 was open when the previous process stopped; its first ticks are in the database only.
    const restored: SeriesState = { venue: 'v', symbol: 'S', openMinute: T0, lastTickTs: T0 + 10_000, lastSeenAt: 0 };
    tracker.load([restored]);
    const book = new OpenBarBook();
    const first = feed(book, tracker, [[tick(T0 + 20_000, 5, 1, 'x')], [tick(T0 + 60_000, 6, 1, 'y')]]);
    expect(first, 'the restored minute is not handed over').toEqual([]);
    // Grace closure of T0+1m, then a tick of the same minute re-opens it: its bar is corrected the durable way.
    const plan = tracker.planExpired(10_000, 0);
    expect(book.closeExpired(plan).map((b) => [b.bar.ts, b.prevTs])).toEqual([[T0 + 60_000, T0]]);
    tracker.apply(plan);
    const reopened = feed(book, tracker, [[tick(T0 + 70_000, 7, 1, 'w')], [tick(T0 + 120_000, 8, 1, 'v')]]);
    expect(reopened).toEqual([]);
    // The next minute is whole again, and follows the last bar closed.
    const next = feed(book, tracker, [[tick(T0 + 180_000, 9, 1, 'u')]]);
    expect(next.map((b) => [b.bar.ts, b.bar.open, b.prevTs])).toEqual([[T0 + 120_000, 8, T0 + 60_000]]);
  });

  it('keeps series apart', () => {
    const book = new OpenBarBook();
    const tracker = new MinuteTracker();
    const closed = feed(book, tracker, [[tick(T0, 1, 1, '1', 'A'), tick(T0, 10, 1, '1', 'B'), tick(T0 + 60_000, 2, 1, '2', 'A')]]);
    expect(closed.map((b) => [b.bar.symbol, b.bar.close])).toEqual([['A', 1]]);
  });

  it('orders trade ids by bytes (COLLATE "C"), also outside ASCII', () => {
    expect(compareBytes('a', 'b')).toBe(-1);
    expect(compareBytes('B', 'a')).toBe(-1);
    expect(compareBytes('10', '9')).toBe(-1);
    expect(compareBytes('x', 'x')).toBe(0);
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (F0 9F 98 80) by bytes, after it by UTF-16 units.
    expect(compareBytes('\uFF5E', '\u{1F600}')).toBe(-1);
  });

  it('BarLane delivers to every listener until it stops listening', () => {
    const lane = new BarLane();
    const got: number[] = [];
    const stop = lane.listen((bars) => got.push(bars.length));
    expect(lane.listening).toBe(true);
    lane.emit([]);
    lane.emit([{ bar: { venue: 'v', symbol: 'S', interval: '1m', ts: T0, open: 1, high: 1, low: 1, close: 1, volume: 1, source: 'live' }, prevTs: undefined }]);
    stop();
    lane.emit([{ bar: { venue: 'v', symbol: 'S', interval: '1m', ts: T0, open: 1, high: 1, low: 1, close: 1, volume: 1, source: 'live' }, prevTs: undefined }]);
    expect(got).toEqual([1]);
    expect(lane.listening).toBe(false);
  });
});
