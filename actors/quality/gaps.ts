import type { TradingCalendar } from './calendar.ts';
import { INTERVAL_MS, type BarInterval, type Gap, type GapKind } from './types.ts';

/** Whose bars, on which calendar, at which interval. */
export type GapScope = {
  venue: string;
  symbol: string;
  calendar: TradingCalendar;
  interval: BarInterval;
};

/** The gap between two bar open times `a < b` (both exclusive), if any bar is expected there. */
export function gapBetween(scope: GapScope, a: number, b: number, kind: GapKind): Gap | undefined {
  const from = scope.calendar.next(a, scope.interval);
  if (from >= b) return undefined;
  const to = scope.calendar.previous(b, scope.interval);
  return gapOf(scope, from, to, kind);
}

function gapOf(scope: GapScope, from: number, to: number, kind: GapKind): Gap | undefined {
  if (from > to) return undefined;
  const bars = scope.calendar.countExpected(from, to, scope.interval);
  if (bars === 0) return undefined;
  return { venue: scope.venue, symbol: scope.symbol, from, to, kind, bars };
}

/**
 * Missing bars in a set of closed bar open times (any order, duplicates allowed).
 * Without a window, only holes between the first and last bar are found; with one,
 * holes at its start and end count too (and bars outside it are ignored).
 */
export function findTimeGaps(
  times: Iterable<number>,
  scope: GapScope,
  window?: { from: number; to: number },
): Gap[] {
  const sorted = [...new Set(times)]
    .filter((t) => window === undefined || (t >= window.from && t <= window.to))
    .sort((x, y) => x - y);
  const { calendar, interval } = scope;
  const gaps: Gap[] = [];
  // First expected bar not yet accounted for.
  let cursor: number | undefined;
  if (window) cursor = calendar.isSession(window.from, interval) ? window.from : calendar.next(window.from, interval);
  for (const t of sorted) {
    if (cursor !== undefined && cursor < t) {
      const gap = gapOf(scope, cursor, calendar.previous(t, interval), 'time');
      if (gap) gaps.push(gap);
    }
    cursor = calendar.next(t, interval);
  }
  if (window && cursor !== undefined) {
    const last = calendar.isSession(window.to, interval) ? window.to : calendar.previous(window.to, interval);
    const gap = gapOf(scope, cursor, last, 'time');
    if (gap) gaps.push(gap);
  }
  return gaps;
}

/**
 * What an incremental detector remembers about one feed: the newest bar open time
 * accounted for (seen, or already reported missing) and the last sequence seen.
 * Plain data, so it can live in a machine's context and its snapshots.
 */
export type DetectorState = { lastTs?: number; lastSeq?: number };

/** A closed bar as the detector sees it; `seq` only when the feed's sequences are contiguous. */
export type ObservedBar = { ts: number; seq?: number };

export type Observation = {
  state: DetectorState;
  gap?: Gap;
  /** Sequences skipped with no bar time missing (lost corrections, say): nothing to fill. */
  lostSequences?: { from: number; to: number };
};

/**
 * Feeds one closed bar to the detector. Bars older than the newest one are late
 * arrivals (or fills) and change nothing; a sequence at or below the last one is a
 * redelivery. A jump in bar time is a `time` gap, or a `sequence` gap when the
 * sequence also jumped (messages were lost, not just never produced).
 */
export function observeBar(state: DetectorState, bar: ObservedBar, scope: GapScope): Observation {
  if (bar.seq !== undefined && state.lastSeq !== undefined && bar.seq <= state.lastSeq) return { state };
  const lastSeq = bar.seq ?? state.lastSeq;
  const seqJump =
    bar.seq !== undefined && state.lastSeq !== undefined && bar.seq > state.lastSeq + 1
      ? { from: state.lastSeq + 1, to: bar.seq - 1 }
      : undefined;
  const next: DetectorState = { ...withSeq(state, lastSeq) };
  if (state.lastTs !== undefined && bar.ts <= state.lastTs) {
    return seqJump ? { state: next, lostSequences: seqJump } : { state: next };
  }
  next.lastTs = bar.ts;
  const gap = state.lastTs === undefined ? undefined : gapBetween(scope, state.lastTs, bar.ts, seqJump ? 'sequence' : 'time');
  if (gap) return { state: next, gap };
  return seqJump ? { state: next, lostSequences: seqJump } : { state: next };
}

function withSeq(state: DetectorState, lastSeq: number | undefined): DetectorState {
  const out: DetectorState = {};
  if (state.lastTs !== undefined) out.lastTs = state.lastTs;
  if (lastSeq !== undefined) out.lastSeq = lastSeq;
  return out;
}

/**
 * A silent feed: at `now`, every expected bar that closed more than `timeoutMs` ago
 * and has not arrived is reported as one `silence` gap, and the detector moves past
 * it (a bar arriving later inside it is then a late arrival, which the fill skips).
 */
export function checkSilence(state: DetectorState, now: number, timeoutMs: number, scope: GapScope): Observation {
  if (state.lastTs === undefined) return { state };
  // Latest open time whose bar closed at least `timeoutMs` before now.
  const horizon = now - timeoutMs - INTERVAL_MS[scope.interval];
  if (horizon <= state.lastTs) return { state };
  const gap = gapBetween(scope, state.lastTs, horizon + 1, 'silence');
  if (!gap) return { state };
  return { state: { ...state, lastTs: gap.to }, gap };
}
