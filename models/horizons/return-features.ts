const TWO_PI = 2 * Math.PI;
const DAY_MS = 86_400_000;
/** Smallest absolute return an EWMA is allowed to reach, so its logarithm stays finite on flat bars. */
const ABS_FLOOR = 1e-7;

/** Smoothing factor of an EWMA with the given span (the pandas convention α = 2 / (span + 1)). */
export const alphaOfSpan = (span: number): number => 2 / (span + 1);

/**
 * The streaming statistics of one symbol's 1-minute log returns that the
 * volatility baselines read: an EWMA of squared returns (the EWMA variance
 * forecast) and EWMAs of absolute returns at three spans (the HAR regressors:
 * a short, a medium and a long memory of how much the price has been moving).
 */
export class ReturnFeatures {
  private variance: number | undefined;
  private readonly abs: (number | undefined)[];
  private readonly varAlpha: number;
  private readonly absAlpha: readonly number[];
  count = 0;

  constructor(
    readonly ewmaSpan: number,
    readonly harSpans: readonly number[],
  ) {
    this.varAlpha = alphaOfSpan(ewmaSpan);
    this.absAlpha = harSpans.map(alphaOfSpan);
    this.abs = harSpans.map(() => undefined);
  }

  push(r: number): void {
    const a = Math.abs(r);
    this.variance = this.variance === undefined ? r * r : this.varAlpha * r * r + (1 - this.varAlpha) * this.variance;
    this.absAlpha.forEach((alpha, i) => {
      const prev = this.abs[i];
      this.abs[i] = prev === undefined ? a : alpha * a + (1 - alpha) * prev;
    });
    this.count += 1;
  }

  /** The EWMA per-minute variance, undefined before the first return. */
  get ewmaVariance(): number | undefined {
    return this.variance;
  }

  /**
   * HAR regressors at a bar: 1, the logs of the three absolute-return EWMAs,
   * and the minute of the UTC day as two harmonics (minute-level volatility has
   * a strong intraday profile: exchange opens, funding times, the US session).
   */
  regressors(ts: number): Float64Array | undefined {
    if (this.abs.some((a) => a === undefined)) return undefined;
    const phase = (TWO_PI * (((ts % DAY_MS) + DAY_MS) % DAY_MS)) / DAY_MS;
    const x = new Float64Array(HAR_REGRESSORS);
    x[0] = 1;
    this.abs.forEach((a, i) => {
      x[1 + i] = Math.log(Math.max(ABS_FLOOR, a ?? ABS_FLOOR));
    });
    x[4] = Math.sin(phase);
    x[5] = Math.cos(phase);
    x[6] = Math.sin(2 * phase);
    x[7] = Math.cos(2 * phase);
    return x;
  }
}

/** Width of the HAR regressor vector (intercept, three EWMAs, two daily harmonics). */
export const HAR_REGRESSORS = 8;
/** Index of the first intraday-harmonic regressor. */
export const HAR_SEASONAL_FROM = 4;
