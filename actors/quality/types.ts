import type { BarRow } from '../../market/index.ts';
/**
 * Contracts of the data-quality capability: bar intervals, gaps, history bars,
 * consistency findings and per-symbol health. Times are epoch milliseconds and a
 * bar is named by its OPEN time.
 */

/** Bar intervals the calendars know. `1d` bars open at 00:00 UTC of their date. */
export type BarInterval = '1m' | '1d';
export const INTERVAL_MS: Readonly<Record<BarInterval, number>> = { '1m': 60_000, '1d': 86_400_000 };

/** How a gap was noticed: missing bar times, a stream sequence jump, or a feed that went quiet. */
export const GAP_KINDS = ['time', 'sequence', 'silence'] as const;
export type GapKind = (typeof GAP_KINDS)[number];

/**
 * A run of expected bars that is missing. `from` and `to` are the open times of the
 * first and last missing bar (inclusive); `bars` is how many the calendar expects in it.
 */
export type Gap = {
  venue: string;
  symbol: string;
  from: number;
  to: number;
  kind: GapKind;
  bars: number;
};

/**
 * One bar from a history source: structurally the `BarRow` of market/bars-csv.ts
 * (ts = open time, epoch ms), so either can be passed where the other is expected.
 */
export type HistoryBar = BarRow;

/** Per-symbol data health. `quarantined` symbols get no predictions. */
export const HEALTH_STATES = ['healthy', 'degraded', 'quarantined'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

/** What a consistency check can find in a window of closed bars. */
export const FINDING_KINDS = [
  'out_of_order', // a bar older than one already seen in arrival order
  'duplicate', // same open time (and revision), different values
  'ohlc', // low <= min(open, close) <= max(open, close) <= high violated, or a price <= 0 / not finite
  'volume', // negative or non-finite volume
  'price_jump', // log return beyond k robust deviations (MAD) of recent returns
  'flat', // price unchanged for N bars: a stale or frozen feed
  'tick_mismatch', // the bar disagrees with the aggregate of its own ticks
  'gap', // bars missing that history could not provide (an unfillable gap, reported by the backfill)
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export type Finding = { kind: FindingKind; ts: number; detail: string };
