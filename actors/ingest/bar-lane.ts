import type { Bar } from '../../streams/index.ts';

/**
 * A bar closed by this process's marketSync, handed over in memory at the tick
 * that closed it, before its ticks are committed (the bar published on
 * md.bar.1m is computed later, in SQL, from the stored ticks).
 */
export type LaneBar = {
  bar: Bar;
  /** Open time of the bar marketSync closed before this one for the series, if it knows it. */
  prevTs: number | undefined;
};

type Listener = (bars: readonly LaneBar[]) => void;

/**
 * The in-process fast lane from marketSync to the predictor: a closed bar
 * reaches the predictor without waiting for the database commit, the acked
 * publish on MD_BARS and the consumer's delivery. The durable path stays the
 * authority: the predictor uses a lane bar only when it directly follows the
 * last bar it predicted for the series (`prevTs`), publishes and stores the
 * prediction with the same dedup id, and acks the MD_BARS copy when it comes.
 * Listeners run synchronously; they must only queue work.
 */
export class BarLane {
  private readonly listeners = new Set<Listener>();

  listen(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  emit(bars: readonly LaneBar[]): void {
    if (bars.length === 0) return;
    for (const fn of this.listeners) fn(bars);
  }
}
