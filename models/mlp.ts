import * as tf from '@tensorflow/tfjs';
import { addHeads, checkNetworkConfig, compileNetwork, symbolic, type NetworkConfig } from './model-config.ts';
import { SeededDropout } from './seeded-dropout.ts';

/**
 * A multilayer perceptron over the flattened window: one ReLU dense layer per
 * entry of `hiddenUnits`, seeded dropout after each, then the heads of `addHeads`.
 * Same input shape as the LSTM, so both are interchangeable.
 */
export function buildMlp(config: NetworkConfig): tf.LayersModel {
  checkNetworkConfig(config);
  const { seed } = config;
  const input = tf.input({ shape: [config.lookback, config.featureCount], name: 'features' });
  let h = symbolic(tf.layers.flatten({ name: 'flatten' }).apply(input));
  config.hiddenUnits.forEach((units, i) => {
    const dense = tf.layers.dense({
      units,
      activation: 'relu',
      name: `dense_${i}`,
      kernelInitializer: tf.initializers.heNormal({ seed: seed + 10 * i }),
    });
    h = symbolic(dense.apply(h));
    if (config.dropout > 0) h = symbolic(new SeededDropout({ rate: config.dropout, seed: seed + 10 * i + 2, name: `dropout_${i}` }).apply(h));
  });
  return compileNetwork(tf.model({ inputs: input, outputs: addHeads(h, seed, config), name: 'mlp' }), config.learningRate, config.horizonHeads);
}
