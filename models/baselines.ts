import { errorFunction } from 'simple-statistics';
import { BASE_FEATURES } from './features.ts';
import type { BaselineKind, FeatureWindow, Forecast, Predictor } from './types.ts';

const RETURN = BASE_FEATURES.indexOf('logReturn');
const VOLATILITY = BASE_FEATURES.indexOf('volatility');

/** Standard normal CDF, from simple-statistics' erf (absolute error below 1.2e-7). */
export function normalCdf(z: number): number {
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}

/**
 * Naive forecasts, the bar every model must clear:
 * - `naive-zero`  the next log return is 0 (random walk), pUp 0.5
 * - `naive-last`  the last return repeats: horizon · r[t]
 * - `naive-ewma`  horizon · the exponentially weighted mean of the window's returns (α = 2 / (lookback + 1))
 * pUp of the last two is P(N(value, σ²·horizon) > 0), σ = the window's rolling volatility feature.
 */
export class NaiveBaseline implements Predictor {
  readonly alpha: number;

  constructor(
    readonly kind: BaselineKind,
    readonly lookback: number,
    readonly horizon = 1,
  ) {
    this.alpha = 2 / (lookback + 1);
  }

  predict(window: FeatureWindow): Forecast | undefined {
    const rows = window.rows;
    if (rows.length < this.lookback) return undefined;
    if (this.kind === 'naive-zero') return { value: 0, pUp: 0.5 };
    const last = rows[rows.length - 1];
    let mean: number;
    if (this.kind === 'naive-last') {
      mean = last?.[RETURN] ?? 0;
    } else {
      mean = rows[rows.length - this.lookback]?.[RETURN] ?? 0;
      for (let k = rows.length - this.lookback + 1; k < rows.length; k += 1) {
        mean = this.alpha * (rows[k]?.[RETURN] ?? 0) + (1 - this.alpha) * mean;
      }
    }
    const value = this.horizon * mean;
    const sigma = (last?.[VOLATILITY] ?? 0) * Math.sqrt(this.horizon);
    const pUp = sigma > 0 ? normalCdf(value / sigma) : value > 0 ? 1 : value < 0 ? 0 : 0.5;
    return { value, pUp };
  }

  predictBatch(windows: readonly FeatureWindow[]): (Forecast | undefined)[] {
    return windows.map((w) => this.predict(w));
  }

  dispose(): void {}
}

export const BASELINE_KINDS: readonly BaselineKind[] = ['naive-zero', 'naive-last', 'naive-ewma'];

/** One of each naive baseline for windows of `lookback` bars. */
export function createBaselines(lookback: number, horizon = 1): NaiveBaseline[] {
  return BASELINE_KINDS.map((k) => new NaiveBaseline(k, lookback, horizon));
}
