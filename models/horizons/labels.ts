import type { HorizonLabel } from '../types.ts';

/** The horizons every closed bar is forecast for, in minutes, unless configured otherwise. */
export const DEFAULT_HORIZONS: readonly number[] = [1, 5, 15, 60];

export const horizonLabel = (minutes: number): HorizonLabel => `${minutes}m`;

/**
 * Parses a horizon list such as "1m,5m,15m,60m" (a bare number means minutes):
 * sorted, unique, whole minutes from 1 to one day. RangeError names the bad entry.
 */
export function parseHorizons(text: string): number[] {
  const out = new Set<number>();
  for (const raw of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const m = /^(\d+)(m|h)?$/.exec(raw);
    const n = m ? Number(m[1]) * (m[2] === 'h' ? 60 : 1) : Number.NaN;
    if (!Number.isInteger(n) || n < 1 || n > 1440) throw new RangeError(`horizon "${raw}" must be whole minutes from 1m to 1440m (e.g. 5m or 1h)`);
    out.add(n);
  }
  if (out.size === 0) throw new RangeError('the horizon list is empty');
  return [...out].sort((a, b) => a - b);
}
