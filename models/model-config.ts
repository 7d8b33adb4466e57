import * as tf from '@tensorflow/tfjs';
import { ModelInputError } from './errors.ts';
import type { ModelKind } from './types.ts';
import { varianceHeadLoss } from './variance-loss.ts';

/** Architecture and optimiser settings of a neural model. */
export type NetworkConfig = {
  readonly kind: ModelKind;
  readonly lookback: number;
  readonly featureCount: number;
  /** Units per hidden layer, first to last (e.g. [128, 64]). */
  readonly hiddenUnits: readonly number[];
  /** Dropout rate after each hidden layer, 0 to disable. */
  readonly dropout: number;
  readonly learningRate: number;
  /** Seeds every initializer and dropout mask (layer i uses seed + 10·i + k). */
  readonly seed: number;
  /** Units of the `value` head (default 1; univariate multi-step models have one per future step). */
  readonly valueUnits?: number;
  /** Horizons H of the multi-horizon heads `hValue`, `hUp`, `hLogVar` (default 0: none). */
  readonly horizonHeads?: number;
};

/** The output layers, in output order: the 1-step heads, then (with horizons) the multi-horizon heads. */
export const HEAD_NAMES = ['value', 'pUp', 'hValue', 'hUp', 'hLogVar'] as const;

/** Narrows a layer's `apply` result to the single symbolic tensor a functional model is built from. */
export function symbolic(out: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  if (out instanceof tf.SymbolicTensor) return out;
  throw new Error('expected one symbolic tensor while building a model');
}

/**
 * The output heads: `value` (the standardised next log return, or with univariate
 * features the next `valueUnits` one-step returns) and `pUp` on every network;
 * with `horizonHeads` H > 0 also `hValue` (H linear units, each horizon's
 * standardised return), `hUp` (H sigmoid units, P(return > 0)) and `hLogVar`
 * (H linear units, log of the variance forecast over the horizon's scale, see variance-loss.ts).
 */
export function addHeads(h: tf.SymbolicTensor, seed: number, heads: Pick<NetworkConfig, 'valueUnits' | 'horizonHeads'> = {}): tf.SymbolicTensor[] {
  const dense = (name: string, units: number, offset: number, activation?: 'sigmoid') =>
    symbolic(
      tf.layers
        .dense({ units, name, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + offset }), ...(activation ? { activation } : {}) })
        .apply(h),
    );
  const outputs = [dense('value', heads.valueUnits ?? 1, 1001), dense('pUp', 1, 1002, 'sigmoid')];
  const hs = heads.horizonHeads ?? 0;
  // A zero bias starts hLogVar at z = 0, i.e. the train split's mean variance: the constant forecast to beat.
  if (hs > 0) outputs.push(dense('hValue', hs, 1003), dense('hUp', hs, 1004, 'sigmoid'), dense('hLogVar', hs, 1005));
  return outputs;
}

/**
 * The loss of each head, in output order: MSE (value), binary cross-entropy (pUp),
 * and with horizon heads MSE (hValue), cross-entropy (hUp), QLIKE (hLogVar),
 * weighted equally: each is on a unit scale (standardised returns, probabilities,
 * variance ratios around 1).
 */
export function networkLosses(horizonHeads = 0): string[] | ((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor)[] {
  if (horizonHeads === 0) return ['meanSquaredError', 'binaryCrossentropy'];
  // Functions throughout (tfjs does not type a mixed list); these are the functions the names resolve to.
  const mse = (t: tf.Tensor, p: tf.Tensor) => tf.metrics.meanSquaredError(t, p);
  const bce = (t: tf.Tensor, p: tf.Tensor) => tf.metrics.binaryCrossentropy(t, p);
  return [mse, bce, mse, bce, varianceHeadLoss];
}

/** Adam with the configured learning rate and the losses of `networkLosses`. */
export function compileNetwork(model: tf.LayersModel, learningRate: number, horizonHeads = 0): tf.LayersModel {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: networkLosses(horizonHeads) });
  return model;
}

export function checkNetworkConfig(c: NetworkConfig): void {
  if (c.hiddenUnits.length === 0 || c.hiddenUnits.some((u) => !Number.isInteger(u) || u < 1)) {
    throw new ModelInputError(`hidden units must be positive integers (got ${c.hiddenUnits.join(',')})`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ModelInputError(`dropout must be in [0, 1) (got ${c.dropout})`);
  if (!(c.learningRate > 0)) throw new ModelInputError(`learning rate must be > 0 (got ${c.learningRate})`);
  for (const key of ['valueUnits', 'horizonHeads'] as const) {
    const v = c[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= (key === 'valueUnits' ? 1 : 0))) throw new ModelInputError(`${key} must be a whole number (got ${v})`);
  }
}
