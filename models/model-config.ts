import * as tf from '@tensorflow/tfjs';
import { ModelInputError } from './errors.ts';
import type { ModelKind } from './types.ts';

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
};

/** Narrows a layer's `apply` result to the single symbolic tensor a functional model is built from. */
export function symbolic(out: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  if (out instanceof tf.SymbolicTensor) return out;
  throw new Error('expected one symbolic tensor while building a model');
}

/** The two output heads shared by every network: next log return (standardised) and P(up). */
export function addHeads(h: tf.SymbolicTensor, seed: number): tf.SymbolicTensor[] {
  const value = tf.layers.dense({
    units: 1,
    name: 'value',
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1001 }),
  });
  const pUp = tf.layers.dense({
    units: 1,
    activation: 'sigmoid',
    name: 'pUp',
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1002 }),
  });
  return [symbolic(value.apply(h)), symbolic(pUp.apply(h))];
}

/** Adam with the configured learning rate; losses MSE (value) + binary cross-entropy (pUp). */
export function compileNetwork(model: tf.LayersModel, learningRate: number): tf.LayersModel {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: ['meanSquaredError', 'binaryCrossentropy'] });
  return model;
}

export function checkNetworkConfig(c: NetworkConfig): void {
  if (c.hiddenUnits.length === 0 || c.hiddenUnits.some((u) => !Number.isInteger(u) || u < 1)) {
    throw new ModelInputError(`hidden units must be positive integers (got ${c.hiddenUnits.join(',')})`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ModelInputError(`dropout must be in [0, 1) (got ${c.dropout})`);
  if (!(c.learningRate > 0)) throw new ModelInputError(`learning rate must be > 0 (got ${c.learningRate})`);
}
