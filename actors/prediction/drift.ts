/**
 * Drift detection on a model's error stream: the Page-Hinkley test for an
 * increase of the mean. With xₜ the observation and x̄ₜ its running mean,
 * mₜ = Σ (xᵢ - x̄ᵢ - delta), Mₜ = min mₜ; the detector fires when mₜ - Mₜ > lambda,
 * then restarts from scratch. `delta` is the tolerated increase per observation,
 * `lambda` the alarm threshold, `minObservations` the bars before it may fire.
 *
 * The predictor feeds it the absolute error of the adaptive component divided
 * by a slow EWMA of |actual| (scale-free, ~0.8–1 for a sane model), so one
 * `delta`/`lambda` pair suits BTC and a quiet stock alike.
 */
export type PageHinkleyConfig = {
  readonly delta: number;
  readonly lambda: number;
  readonly minObservations: number;
  /** Observations are clipped to this (heavy-tailed errors: one crash bar is not a drift). */
  readonly clip: number;
};

export const DEFAULT_PAGE_HINKLEY: PageHinkleyConfig = { delta: 0.1, lambda: 20, minObservations: 30, clip: 4 };

export class PageHinkley {
  private n = 0;
  private mean = 0;
  private cum = 0;
  private min = 0;
  /** Alarms raised so far. */
  alarms = 0;

  constructor(readonly config: PageHinkleyConfig = DEFAULT_PAGE_HINKLEY) {
    if (!(config.lambda > 0) || !(config.delta >= 0)) throw new RangeError('Page-Hinkley needs lambda > 0 and delta >= 0');
  }

  /** Observations since the last reset. */
  get observations(): number {
    return this.n;
  }

  /** The current test statistic mₜ - Mₜ. */
  get statistic(): number {
    return this.cum - this.min;
  }

  /** Adds one observation; true when drift is detected (the detector then resets). Non-finite values are ignored. */
  update(x: number): boolean {
    if (Number.isNaN(x)) return false;
    x = Math.min(x, this.config.clip);
    this.n += 1;
    this.mean += (x - this.mean) / this.n;
    this.cum += x - this.mean - this.config.delta;
    this.min = Math.min(this.min, this.cum);
    if (this.n >= this.config.minObservations && this.cum - this.min > this.config.lambda) {
      this.alarms += 1;
      this.reset();
      return true;
    }
    return false;
  }

  reset(): void {
    this.n = 0;
    this.mean = 0;
    this.cum = 0;
    this.min = 0;
  }
}

/**
 * The error monitor of one symbol: normalises each absolute error by a slow EWMA
 * of |actual| (half-life `scaleHalfLife` bars) and feeds Page-Hinkley.
 */
export class DriftMonitor {
  private scale: number | undefined;
  private readonly alpha: number;
  readonly detector: PageHinkley;

  constructor(config: PageHinkleyConfig = DEFAULT_PAGE_HINKLEY, scaleHalfLife = 500) {
    this.detector = new PageHinkley(config);
    this.alpha = 1 - 0.5 ** (1 / scaleHalfLife);
  }

  /** One scored bar: the component's forecast and the realised log return. True on drift. */
  observe(predicted: number, actual: number): boolean {
    const a = Math.abs(actual);
    this.scale = this.scale === undefined ? a : this.scale + this.alpha * (a - this.scale);
    if (!(this.scale > 0)) return false;
    return this.detector.update(Math.abs(predicted - actual) / this.scale);
  }
}
