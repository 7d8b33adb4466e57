import { SignalsError } from '../../config/index.ts';
import type { HistoryBar } from './types.ts';

/**
 * A source of historical bars to fill gaps from. `fetchBars` returns the bars it has
 * with open times in [from, to] (inclusive), any order; an empty array means "has
 * nothing for that range" (the gap may be unfillable), a rejection means "could not
 * ask right now" (retry later). Values must be the source's own: a provider never
 * invents bars.
 */
export interface HistoryProvider {
  /** Recorded as the fill `method` in `data_gaps`, e.g. `csv:/data/history` or `db:binance`. */
  readonly name: string;
  fetchBars(venue: string, symbol: string, from: number, to: number): Promise<HistoryBar[]>;
}

/** A history source could not be asked (I/O error, file unreadable). Retryable. */
export class HistoryUnavailableError extends SignalsError {
  override readonly name = 'HistoryUnavailableError';
  override readonly retryable = true;
  constructor(
    readonly provider: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${provider}: ${message}`, options);
  }
}

/** Has nothing: every gap it is asked about stays unfillable. */
export const NO_HISTORY: HistoryProvider = { name: 'none', fetchBars: async () => [] };

/**
 * Several sources asked in order: a bar time the first has is taken from it, the
 * rest are asked only for what is still missing. A source that cannot be asked
 * right now makes the whole fetch retryable (a later try may find more).
 */
export function composeHistory(sources: readonly HistoryProvider[]): HistoryProvider {
  if (sources.length === 1 && sources[0]) return sources[0];
  return {
    name: sources.map((s) => s.name).join('+'),
    async fetchBars(venue, symbol, from, to) {
      const byTs = new Map<number, HistoryBar>();
      for (const s of sources) {
        for (const b of await s.fetchBars(venue, symbol, from, to)) if (!byTs.has(b.ts)) byTs.set(b.ts, b);
      }
      return [...byTs.values()].sort((a, b) => a.ts - b.ts);
    },
  };
}
