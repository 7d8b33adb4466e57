import type { OhlcvBar } from '../../models/index.ts';

/**
 * Market regime: the state of a symbol's recent bars that decides which
 * pretrained model serves it on cold start. Defined from three scale-free
 * features of the last `window` bars (so BTC and a $20 stock are judged alike):
 *
 * - `trendZ`   Σ log returns / (σ · √n): the drift of the window as a z-score
 *              (σ = std of the window's returns). |trendZ| ≥ `trendZ` threshold
 *              (default 2.5) → `trending_up` / `trending_down`.
 * - `volRatio` σ of the window / long-run σ (an EWMA of squared returns with a
 *              half-life of `longHalfLife` bars, default 720). ≥ `volatileRatio`
 *              (default 1.5) → `volatile`.
 * - `volumeRatio` mean volume of the window / long-run mean volume (same EWMA).
 *              A volume surge (≥ `volumeSurge`, default 2.5) with σ already
 *              ≥ `volatileWithVolume` (default 1.2) × long-run → `volatile`.
 * - otherwise `calm`.
 *
 * Trend wins over volatility (a strong one-directional move is usually also a
 * volatile one, and its drift is what the model should know about).
 */
export const REGIME_NAMES = ['calm', 'volatile', 'trending_up', 'trending_down'] as const;
export type RegimeName = (typeof REGIME_NAMES)[number];
/** Label of a model that serves every regime (fallback when a regime has no model). */
export const ANY_REGIME = 'any';

export type RegimeThresholds = {
  /** Bars of the short window the regime is judged on. */
  readonly window: number;
  /** Half-life in bars of the long-run volatility and volume references. */
  readonly longHalfLife: number;
  readonly trendZ: number;
  readonly volatileRatio: number;
  readonly volatileWithVolume: number;
  readonly volumeSurge: number;
};

export const DEFAULT_REGIME_THRESHOLDS: RegimeThresholds = {
  window: 60,
  longHalfLife: 720,
  trendZ: 2.5,
  volatileRatio: 1.5,
  volatileWithVolume: 1.2,
  volumeSurge: 2.5,
};

export type RegimeFeatures = { trendZ: number; volRatio: number; volumeRatio: number };

/** The regime of a set of features (pure; the thresholds above). */
export function classifyRegime(f: RegimeFeatures, t: RegimeThresholds = DEFAULT_REGIME_THRESHOLDS): RegimeName {
  if (f.trendZ >= t.trendZ) return 'trending_up';
  if (f.trendZ <= -t.trendZ) return 'trending_down';
  if (f.volRatio >= t.volatileRatio) return 'volatile';
  if (f.volRatio >= t.volatileWithVolume && f.volumeRatio >= t.volumeSurge) return 'volatile';
  return 'calm';
}

/**
 * Streaming regime features of one symbol, one bar at a time (O(window) memory).
 * `push` returns undefined until `window` returns exist ("not ready" is a value).
 */
export class RegimeFeaturesStream {
  private readonly returns: number[] = [];
  private readonly volumes: number[] = [];
  private prevClose: number | undefined;
  private longVar: number | undefined;
  private longVolume: number | undefined;
  private readonly alpha: number;

  constructor(readonly thresholds: RegimeThresholds = DEFAULT_REGIME_THRESHOLDS) {
    this.alpha = 1 - 0.5 ** (1 / thresholds.longHalfLife);
  }

  /** An independent copy of the stream's state. */
  clone(): RegimeFeaturesStream {
    const c = new RegimeFeaturesStream(this.thresholds);
    c.returns.push(...this.returns);
    c.volumes.push(...this.volumes);
    c.prevClose = this.prevClose;
    c.longVar = this.longVar;
    c.longVolume = this.longVolume;
    return c;
  }

  push(bar: Pick<OhlcvBar, 'close' | 'volume'>): RegimeFeatures | undefined {
    const prev = this.prevClose;
    this.prevClose = bar.close;
    if (prev === undefined) return undefined;
    const r = Math.log(bar.close / prev);
    this.returns.push(r);
    this.volumes.push(bar.volume);
    const n = this.thresholds.window;
    if (this.returns.length > n) {
      this.returns.shift();
      this.volumes.shift();
    }
    this.longVar = this.longVar === undefined ? r * r : this.longVar + this.alpha * (r * r - this.longVar);
    this.longVolume = this.longVolume === undefined ? bar.volume : this.longVolume + this.alpha * (bar.volume - this.longVolume);
    if (this.returns.length < n) return undefined;
    return windowFeatures(this.returns, this.volumes, this.longVar, this.longVolume);
  }
}

function windowFeatures(returns: readonly number[], volumes: readonly number[], longVar: number, longVolume: number): RegimeFeatures {
  const n = returns.length;
  let sum = 0;
  for (const r of returns) sum += r;
  const mean = sum / n;
  let sq = 0;
  for (const r of returns) sq += (r - mean) ** 2;
  const sigma = Math.sqrt(sq / n);
  let vol = 0;
  for (const v of volumes) vol += v;
  const longSigma = Math.sqrt(longVar);
  return {
    trendZ: sigma > 0 ? sum / (sigma * Math.sqrt(n)) : 0,
    volRatio: longSigma > 0 ? sigma / longSigma : 1,
    volumeRatio: longVolume > 0 ? vol / n / longVolume : 1,
  };
}

/**
 * The regime label of every bar of a series (undefined while warming up), as
 * `RegimeFeaturesStream` + `classifyRegime` would give live: used to label
 * training windows, so pretraining and serving agree on what a regime is.
 */
export function labelRegimes(bars: readonly Pick<OhlcvBar, 'close' | 'volume'>[], t: RegimeThresholds = DEFAULT_REGIME_THRESHOLDS): (RegimeName | undefined)[] {
  const s = new RegimeFeaturesStream(t);
  return bars.map((b) => {
    const f = s.push(b);
    return f ? classifyRegime(f, t) : undefined;
  });
}

/**
 * Hysteresis on top of the raw per-bar regime: the tracked regime switches only
 * after a different raw regime has been seen on `persistBars` consecutive bars,
 * so one noisy bar does not swap models back and forth.
 */
export class RegimeTracker {
  private current: RegimeName | undefined;
  private candidate: RegimeName | undefined;
  private streak = 0;
  /** Number of switches so far (after the first assignment). */
  switches = 0;

  constructor(readonly persistBars = 5) {}

  get regime(): RegimeName | undefined {
    return this.current;
  }

  /** An independent copy of the tracker's state. */
  clone(): RegimeTracker {
    const c = new RegimeTracker(this.persistBars);
    c.current = this.current;
    c.candidate = this.candidate;
    c.streak = this.streak;
    c.switches = this.switches;
    return c;
  }

  /** Feeds the raw regime of the latest bar; returns the tracked regime. */
  update(raw: RegimeName): RegimeName {
    if (this.current === undefined) {
      this.current = raw;
      return raw;
    }
    if (raw === this.current) {
      this.candidate = undefined;
      this.streak = 0;
      return this.current;
    }
    if (raw === this.candidate) this.streak += 1;
    else {
      this.candidate = raw;
      this.streak = 1;
    }
    if (this.streak >= this.persistBars) {
      this.current = raw;
      this.candidate = undefined;
      this.streak = 0;
      this.switches += 1;
    }
    return this.current;
  }
}
