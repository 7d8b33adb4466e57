import * as tf from '@tensorflow/tfjs';
import { ShapeMismatchError, TrainingDivergedError } from './errors.ts';
import type { WindowSet } from './features.ts';
import { buildNetwork } from './build-network.ts';
import type { NetworkConfig } from './model-config.ts';
import { normaliseRows, type Preprocessor } from './preprocessor.ts';
import { silentProgress, type EpochStats, type TrainProgress } from './progress.ts';
import { SeededRandom } from './rng.ts';

export type FitSettings = {
  readonly network: NetworkConfig;
  readonly epochs: number;
  readonly batchSize: number;
  /** Epochs without a val-loss improvement before training stops. */
  readonly patience: number;
  /** Smallest decrease of val loss that counts as an improvement. */
  readonly minDelta?: number;
};

export type FitResult = {
  /** The network with the best epoch's weights restored. */
  model: tf.LayersModel;
  history: EpochStats[];
  bestEpoch: number;
  bestValLoss: number;
  epochsRan: number;
  stoppedEarly: boolean;
  trainMs: number;
};

export type FitHooks = {
  progress?: TrainProgress;
  /** Called after an epoch that improved val loss, with the model holding that epoch's weights. */
  onImproved?: (epoch: number, model: tf.LayersModel) => Promise<void>;
  /** Called once after the last epoch, with the model still holding that epoch's weights. */
  onLastEpoch?: (epoch: number, model: tf.LayersModel) => Promise<void>;
  /** Start from these weights (warm start / fine-tuning) instead of the seeded initialisation. */
  initialWeights?: tf.Tensor[];
};

type Tensors = { x: tf.Tensor3D; yValue: tf.Tensor2D; yUp: tf.Tensor2D; n: number };

/** Normalised inputs and both targets of a labelled window set, as tensors. */
function toTensors(set: WindowSet, pre: Preprocessor): Tensors {
  const n = set.labelled;
  const per = set.spec.lookback * set.featureNames.length;
  const x = normaliseRows(pre, set.x.subarray(0, n * per));
  const yValue = new Float32Array(n);
  const yUp = new Float32Array(n);
  for (let i = 0; i < n; i += 1) {
    const t = set.target[i] ?? 0;
    yValue[i] = (t - pre.targetMean) / pre.targetStd;
    yUp[i] = t > 0 ? 1 : 0;
  }
  return {
    x: tf.tensor3d(x, [n, set.spec.lookback, set.featureNames.length]),
    yValue: tf.tensor2d(yValue, [n, 1]),
    yUp: tf.tensor2d(yUp, [n, 1]),
    n,
  };
}

function disposeTensors(t: Tensors): void {
  t.x.dispose();
  t.yValue.dispose();
  t.yUp.dispose();
}

/**
 * MSE of the value head plus binary cross-entropy of the pUp head, the training
 * objective, on a whole split. Computed here because `model.evaluate` of tfjs 4.22
 * returns a misordered list for two-output models.
 */
function validationLoss(model: tf.LayersModel, data: Tensors): number {
  return tf.tidy(() => {
    const out = model.predict(data.x, { batchSize: 2048 });
    const [value, pUp] = Array.isArray(out) ? out : [out, out];
    if (!value || !pUp) return Number.NaN;
    const mse = tf.losses.meanSquaredError(data.yValue, value);
    const p = tf.clipByValue(pUp, 1e-7, 1 - 1e-7);
    const bce = tf.neg(tf.mean(tf.add(tf.mul(data.yUp, tf.log(p)), tf.mul(tf.sub(1, data.yUp), tf.log(tf.sub(1, p))))));
    return tf.add(mse, bce).dataSync()[0] ?? Number.NaN;
  });
}

function totalLoss(out: tf.Scalar | tf.Scalar[] | number | number[]): number {
  const first = Array.isArray(out) ? out[0] : out;
  if (first === undefined) return Number.NaN;
  return typeof first === 'number' ? first : (first.dataSync()[0] ?? Number.NaN);
}

/**
 * Trains a freshly built (seeded) network on `train`, early-stopping on the loss
 * of `val`. Deterministic for a given seed: the network's initialisers and
 * dropout masks are seeded, and batches are shuffled by a seeded permutation.
 */
