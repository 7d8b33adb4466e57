import { ModelInputError, NonFiniteError } from './errors.ts';
import { horizonTargets, rowFinite, stepTargets } from './horizon-targets.ts';
import type { FeatureWindow, OhlcvBar } from './types.ts';

/**
 * Features of one bar, in row order:
 * - `logReturn`   ln(close / previous close)
 * - `volatility`  population std of the last `volWindow` log returns (this bar included)
 * - `volumeZ`     z-score of ln(1 + volume) against the last `volWindow` bars (0 when flat)
 * - `hlRange`     ln(high / low), the bar's own range
 * - `todSin`, `todCos`  minute of the UTC day on the unit circle (1440 minutes = 2π)
 * - `contextReturn` (only with `context`) log return of a market-context series (an index),
 *   its close forward-filled over bars where the context has no bar.
 * The `univariate` layout has `logReturn` only (one feature per bar).
 */
export const BASE_FEATURES = ['logReturn', 'volatility', 'volumeZ', 'hlRange', 'todSin', 'todCos'] as const;
export const CONTEXT_FEATURE = 'contextReturn';
export const DEFAULT_VOL_WINDOW = 30;

/**
 * `full`: every feature above, one target return over `horizon` bars.
 * `univariate`: `logReturn` only, and the value target is the next `horizon`
 * one-step log returns (a multi-step forecast, its sum the `horizon`-bar return).
 */
export type FeatureSet = 'full' | 'univariate';

/** How windows and targets are cut. Saved in the preprocessor so live inference cuts them the same way. */
export type FeatureSpec = {
  /** Bars (feature rows) per window. */
  readonly lookback: number;
  /** Bars ahead the target looks: target = ln(close[t + horizon] / close[t]). */
  readonly horizon: number;
  /** Bars of the rolling volatility and volume statistics. */
  readonly volWindow: number;
  /** Adds `contextReturn` from a second series. */
  readonly context: boolean;
  /**
   * Forecast horizons in bars (minutes for 1-minute bars), ascending, unique, >= 1,
   * e.g. [1, 5, 15, 60]: networks get a return, a P(up) and a variance head per
   * horizon. Absent or empty: no horizon heads.
   */
  readonly horizons?: readonly number[];
  /** Default `full`. */
  readonly features?: FeatureSet;
};

export function featureNames(spec: Pick<FeatureSpec, 'context' | 'features'>): string[] {
  if (spec.features === 'univariate') return [BASE_FEATURES[0]];
  return spec.context ? [...BASE_FEATURES, CONTEXT_FEATURE] : [...BASE_FEATURES];
}

/** Bars a series needs before its first complete window (univariate rows need only the previous close). */
export function warmupBars(spec: FeatureSpec): number {
  return spec.features === 'univariate' ? spec.lookback + 1 : spec.volWindow + spec.lookback;
}

/** The horizons of a spec (empty without horizon heads). */
export function specHorizons(spec: Pick<FeatureSpec, 'horizons'>): readonly number[] {
  return spec.horizons ?? [];
}

/** The farthest bar any target of a spec looks ahead: windows closer than this to the end have no complete label. */
export function targetReach(spec: Pick<FeatureSpec, 'horizon' | 'horizons'>): number {
  return Math.max(spec.horizon, ...specHorizons(spec));
}

/** Throws ModelInputError unless the spec's sizes are positive integers and its horizons ascending and unique. */
export function checkSpec(spec: FeatureSpec): void {
  for (const key of ['lookback', 'horizon', 'volWindow'] as const) {
    const v = spec[key];
    if (!Number.isInteger(v) || v < 1) throw new ModelInputError(`${key} must be an integer >= 1 (got ${String(v)})`);
  }
  const hs = specHorizons(spec);
  if (hs.some((h, i) => !Number.isInteger(h) || h < 1 || (i > 0 && h <= (hs[i - 1] ?? 0)))) {
    throw new ModelInputError(`horizons must be ascending, unique integers >= 1 (got ${hs.join(',')})`);
  }
  if (spec.features !== undefined && spec.features !== 'full' && spec.features !== 'univariate') {
    throw new ModelInputError(`features must be full or univariate (got ${String(spec.features)})`);
  }
  if (spec.features === 'univariate' && spec.context) throw new ModelInputError('univariate features take no market-context series');
}

