import type { BarRow } from '../../../../market/index.ts';

/** A hole carved out of a continuous series: indexes [start, end) removed. */
export type Carve = { name: string; start: number; end: number };

/**
 * The carves used by the gap tests on a continuous 1-minute series of `n` bars
 * starting at `t0`: two single minutes, a 90-minute hole, a hole across a UTC
 * midnight, and holes at the start and the end of the series.
 */
export function standardCarves(bars: readonly BarRow[]): Carve[] {
  const first = bars[0]?.ts ?? 0;
  const midnight = Math.ceil((first + 1) / 86_400_000) * 86_400_000; // first UTC midnight after the start
  const m = bars.findIndex((b) => b.ts === midnight);
  if (m < 40) throw new Error('series too short for the day-boundary carve');
  const n = bars.length;
  return [
    { name: 'start of window', start: 0, end: 5 },
    { name: 'single minute A', start: 17, end: 18 },
    { name: 'single minute B', start: 23, end: 24 },
    { name: '90-minute hole', start: 200, end: 290 },
    { name: 'across midnight', start: m - 30, end: m + 30 },
    { name: 'end of window', start: n - 7, end: n },
  ].sort((a, b) => a.start - b.start);
}

/** The series without the carved bars. */
export function carve<T>(bars: readonly T[], carves: readonly Carve[]): T[] {
  const drop = new Set<number>();
  for (const c of carves) for (let i = c.start; i < c.end; i += 1) drop.add(i);
  return bars.filter((_, i) => !drop.has(i));
}

/** The expected gap of a carve: open times of its first and last missing bar. */
export function expectedGap(bars: readonly BarRow[], c: Carve): { from: number; to: number; bars: number } {
  return { from: bars[c.start]?.ts ?? NaN, to: bars[c.end - 1]?.ts ?? NaN, bars: c.end - c.start };
}