export async function fitNetwork(train: WindowSet, val: WindowSet, pre: Preprocessor, settings: FitSettings, hooks: FitHooks = {}): Promise<FitResult> {
  const progress = hooks.progress ?? silentProgress;
  const minDelta = settings.minDelta ?? 0;
  const model = buildNetwork(settings.network);
  if (hooks.initialWeights) {
    const want = model.getWeights().map((w) => w.shape.join('x'));
    const got = hooks.initialWeights.map((w) => w.shape.join('x'));
    if (want.join(',') !== got.join(',')) {
      model.dispose();
      throw new ShapeMismatchError('initial weights vs network architecture (--hidden-units)', want, got);
    }
    model.setWeights(hooks.initialWeights);
  }
  const tr = toTensors(train, pre);
  const va = toTensors(val, pre);
  const rng = new SeededRandom(settings.network.seed);
  const history: EpochStats[] = [];
  let best: tf.Tensor[] | undefined;
  let bestEpoch = 0;
  let bestValLoss = Number.POSITIVE_INFINITY;
  let sinceBest = 0;
  let stoppedEarly = false;
  const started = performance.now();
  const batches = Math.ceil(tr.n / settings.batchSize);
  try {
    for (let epoch = 1; epoch <= settings.epochs; epoch += 1) {
      const epochStart = performance.now();
      progress.epochStart(epoch, settings.epochs);
      const order = rng.permutation(tr.n);
      let lossSum = 0;
      for (let b = 0; b < batches; b += 1) {
        const idx = order.subarray(b * settings.batchSize, Math.min(tr.n, (b + 1) * settings.batchSize));
        const [xb, yv, yu] = tf.tidy(() => {
          const i = tf.tensor1d(idx, 'int32');
          return [tf.gather(tr.x, i), tf.gather(tr.yValue, i), tf.gather(tr.yUp, i)];
        });
        let loss: number;
        try {
          loss = totalLoss(await model.trainOnBatch(xb, [yv, yu]));
        } finally {
          xb.dispose();
          yv.dispose();
          yu.dispose();
        }
        if (!Number.isFinite(loss)) throw new TrainingDivergedError(epoch, loss);
        lossSum += loss * idx.length;
        progress.batch(epoch, b + 1, batches, lossSum / Math.min(tr.n, (b + 1) * settings.batchSize));
      }
      const valLoss = validationLoss(model, va);
      if (!Number.isFinite(valLoss)) throw new TrainingDivergedError(epoch, valLoss);
      const improved = valLoss < bestValLoss - minDelta;
      if (improved) {
        bestValLoss = valLoss;
        bestEpoch = epoch;
        sinceBest = 0;
        best?.forEach((w) => w.dispose());
        best = model.getWeights().map((w) => w.clone());
        if (hooks.onImproved) await hooks.onImproved(epoch, model);
      } else {
        sinceBest += 1;
      }
      const stats: EpochStats = { epoch, loss: lossSum / tr.n, valLoss, ms: performance.now() - epochStart, improved };
      history.push(stats);
      progress.epochEnd(stats, settings.epochs);
      if (sinceBest >= settings.patience) {
        stoppedEarly = epoch < settings.epochs;
        break;
      }
    }
  } catch (err) {
    best?.forEach((w) => w.dispose());
    model.optimizer.dispose();
    model.dispose();
    throw err;
  } finally {
    progress.done();
    disposeTensors(tr);
    disposeTensors(va);
  }
  // The optimiser (Adam moments) is not owned by the model: the returned model is for inference.
  model.optimizer.dispose();
  try {
    if (hooks.onLastEpoch) await hooks.onLastEpoch(history.length, model);
  } catch (err) {
    best?.forEach((w) => w.dispose());
    model.dispose();
    throw err;
  }
  if (best) {
    model.setWeights(best);
    best.forEach((w) => w.dispose());
  }
  return {
    model,
    history,
    bestEpoch,
    bestValLoss,
    epochsRan: history.length,
    stoppedEarly,
    trainMs: performance.now() - started,
  };
}
