import * as tf from '@tensorflow/tfjs';
import { NonFiniteError, ShapeMismatchError } from './errors.ts';
import { windowAt, type WindowSet } from './features.ts';
import { horizonKey } from './horizon-targets.ts';
import { horizonScales, normaliseRows, outputUnits, type HorizonScales, type Preprocessor } from './preprocessor.ts';
import type { FeatureWindow, Forecast, HorizonLabel, HorizonTargets, ModelKind, Predictor } from './types.ts';
import { varianceFromLogVar } from './variance-loss.ts';

/**
 * A trained LSTM or MLP behind the `Predictor` interface: normalises raw feature
 * windows with its preprocessor, runs one tensor call per batch, and maps the
 * standardised `value` head back to a log return (with univariate features, the
 * sum of the forecast one-step returns). A model with horizon heads also fills
 * `Forecast.horizons`, from the same tensor call: each horizon's return, P(up)
 * and sigma = sqrt(s_h · exp(z_h)).
 */
export class NeuralPredictor implements Predictor {
  readonly kind: ModelKind;
  readonly lookback: number;
  readonly featureCount: number;
  readonly version?: string;
  private readonly scales: HorizonScales | undefined;
  private readonly labels: readonly HorizonLabel[];

  constructor(
    readonly model: tf.LayersModel,
    readonly preprocessor: Preprocessor,
    version?: string,
  ) {
    this.kind = preprocessor.kind;
    this.lookback = preprocessor.lookback;
    this.featureCount = preprocessor.featureNames.length;
    if (version !== undefined) this.version = version;
    this.scales = horizonScales(preprocessor);
    this.labels = (this.scales?.horizons ?? []).map(horizonKey);
    const shape = model.inputs[0]?.shape ?? [];
    if (shape[1] !== this.lookback) throw new ShapeMismatchError('lookback (model input vs preprocessor)', this.lookback, shape[1]);
    if (shape[2] !== this.featureCount) throw new ShapeMismatchError('feature count (model input vs preprocessor)', this.featureCount, shape[2]);
    const units = model.outputs.map((o) => o.shape[1]);
    const expected = outputUnits(preprocessor);
    if (units.join(',') !== expected.join(',')) throw new ShapeMismatchError('output heads (model vs preprocessor)', expected, units);
  }

  predict(window: FeatureWindow): Forecast | undefined {
    return this.predictBatch([window])[0];
  }

  predictBatch(windows: readonly FeatureWindow[]): (Forecast | undefined)[] {
    const ready: number[] = [];
    windows.forEach((w, i) => {
      if (w.rows.length >= this.lookback) ready.push(i);
    });
    const out: (Forecast | undefined)[] = windows.map(() => undefined);
    if (ready.length === 0) return out;
    const { lookback, featureCount: f } = this;
    const flat = new Float32Array(ready.length * lookback * f);
    ready.forEach((wi, n) => {
      const rows = windows[wi]?.rows ?? [];
      const skip = rows.length - lookback;
      for (let k = 0; k < lookback; k += 1) {
        const row = rows[skip + k];
        if (row === undefined || row.length !== f) throw new ShapeMismatchError('feature row width', f, row?.length);
        flat.set(row, (n * lookback + k) * f);
      }
    });
    const forecasts = this.run(flat, ready.length);
    ready.forEach((wi, n) => {
      out[wi] = forecasts[n];
    });
    return out;
  }

  /** Forecasts for every window of a set, in chunks of `batchSize` windows per tensor call. */
  predictSet(set: WindowSet, batchSize = 2048): Forecast[] {
    if (set.spec.lookback !== this.lookback) throw new ShapeMismatchError('lookback (data vs model)', this.lookback, set.spec.lookback);
    if (set.featureNames.length !== this.featureCount) {
      throw new ShapeMismatchError('features (data vs model)', this.preprocessor.featureNames, set.featureNames);
    }
    const per = this.lookback * this.featureCount;
    const out: Forecast[] = [];
    for (let from = 0; from < set.count; from += batchSize) {
      const n = Math.min(batchSize, set.count - from);
      out.push(...this.run(set.x.subarray(from * per, (from + n) * per), n));
    }
    return out;
  }

  /** Convenience for one window of a set. */
  predictAt(set: WindowSet, i: number): Forecast | undefined {
    return this.predict(windowAt(set, i));
  }

  dispose(): void {
    this.model.dispose();
  }

  private run(raw: Float32Array, n: number): Forecast[] {
    for (let i = 0; i < raw.length; i += 1) {
      const v = raw[i] ?? Number.NaN;
      if (!Number.isFinite(v)) {
        const per = this.lookback * this.featureCount;
        throw new NonFiniteError(`feature ${this.preprocessor.featureNames[i % this.featureCount] ?? '?'}`, Math.floor(i / per), undefined, v);
      }
    }
    const x = normaliseRows(this.preprocessor, raw);
    const heads = tf.tidy(() => {
      // One batch: `predictOnBatch` skips `predict`'s slicing into batches and re-concatenation.
      const outputs = this.model.predictOnBatch(tf.tensor3d(x, [n, this.lookback, this.featureCount]));
      const list = Array.isArray(outputs) ? outputs : [outputs];
      // Copies: backend memory may be reused once the tensors are disposed.
      return list.map((t) => Float32Array.from(t.dataSync()));
    });
    const [value = new Float32Array(0), pUp = new Float32Array(0)] = heads;
    const { targetMean, targetStd } = this.preprocessor;
    const out: Forecast[] = [];
    const units = value.length / Math.max(1, n);
    for (let i = 0; i < n; i += 1) {
      let v: number;
      if (units === 1) {
        v = (value[i] ?? 0) * targetStd + targetMean;
      } else {
        // Univariate multi-step head: the horizon's return is the sum of its one-step returns.
        v = 0;
        for (let k = 0; k < units; k += 1) v += (value[i * units + k] ?? 0) * targetStd + targetMean;
      }
      const horizons = this.scales ? this.horizonsOf(heads, i) : undefined;
      out.push(horizons ? { value: v, pUp: pUp[i] ?? 0.5, horizons } : { value: v, pUp: pUp[i] ?? 0.5 });
    }
    return out;
  }

  private horizonsOf(heads: readonly Float32Array[], i: number): Partial<Record<HorizonLabel, HorizonTargets>> {
    const s = this.scales;
    const [, , value, up, logVar] = heads;
    const out: Partial<Record<HorizonLabel, HorizonTargets>> = {};
    if (!s || !value || !up || !logVar) return out;
    const hs = s.horizons.length;
    this.labels.forEach((label, j) => {
      const at = i * hs + j;
      out[label] = {
        value: (value[at] ?? 0) * (s.std[j] ?? 1) + (s.mean[j] ?? 0),
        pUp: up[at] ?? 0.5,
        sigma: Math.sqrt(varianceFromLogVar(logVar[at] ?? 0, s.varianceScale[j] ?? 1)),
      };
    });
    return out;
  }
}