const TWO_PI = 2 * Math.PI;
const DAY_MS = 86_400_000;

/** Fixed-size FIFO of numbers, oldest first when read. */
class Ring {
  private readonly buf: Float64Array;
  private start = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.buf = new Float64Array(capacity);
  }
  push(v: number): void {
    if (this.size < this.capacity) {
      this.buf[(this.start + this.size) % this.capacity] = v;
      this.size += 1;
    } else {
      this.buf[this.start] = v;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  clone(): Ring {
    const r = new Ring(this.capacity);
    r.buf.set(this.buf);
    r.start = this.start;
    r.size = this.size;
    return r;
  }
  /** Mean and population std, summed oldest first so every caller gets the same bits. */
  stats(): { mean: number; std: number } {
    let sum = 0;
    for (let i = 0; i < this.size; i += 1) sum += this.buf[(this.start + i) % this.capacity] ?? 0;
    const mean = sum / this.size;
    let sq = 0;
    for (let i = 0; i < this.size; i += 1) {
      const d = (this.buf[(this.start + i) % this.capacity] ?? 0) - mean;
      sq += d * d;
    }
    return { mean, std: Math.sqrt(sq / this.size) };
  }
}

function checkBar(bar: OhlcvBar, index: number): void {
  for (const field of ['ts', 'open', 'high', 'low', 'close', 'volume'] as const) {
    const v = bar[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new NonFiniteError(field, index, field === 'ts' ? undefined : bar.ts, Number(v));
  }
  if (!(bar.low > 0 && bar.close > 0 && bar.high > 0 && bar.open > 0)) {
    throw new ModelInputError(`bar ${index} (ts ${new Date(bar.ts).toISOString()}) has a price <= 0`);
  }
  if (bar.volume < 0) throw new ModelInputError(`bar ${index} (ts ${new Date(bar.ts).toISOString()}) has volume < 0`);
}

/**
 * The per-bar feature computation, the one piece of code both the batch path
 * (training, evaluation) and the live path use. Returns undefined while warming up.
 */
class FeatureStepper {
  private readonly returns: Ring;
  private readonly logVolumes: Ring;
  private prevClose: number | undefined;
  private ctxClose: number | undefined;
  private prevCtxClose: number | undefined;
  lastTs = Number.NEGATIVE_INFINITY;
  count = 0;

  constructor(
    private readonly spec: FeatureSpec,
    from?: FeatureStepper,
  ) {
    this.returns = from ? from.returns.clone() : new Ring(spec.volWindow);
    this.logVolumes = from ? from.logVolumes.clone() : new Ring(spec.volWindow);
    if (from) {
      this.prevClose = from.prevClose;
      this.ctxClose = from.ctxClose;
      this.prevCtxClose = from.prevCtxClose;
      this.lastTs = from.lastTs;
      this.count = from.count;
    }
  }

  step(bar: OhlcvBar, contextClose?: number): Float32Array | undefined {
    const index = this.count;
    checkBar(bar, index);
    if (contextClose !== undefined && !(Number.isFinite(contextClose) && contextClose > 0)) {
      throw new NonFiniteError('context close', index, bar.ts, contextClose);
    }
    if (!(bar.ts > this.lastTs)) {
      throw new ModelInputError(
        `bars must be in strictly increasing time order: bar ${index} (ts ${new Date(bar.ts).toISOString()}) is not after the previous one`,
      );
    }
    this.lastTs = bar.ts;
    this.count += 1;

    this.prevCtxClose = this.ctxClose;
    if (contextClose !== undefined) this.ctxClose = contextClose;
    const prevClose = this.prevClose;
    this.prevClose = bar.close;
    this.logVolumes.push(Math.log1p(bar.volume));
    if (prevClose === undefined) return undefined;
    const ret = Math.log(bar.close / prevClose);
    this.returns.push(ret);
    if (this.spec.features === 'univariate') return Float32Array.of(ret);
    if (this.returns.size < this.spec.volWindow) return undefined;

    const vol = this.returns.stats().std;
    const lv = this.logVolumes.stats();
    const lastLogVolume = Math.log1p(bar.volume);
    const volumeZ = lv.std > 0 ? (lastLogVolume - lv.mean) / lv.std : 0;
    const minute = Math.floor((((bar.ts % DAY_MS) + DAY_MS) % DAY_MS) / 60_000);
    const angle = (TWO_PI * minute) / 1440;
    const row = new Float32Array(this.spec.context ? 7 : 6);
    row[0] = ret;
    row[1] = vol;
    row[2] = volumeZ;
    row[3] = Math.log(bar.high / bar.low);
    row[4] = Math.sin(angle);
    row[5] = Math.cos(angle);
    if (this.spec.context) {
      // No context close seen on two bars yet: the row cannot be complete.
      if (this.ctxClose === undefined || this.prevCtxClose === undefined) return undefined;
      row[6] = Math.log(this.ctxClose / this.prevCtxClose);
    }
    return row;
  }
}

/**
 * Live path: append one bar at a time, get the latest window once `lookback`
 * feature rows exist (undefined while warming up). Identical numbers to
 * `buildWindows` over the same bars.
 */
export class FeatureBuilder {
  private readonly stepper: FeatureStepper;
  private rows: Float32Array[] = [];
  readonly featureNames: string[];

  constructor(
    readonly spec: FeatureSpec,
    from?: FeatureBuilder,
  ) {
    checkSpec(spec);
    this.stepper = new FeatureStepper(spec, from?.stepper);
    this.featureNames = featureNames(spec);
    if (from) this.rows = [...from.rows];
  }

  /** An independent copy: pushing to it leaves this builder as it is (rows are never mutated, so they are shared). */
  clone(): FeatureBuilder {
    return new FeatureBuilder(this.spec, this);
  }

  /** Open time of the last bar appended (-Infinity before the first). */
  get lastTs(): number {
    return this.stepper.lastTs;
  }

  /**
   * Appends a bar (strictly later than the previous one) and, with `context`,
   * the context series' close for the same minute (omit it to forward-fill).
   */
  push(bar: OhlcvBar, contextClose?: number): FeatureWindow | undefined {
    const row = this.stepper.step(bar, contextClose);
    if (row === undefined) return undefined;
    this.rows.push(row);
    if (this.rows.length > this.spec.lookback) this.rows = this.rows.slice(-this.spec.lookback);
    if (this.rows.length < this.spec.lookback) return undefined;
    return { ts: bar.ts, rows: [...this.rows] };
  }

  /** Appends a bar and throws when no window is ready yet. */
  pushOrThrow(bar: OhlcvBar, contextClose?: number): FeatureWindow {
    const w = this.push(bar, contextClose);
    if (w === undefined) throw new ModelInputError(`feature builder still warming up (${this.stepper.count} of ${warmupBars(this.spec)} bars)`);
    return w;
  }
}

/**
 * Every window of a series, flattened: window i is `x[i*lookback*F .. (i+1)*lookback*F)`,
 * its rows oldest first. Windows are in time order; the first `labelled` of them
 * are usable for training: every target they have is realised (`target`, and with
 * `horizons` the return and variance of every horizon, so the longest horizon
 * decides; the last `targetReach(spec)` windows have no complete label yet).
 */
export type WindowSet = {
  readonly spec: FeatureSpec;
  readonly featureNames: string[];
  readonly count: number;
  readonly labelled: number;
  readonly x: Float32Array;
  /** Open time of each window's last bar. */
  readonly ts: Float64Array;
  /** Index in the input bars of each window's last bar. */
  readonly end: Int32Array;
  /** Close of each window's last bar (the price the forecast starts from). */
  readonly close: Float64Array;
  /** ln(close[end + horizon] / close[end]); NaN when that bar is not in the series. */
  readonly target: Float64Array;
  /** With `spec.horizons` (H of them): ln(close[end + h] / close[end]), row-major [count × H]; NaN when not realised. */
  readonly horizonReturn?: Float64Array;
  /** With `spec.horizons`: realised variance Σ_{k=1..h} ln(close[end+k] / close[end+k-1])², same layout. */
  readonly horizonVariance?: Float64Array;
  /** With univariate features: the next `horizon` one-step log returns, row-major [count × horizon]. */
  readonly stepReturn?: Float64Array;
};

/** Whether window `i` of a set has every target realised (see `WindowSet.labelled`). */
export function isLabelled(set: Omit<WindowSet, 'labelled' | 'count'>, i: number): boolean {
  if (!Number.isFinite(set.target[i] ?? Number.NaN)) return false;
  const hs = specHorizons(set.spec).length;
  if (hs > 0 && set.horizonReturn && !rowFinite(set.horizonReturn, i, hs)) return false;
  if (hs > 0 && set.horizonVariance && !rowFinite(set.horizonVariance, i, hs)) return false;
  if (set.stepReturn && !rowFinite(set.stepReturn, i, set.spec.horizon)) return false;
  return true;
}

/**
 * Batch path: all windows of a bar series (time-ordered, strictly increasing ts).
 * `context` is the market-context series, aligned by `ts` (required iff `spec.context`).
 */
export function buildWindows(bars: readonly OhlcvBar[], spec: FeatureSpec, context?: readonly OhlcvBar[]): WindowSet {
  checkSpec(spec);
  if (spec.context && context === undefined) throw new ModelInputError('this feature spec needs a context series (--context-csv)');
  const ctx = new Map<number, number>();
  if (spec.context && context) for (const b of context) ctx.set(b.ts, b.close);
  const names = featureNames(spec);
  const f = names.length;
  const { lookback, horizon } = spec;
  const stepper = new FeatureStepper(spec);
  const rows: (Float32Array | undefined)[] = bars.map((bar) => stepper.step(bar, spec.context ? ctx.get(bar.ts) : undefined));

  const ends: number[] = [];
  let run = 0;
  rows.forEach((row, i) => {
    run = row === undefined ? 0 : run + 1;
    if (run >= lookback) ends.push(i);
  });
  const count = ends.length;
  const x = new Float32Array(count * lookback * f);
  const ts = new Float64Array(count);
  const end = new Int32Array(count);
  const close = new Float64Array(count);
  const target = new Float64Array(count);
  const reach = targetReach(spec);
  let labelled = 0;
  ends.forEach((e, i) => {
    for (let k = 0; k < lookback; k += 1) {
      const row = rows[e - lookback + 1 + k];
      if (row) x.set(row, (i * lookback + k) * f);
    }
    const bar = bars[e];
    const future = bars[e + horizon];
    ts[i] = bar?.ts ?? Number.NaN;
    end[i] = e;
    close[i] = bar?.close ?? Number.NaN;
    target[i] = bar && future ? Math.log(future.close / bar.close) : Number.NaN;
    if (bars[e + reach]) labelled += 1;
  });
  const hs = specHorizons(spec);
  const multi = hs.length > 0 ? horizonTargets(bars, ends, hs) : undefined;
  return {
    spec,
    featureNames: names,
    count,
    labelled,
    x,
    ts,
    end,
    close,
    target,
    ...(multi ? { horizonReturn: multi.ret, horizonVariance: multi.rv } : {}),
    ...(spec.features === 'univariate' ? { stepReturn: stepTargets(bars, ends, spec.horizon) } : {}),
  };
}

/** Window `i` of a set as a FeatureWindow (rows are views into `set.x`, not copies). */
export function windowAt(set: WindowSet, i: number): FeatureWindow {
  const f = set.featureNames.length;
  const { lookback } = set.spec;
  const rows: Float32Array[] = [];
  for (let k = 0; k < lookback; k += 1) {
    const at = (i * lookback + k) * f;
    rows.push(set.x.subarray(at, at + f));
  }
  return { ts: set.ts[i] ?? Number.NaN, rows };
}

/** The windows `from <= i < to` of a set, as a new set (copies). */
export function sliceWindows(set: WindowSet, from: number, to: number): WindowSet {
  const per = set.spec.lookback * set.featureNames.length;
  const hs = specHorizons(set.spec).length;
  const rows = (m: Float64Array, width: number) => m.slice(from * width, to * width);
  const sliced = {
    spec: set.spec,
    featureNames: set.featureNames,
    x: set.x.slice(from * per, to * per),
    ts: set.ts.slice(from, to),
    end: set.end.slice(from, to),
    close: set.close.slice(from, to),
    target: set.target.slice(from, to),
    ...(set.horizonReturn ? { horizonReturn: rows(set.horizonReturn, hs) } : {}),
    ...(set.horizonVariance ? { horizonVariance: rows(set.horizonVariance, hs) } : {}),
    ...(set.stepReturn ? { stepReturn: rows(set.stepReturn, set.spec.horizon) } : {}),
  };
  const count = Math.max(0, to - from);
  let labelled = 0;
  for (let i = 0; i < count; i += 1) if (isLabelled(sliced, i)) labelled += 1;
  return { ...sliced, count, labelled };
}
