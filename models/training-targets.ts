import * as tf from '@tensorflow/tfjs';
import { specHorizons, type WindowSet } from './features.ts';
import { horizonScales, normaliseRows, valueUnits, type Preprocessor } from './preprocessor.ts';
import { varianceHeadLoss } from './variance-loss.ts';

/**
 * Inputs and targets of the first `n` windows of a set, as tensors, one target
 * per network output in `HEAD_NAMES` order: the standardised return(s) and the
 * up label of the 1-step heads, then with horizon heads each horizon's
 * standardised return, up label and realised variance over its scale s_h.
 */
export type TargetTensors = { readonly x: tf.Tensor3D; readonly ys: tf.Tensor2D[]; readonly n: number };

/** Builds the tensors; the windows must be labelled (see `WindowSet.labelled`). */
export function targetTensors(set: WindowSet, pre: Preprocessor, n = set.labelled): TargetTensors {
  const per = set.spec.lookback * set.featureNames.length;
  const x = normaliseRows(pre, set.x.subarray(0, n * per));
  const units = valueUnits(set.spec);
  const yValue = new Float32Array(n * units);
  const yUp = new Float32Array(n);
  for (let i = 0; i < n; i += 1) {
    const t = set.target[i] ?? 0;
    if (units === 1 && !set.stepReturn) yValue[i] = (t - pre.targetMean) / pre.targetStd;
    else for (let k = 0; k < units; k += 1) yValue[i * units + k] = ((set.stepReturn?.[i * units + k] ?? 0) - pre.targetMean) / pre.targetStd;
    yUp[i] = t > 0 ? 1 : 0;
  }
  const ys = [tf.tensor2d(yValue, [n, units]), tf.tensor2d(yUp, [n, 1])];
  const scales = horizonScales(pre);
  const hs = specHorizons(set.spec).length;
  if (scales && hs === scales.horizons.length) {
    const value = new Float32Array(n * hs);
    const up = new Float32Array(n * hs);
    const variance = new Float32Array(n * hs);
    for (let i = 0; i < n * hs; i += 1) {
      const j = i % hs;
      const r = set.horizonReturn?.[i] ?? 0;
      value[i] = (r - (scales.mean[j] ?? 0)) / (scales.std[j] ?? 1);
      up[i] = r > 0 ? 1 : 0;
      variance[i] = (set.horizonVariance?.[i] ?? 0) / (scales.varianceScale[j] ?? 1);
    }
    ys.push(tf.tensor2d(value, [n, hs]), tf.tensor2d(up, [n, hs]), tf.tensor2d(variance, [n, hs]));
  }
  return { x: tf.tensor3d(x, [n, set.spec.lookback, set.featureNames.length]), ys, n };
}

export function disposeTargets(t: TargetTensors): void {
  t.x.dispose();
  tf.dispose(t.ys);
}

/** Mean binary cross-entropy of probabilities (clipped away from 0 and 1) against 0/1 labels. */
export function meanCrossEntropy(labels: tf.Tensor, p: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const q = tf.clipByValue(p, 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean<tf.Scalar>(tf.add(tf.mul(labels, tf.log(q)), tf.mul(tf.sub(1, labels), tf.log(tf.sub(1, q))))));
  });
}

/**
 * The horizon heads' part of the training objective on a whole split: MSE of
 * hValue + cross-entropy of hUp + QLIKE of hLogVar. `outputs` and `ys` are the
 * three heads' predictions and targets (0 when the model has no horizon heads).
 */
export function horizonHeadsLoss(outputs: readonly tf.Tensor[], ys: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    const [value, up, logVar] = outputs;
    const [yValue, yUp, yVar] = ys;
    if (!value || !up || !logVar || !yValue || !yUp || !yVar) return tf.scalar(0);
    const mse = tf.losses.meanSquaredError<tf.Tensor, tf.Scalar>(yValue, value);
    return tf.addN<tf.Scalar>([mse, meanCrossEntropy(yUp, up), tf.mean<tf.Scalar>(varianceHeadLoss(yVar, logVar))]);
  });
}
