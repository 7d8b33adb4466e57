import * as tf from '@tensorflow/tfjs';
import { addHeads, checkNetworkConfig, compileNetwork, symbolic, type NetworkConfig } from './model-config.ts';
import { orthogonalMatrix } from './orthogonal.ts';
import { SeededDropout } from './seeded-dropout.ts';

/**
 * A stacked LSTM over a window [lookback, features]: one LSTM layer per entry of
 * `hiddenUnits` (all but the last return sequences), seeded dropout after each,
 * then the heads of `addHeads` (`value` and `pUp`, plus the horizon heads when
 * configured). Compiled, ready to train.
 */
export function buildLstm(config: NetworkConfig): tf.LayersModel {
  checkNetworkConfig(config);
  const { seed } = config;
  const input = tf.input({ shape: [config.lookback, config.featureCount], name: 'features' });
  let h = input;
  config.hiddenUnits.forEach((units, i) => {
    const lstm = tf.layers.lstm({
      units,
      returnSequences: i < config.hiddenUnits.length - 1,
      // Keras 2's default; tfjs defaults to hard_sigmoid, which costs three kernels per gate instead of one.
      recurrentActivation: 'sigmoid',
      name: `lstm_${i}`,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 10 * i }),
      // Replaced by a seeded orthogonal matrix below (see orthogonal.ts).
      recurrentInitializer: tf.initializers.zeros(),
    });
    h = symbolic(lstm.apply(h));
    const [kernel, recurrent, bias] = lstm.getWeights();
    if (kernel && recurrent && bias) {
      const [rows = units, cols = 4 * units] = recurrent.shape;
      const orthogonal = tf.tensor2d(orthogonalMatrix(rows, cols, seed + 10 * i + 1), [rows, cols]);
      lstm.setWeights([kernel, orthogonal, bias]);
      orthogonal.dispose();
    }
    if (config.dropout > 0) h = symbolic(new SeededDropout({ rate: config.dropout, seed: seed + 10 * i + 2, name: `dropout_${i}` }).apply(h));
  });
  return compileNetwork(tf.model({ inputs: input, outputs: addHeads(h, seed, config), name: 'lstm' }), config.learningRate, config.horizonHeads);
}
