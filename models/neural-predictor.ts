import * as tf from '@tensorflow/tfjs';
import { NonFiniteError, ShapeMismatchError } from './errors.ts';
import { windowAt, type WindowSet } from './features.ts';
import { normaliseRows, type Preprocessor } from './preprocessor.ts';
import type { FeatureWindow, Forecast, ModelKind, Predictor } from './types.ts';

/**
 * A trained LSTM or MLP behind the `Predictor` interface: normalises raw feature
 * windows with its preprocessor, runs one tensor call per batch, and maps the
 * standardised `value` head back to a log return.
 */
export class NeuralPredictor implements Predictor {
  readonly kind: ModelKind;
  readonly lookback: number;
  readonly featureCount: number;
  readonly version?: string;

  constructor(
    readonly model: tf.LayersModel,
    readonly preprocessor: Preprocessor,
    version?: string,
  ) {
    this.kind = preprocessor.kind;
    this.lookback = preprocessor.lookback;
    this.featureCount = preprocessor.featureNames.length;
    if (version !== undefined) this.version = version;
    const shape = model.inputs[0]?.shape ?? [];
    if (shape[1] !== this.lookback) throw new ShapeMismatchError('lookback (model input vs preprocessor)', this.lookback, shape[1]);
    if (shape[2] !== this.featureCount) throw new ShapeMismatchError('feature count (model input vs preprocessor)', this.featureCount, shape[2]);
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
    const [value, pUp] = tf.tidy(() => {
      // One batch: `predictOnBatch` skips `predict`'s slicing into batches and re-concatenation.
      const outputs = this.model.predictOnBatch(tf.tensor3d(x, [n, this.lookback, this.featureCount]));
      const list = Array.isArray(outputs) ? outputs : [outputs];
      // Copies: backend memory may be reused once the tensors are disposed.
      return [Float32Array.from(list[0]?.dataSync() ?? []), Float32Array.from(list[1]?.dataSync() ?? [])];
    });
    const { targetMean, targetStd } = this.preprocessor;
    const out: Forecast[] = [];
    for (let i = 0; i < n; i += 1) {
      out.push({ value: (value[i] ?? 0) * targetStd + targetMean, pUp: pUp[i] ?? 0.5 });
    }
    return out;
  }
}
