import type * as tf from '@tensorflow/tfjs';
import { buildLstm } from './lstm.ts';
import { buildMlp } from './mlp.ts';
import type { NetworkConfig } from './model-config.ts';

/** Builds and compiles the network named by `config.kind`. */
export function buildNetwork(config: NetworkConfig): tf.LayersModel {
  return config.kind === 'lstm' ? buildLstm(config) : buildMlp(config);
}
