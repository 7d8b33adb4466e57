import { barProblem } from './bar-sanity.ts';
import type { TradingCalendar } from './calendar.ts';
import type { HistoryProvider } from './history-provider.ts';
import type { BarInterval, HistoryBar } from './types.ts';

/** The gap row a fill works on (a `data_gaps` row). */
export type FillTarget = { id: number; venue: string; symbol: string; from: number; to: number };

/** Storage the fill needs; sql/gaps.repo.ts provides it (see actors/backfill.logic.ts). */
export interface FillStore {
  /** Marks the gap `filling` and counts the attempt. */
  startAttempt(id: number): Promise<void>;
  /** Open times of the bars already stored in [from, to]. */
  barTimes(venue: string, symbol: string, from: number, to: number): Promise<number[]>;
  /** Stored real (non-interpolated) bars in [from, to] plus the nearest one on each side. */
  barsAround(venue: string, symbol: string, from: number, to: number): Promise<HistoryBar[]>;
  /** Writes bars that are still missing (never overwriting real ones); returns rows written. */
  writeBars(venue: string, symbol: string, bars: readonly HistoryBar[], source: 'backfill' | 'interpolated'): Promise<number>;
  /** Ends the attempt with the gap's new status. */
  finish(
    id: number,
    result: { status: 'open' | 'filled' | 'unfillable'; rows: number; method: string; detail: Record<string, unknown> },
  ): Promise<void>;
}

export type FillOptions = {
  store: FillStore;
  provider: HistoryProvider;
  calendar: TradingCalendar;
  interval: BarInterval;
  /** Last attempt: an incomplete fill becomes `unfillable` (or interpolated) instead of retried. */
  final: boolean;
  /** Interpolate what history cannot provide, on the final attempt only (`source: 'interpolated'`). */
  interpolate: boolean;
};

/**
 * How an attempt ended. `filled`: every expected bar is now stored. `retry`: history
 * was incomplete or unavailable, the gap is `open` again and worth another attempt.
 * `unfillable`: the last attempt and history still lacks bars (nothing invented).
 * `abandoned`: the last attempt and the provider could not be asked; the gap stays
 * `open` for a later run.
 */
export type FillOutcome =
  | { status: 'filled'; rows: number; interpolated: number; method: string }
  | { status: 'retry'; rows: number; missing: number; method: string; error?: string }
  | { status: 'unfillable'; rows: number; missing: number; method: string }
  | { status: 'abandoned'; rows: number; missing: number; method: string; error: string };

/**
 * One fill attempt of a recorded gap: find which expected bars are still missing
 * (a late live bar may have arrived meanwhile), take exactly those from history
 * (only bars with sane values), write them with source `backfill`, and record the
 * result in the gap row.
 */
export async function fillGap(gap: FillTarget, opts: FillOptions): Promise<FillOutcome> {
  const { store, provider, calendar, interval } = opts;
  const method = provider.name;
  await store.startAttempt(gap.id);
  const present = new Set(await store.barTimes(gap.venue, gap.symbol, gap.from, gap.to));
  const missing = new Set(calendar.expectedBarTimes(gap.from, gap.to, interval).filter((t) => !present.has(t)));
  if (missing.size === 0) {
    await store.finish(gap.id, { status: 'filled', rows: 0, method: 'present', detail: { missing: 0 } });
    return { status: 'filled', rows: 0, interpolated: 0, method: 'present' };
  }

  let history: HistoryBar[];
  try {
    history = await provider.fetchBars(gap.venue, gap.symbol, gap.from, gap.to);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    await store.finish(gap.id, { status: 'open', rows: 0, method, detail: { lastError: error, missing: missing.size } });
    return opts.final
      ? { status: 'abandoned', rows: 0, missing: missing.size, method, error }
      : { status: 'retry', rows: 0, missing: missing.size, method, error };
  }

  const usable = new Map<number, HistoryBar>();
  let rejected = 0;
  for (const bar of history) {
    if (!missing.has(bar.ts) || usable.has(bar.ts)) continue;
    if (barProblem(bar)) rejected += 1;
    else usable.set(bar.ts, bar);
  }
  const rows = await store.writeBars(gap.venue, gap.symbol, [...usable.values()], 'backfill');
  for (const t of usable.keys()) missing.delete(t);
  const detail = { missing: missing.size, rejected };

  if (missing.size === 0) {
    await store.finish(gap.id, { status: 'filled', rows, method, detail });
    return { status: 'filled', rows, interpolated: 0, method };
  }
  if (!opts.final) {
    await store.finish(gap.id, { status: 'open', rows, method, detail });
    return { status: 'retry', rows, missing: missing.size, method };
  }
  if (opts.interpolate) {
    const known = await store.barsAround(gap.venue, gap.symbol, gap.from, gap.to);
    const synthetic = interpolateBars([...missing].sort((a, b) => a - b), known);
    if (synthetic.length === missing.size) {
      const written = await store.writeBars(gap.venue, gap.symbol, synthetic, 'interpolated');
      const how = `${method}+interpolated`;
      await store.finish(gap.id, { status: 'filled', rows: rows + written, method: how, detail: { ...detail, interpolated: written } });
      return { status: 'filled', rows: rows + written, interpolated: written, method: how };
    }
  }
  await store.finish(gap.id, { status: 'unfillable', rows, method, detail });
  return { status: 'unfillable', rows, missing: missing.size, method };
}

/**
 * Flat bars at a price linear in time between the nearest real bars around each
 * missing time (the previous close and the next open; one side only at the edges).
 * Volume 0: nothing traded that we know of. Returns [] when there is no neighbour.
 */
export function interpolateBars(missing: readonly number[], known: readonly HistoryBar[]): HistoryBar[] {
  const sorted = [...known].sort((a, b) => a.ts - b.ts);
  const out: HistoryBar[] = [];
  let k = 0;
  for (const t of missing) {
    while (k < sorted.length && (sorted[k]?.ts ?? Infinity) < t) k += 1;
    const before = sorted[k - 1];
    const after = sorted[k]?.ts === t ? sorted[k + 1] : sorted[k];
    let price: number;
    if (before && after) price = before.close + ((after.open - before.close) * (t - before.ts)) / (after.ts - before.ts);
    else if (before) price = before.close;
    else if (after) price = after.open;
    else return [];
    out.push({ ts: t, open: price, high: price, low: price, close: price, volume: 0 });
  }
  return out;
}
