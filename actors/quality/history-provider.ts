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
export class HistoryUnavailableError extends Error {
  override readonly name = 'HistoryUnavailableError';
  readonly retryable = true;
  constructor(
    readonly provider: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${provider}: ${message}`, options);
  }
}
