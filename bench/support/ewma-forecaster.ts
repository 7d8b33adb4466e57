import { normalCdf } from '../../models/index.ts';

/**
 * The baseline forecaster: an exponentially weighted moving average of 1-minute
 * log returns, and of their variance. Its forecast of the next log return is the
 * EWMA; `pUp` is the normal probability that the return is positive; confidence is
 * honest — it grows with evidence but is scaled by how far pUp is from a coin flip,
 * which for a random-walk-like series stays small.
 */
export class EwmaForecaster {
  private mean = 0;
  private variance = 0;
  private lastClose: number | undefined;
  private count = 0;

  constructor(
    readonly alpha = 0.1,
    /** Returns needed before a forecast is made. */
    readonly warmup = 5,
  ) {}

  clone(): EwmaForecaster {
    const c = new EwmaForecaster(this.alpha, this.warmup);
    c.mean = this.mean;
    c.variance = this.variance;
    c.lastClose = this.lastClose;
    c.count = this.count;
    return c;
  }

  get observations(): number {
    return this.count;
  }

  update(close: number): void {
    if (this.lastClose !== undefined) {
      const r = Math.log(close / this.lastClose);
      const diff = r - this.mean;
      this.mean += this.alpha * diff;
      this.variance = (1 - this.alpha) * (this.variance + this.alpha * diff * diff);
      this.count += 1;
    }
    this.lastClose = close;
  }

  /** `undefined` while warming up. */
  forecast(): { value: number; pUp: number; confidence: number } | undefined {
    if (this.count < this.warmup) return undefined;
    const sd = Math.sqrt(this.variance);
    const pUp = sd > 0 ? normalCdf(this.mean / sd) : 0.5;
    const evidence = 1 - Math.exp(-this.count / 30);
    return { value: this.mean, pUp, confidence: evidence * Math.abs(2 * pUp - 1) };
  }
}
