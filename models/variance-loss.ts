import * as tf from '@tensorflow/tfjs';

/**
 * The variance head's output z_h is a log variance relative to the scale s_h:
 * σ²_h = s_h · exp(z_h). Its training target is the scaled realised variance
 * rv_h / s_h, and its loss the Gaussian negative log-likelihood of the return
 * in its variance form, QLIKE up to constants:
 *
 *   L(rv, z) = rv / s · exp(−z) + z
 *
 * minimised at exp(z) = E[rv] / s, so it is proper for the variance (unlike MSE
 * on variances, it does not let a few volatile minutes dominate), and finite
 * when rv = 0 (a flat minute), unlike rv/σ² − ln(rv/σ²) − 1.
 */

/**
 * z is clipped to ±Z_LIMIT in the loss and at inference: e^15 spans variance
 * ratios from 3e-7 to 3e6 around the scale, beyond any market, while keeping
 * exp(−z) far from float32 overflow when a fresh head starts far off.
 */
export const Z_LIMIT = 15;

/** Per-sample QLIKE loss (mean over the horizons), the shape tfjs `compile` expects of a loss function. */
export function varianceHeadLoss(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const z = tf.clipByValue(yPred, -Z_LIMIT, Z_LIMIT);
    return tf.mean(tf.add(tf.mul(yTrue, tf.exp(tf.neg(z))), z), -1);
  });
}

/** The variance forecast of a head output: s · exp(clip(z)). */
export function varianceFromLogVar(z: number, scale: number): number {
  return scale * Math.exp(Math.min(Z_LIMIT, Math.max(-Z_LIMIT, z)));
}

/**
 * QLIKE of variance forecasts against realised variances, in the finite form
 * rv/σ² + ln σ² (the same differences between forecasts as QLIKE; lower is
 * better). Pairs with a non-finite value or a forecast <= 0 are skipped.
 */
export function meanQlike(realised: ArrayLike<number>, forecast: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < realised.length; i += 1) {
    const rv = realised[i] ?? Number.NaN;
    const v = forecast[i] ?? Number.NaN;
    if (!Number.isFinite(rv) || !(Number.isFinite(v) && v > 0)) continue;
    sum += rv / v + Math.log(v);
    n += 1;
  }
  return n > 0 ? sum / n : Number.NaN;
}
