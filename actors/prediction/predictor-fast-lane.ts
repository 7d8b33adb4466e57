import type { Logger } from '../../config/index.ts';
import type { EngineOutput, FineTuneTrigger, HybridEngine, QualityLookup } from './index.ts';
import type { Bar } from '../../streams/index.ts';
import type { LaneBar } from '../ingest/index.ts';

/** What the fast lane did in one run (bars stepped, predictions it published itself). */
export type FastLaneOutcome = { bars: number; predictions: number; withheld: number; ms: number };

/** A bar the fast lane stepped: the bar as aggregated in memory, what it produced, and whether that was published. */
type Handled = { bar: Bar; outputs: readonly EngineOutput[]; published: Promise<boolean> };

/** Bars the durable copy of which has not come yet; beyond this the oldest entries are forgotten. */
const MAX_PENDING = 100_000;
/** Relative tolerance of the volume check: SQL sums sizes as exact decimals, the lane as doubles. */
const VOLUME_RTOL = 1e-9;

const keyOf = (venue: string, symbol: string, ts: number): string => `${venue}.${symbol}.${ts}`;

/** True when the lane's bar and the stored bar (from the durable path) agree. */
export function sameBar(lane: Bar, stored: Bar): boolean {
  return (
    lane.open === stored.open &&
    lane.high === stored.high &&
    lane.low === stored.low &&
    lane.close === stored.close &&
    (lane.trades ?? 0) === (stored.trades ?? 0) &&
    Math.abs(lane.volume - stored.volume) <= VOLUME_RTOL * Math.max(1, Math.abs(stored.volume))
  );
}

export type FastLaneDeps = {
  engine: HybridEngine;
  quality: QualityLookup;
  log: Logger;
  /** False for a symbol this process must not predict now (scale-out claims, catch-up pending). */
  accepts(venue: string, symbol: string): boolean;
  /** Publishes (with dedup ids) and stores the outputs, saves the weights; rejects on failure. */
  publish(outputs: readonly EngineOutput[]): Promise<{ predictions: number; withheld: number }>;
  onTriggers(triggers: readonly FineTuneTrigger[]): void;
  onOutcome(outcome: FastLaneOutcome): void;
};

/**
 * The predictor's side of the BarLane: bars handed over by marketSync are
 * micro-batched (everything offered in one turn of the event loop goes in one
 * engine step) and predicted at once, before marketSync has committed them. A
 * bar is taken only when it directly follows the last bar the engine stepped
 * for its symbol, so the lane never skips a bar the durable path still has to
 * deliver. When the bar's MD_BARS copy arrives, the durable handler `take`s it:
 * it is not stepped again, its prediction is not published again (unless the
 * lane's publication failed), and the two versions of the bar are compared.
 */
export class PredictorFastLane {
  private queue: LaneBar[] = [];
  private scheduled = false;
  private readonly handled = new Map<string, Handled>();

  constructor(private readonly deps: FastLaneDeps) {}

  /** The BarLane listener: queues, and runs on the next turn of the event loop. */
  readonly offer = (bars: readonly LaneBar[]): void => {
    for (const b of bars) this.queue.push(b);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
  };

  /** Bars stepped here whose MD_BARS copy has not come yet. */
  get pending(): number {
    return this.handled.size;
  }

  /**
   * Called by the durable handler for each bar it received, right before its own
   * engine step: the lane's record of that bar (then the handler must not step it),
   * or undefined.
   */
  take(bar: Bar): Handled | undefined {
    const key = keyOf(bar.venue, bar.symbol, bar.ts);
    const h = this.handled.get(key);
    if (h) this.handled.delete(key);
    return h;
  }

  private run(): void {
    this.scheduled = false;
    const offered = this.queue;
    this.queue = [];
    const { engine } = this.deps;
    const started = performance.now();
    const take: Bar[] = [];
    const last = new Map<string, number | undefined>();
    for (const { bar, prevTs } of offered) {
      const series = `${bar.venue}.${bar.symbol}`;
      const lastTs = last.has(series) ? last.get(series) : engine.lastBarTs(bar.venue, bar.symbol);
      if (prevTs === undefined || lastTs !== prevTs || !this.deps.accepts(bar.venue, bar.symbol)) continue;
      last.set(series, bar.ts);
      take.push(bar);
    }
    if (take.length === 0) return;
    const result = engine.step(take, this.deps.quality);
    if (result.triggers.length > 0) this.deps.onTriggers(result.triggers);
    const published = this.deps.publish(result.outputs).then(
      (r) => {
        this.deps.onOutcome({ bars: take.length, predictions: r.predictions, withheld: r.withheld, ms: performance.now() - started });
        return true;
      },
      (err: unknown) => {
        this.deps.log.warn({ err, bars: take.length }, 'fast-lane publication failed; the durable path will publish these predictions');
        return false;
      },
    );
    const bySeries = new Map<string, EngineOutput[]>();
    for (const o of result.outputs) {
      const k = keyOf(o.prediction.venue, o.prediction.symbol, o.prediction.ts);
      let list = bySeries.get(k);
      if (!list) bySeries.set(k, (list = []));
      list.push(o);
    }
    for (const bar of take) {
      const k = keyOf(bar.venue, bar.symbol, bar.ts);
      this.handled.set(k, { bar, outputs: bySeries.get(k) ?? [], published });
    }
    while (this.handled.size > MAX_PENDING) {
      const oldest = this.handled.keys().next();
      if (oldest.done) break;
      this.handled.delete(oldest.value);
    }
  }
}
