import type { HealthState } from './types.ts';

export type BoardEntry = { state: HealthState; since: number; reason: string };
export type BoardListener = (venue: string, symbol: string, entry: BoardEntry) => void;

/**
 * The in-process view of every symbol's data health, written by consistency actors
 * and read by anyone who must not act on bad data (the predictor withholds
 * predictions for quarantined symbols). Other processes read the same state from
 * `md.quality.<venue>.<symbol>` or `quality_reports` (sql/quality.repo.ts).
 */
export class QualityBoard {
  private readonly entries = new Map<string, BoardEntry>();
  private readonly listeners = new Set<BoardListener>();

  /** The symbol's state; undefined until its consistency actor has reported (not known yet). */
  get(venue: string, symbol: string): BoardEntry | undefined {
    return this.entries.get(`${venue}.${symbol}`);
  }

  /** True only for a symbol known to be quarantined. */
  isQuarantined(venue: string, symbol: string): boolean {
    return this.get(venue, symbol)?.state === 'quarantined';
  }

  set(venue: string, symbol: string, entry: BoardEntry): void {
    const previous = this.get(venue, symbol);
    this.entries.set(`${venue}.${symbol}`, entry);
    if (previous?.state !== entry.state) for (const l of this.listeners) l(venue, symbol, entry);
  }

  /** Calls `listener` on every state change; returns the unsubscribe function. */
  onChange(listener: BoardListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets every symbol (tests). */
  clear(): void {
    this.entries.clear();
  }
}

/**
 * A symbol's data health as `board` knows it: `undefined` while no report has been
 * made yet. The function other actors call before acting on a symbol.
 */
export function symbolQualityState(venue: string, symbol: string, board: QualityBoard): HealthState | undefined {
  return board.get(venue, symbol)?.state;
}
