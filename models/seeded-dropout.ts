import * as tf from '@tensorflow/tfjs';

type SeededDropoutArgs = { rate: number; seed: number; name?: string };

/**
 * Dropout whose masks come from a seeded sequence: the n-th training call uses
 * seed `<seed>:<n>`. The built-in layer either draws from Math.random (no seed)
 * or repeats one mask forever (fixed seed); this gives fresh masks per batch and
 * the same masks on every run with the same seed. Identity at inference.
 */
export class SeededDropout extends tf.layers.Layer {
  static readonly className = 'SeededDropout';
  readonly rate: number;
  readonly seed: number;
  private calls = 0;

  constructor(args: SeededDropoutArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.rate = args.rate;
    this.seed = args.seed;
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x === undefined) throw new Error('SeededDropout called without an input');
    if (kwargs.training !== true || this.rate <= 0) return x;
    const seed = `${this.seed}:${this.calls}`;
    this.calls += 1;
    return tf.tidy(() => tf.dropout(x, this.rate, undefined, seed));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}

tf.serialization.registerClass(SeededDropout);
