import * as tf from '@tensorflow/tfjs';
import { ShapeMismatchError, TrainingDivergedError } from './errors.ts';
import type { WindowSet } from './features.ts';
import { buildNetwork } from './build-network.ts';
import type { NetworkConfig } from './model-config.ts';
import { horizonScales, specOf, valueUnits, type Preprocessor } from './preprocessor.ts';
import { silentProgress, type EpochStats, type TrainProgress } from './progress.ts';
import { SeededRandom } from './rng.ts';
import { disposeTargets, horizonHeadsLoss, meanCrossEntropy, targetTensors, type TargetTensors } from './training-targets.ts';

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

/**
 * The training objective on a whole split: MSE of the value head plus binary
 * cross-entropy of the pUp head, plus the horizon heads' losses when the model
 * has them. Computed here because `model.evaluate` of tfjs 4.22 returns a
 * misordered list for multi-output models.
 */
function validationLoss(model: tf.LayersModel, data: TargetTensors): number {
  return tf.tidy(() => {
    const out = model.predict(data.x, { batchSize: 2048 });
    const [value, pUp, ...horizon] = Array.isArray(out) ? out : [out, out];
    const [yValue, yUp, ...yHorizon] = data.ys;
    if (!value || !pUp || !yValue || !yUp) return Number.NaN;
    const mse = tf.losses.meanSquaredError(yValue, value);
    const loss = tf.add(mse, meanCrossEntropy(yUp, pUp));
    return (horizon.length > 0 ? tf.add(loss, horizonHeadsLoss(horizon, yHorizon)) : loss).dataSync()[0] ?? Number.NaN;
  });
}

function totalLoss(out: tf.Scalar | tf.Scalar[] | number | number[]): number {
  const first = Array.isArray(out) ? out[0] : out;
  if (first === undefined) return Number.NaN;
  return typeof first === 'number' ? first : (first.dataSync()[0] ?? Number.NaN);
}

/**
 * The network a preprocessor's targets need: its heads follow the preprocessor
 * (value units of the layout, one set of horizon heads per fitted horizon), so
 * callers only describe the hidden layers.
 */
export function networkFor(network: NetworkConfig, pre: Preprocessor): NetworkConfig {
  const units = valueUnits(specOf(pre));
  const hs = horizonScales(pre)?.horizons.length ?? 0;
  return { ...network, ...(units !== 1 ? { valueUnits: units } : {}), ...(hs > 0 ? { horizonHeads: hs } : {}) };
}

/**
 * Trains a freshly built (seeded) network on `train`, early-stopping on the loss
 * of `val`. Deterministic for a given seed: the network's initialisers and
 * dropout masks are seeded, and batches are shuffled by a seeded permutation.
 */
export async function fitNetwork(train: WindowSet, val: WindowSet, pre: Preprocessor, settings: FitSettings, hooks: FitHooks = {}): Promise<FitResult> {
  const progress = hooks.progress ?? silentProgress;
  const minDelta = settings.minDelta ?? 0;
  const model = buildNetwork(networkFor(settings.network, pre));
  if (hooks.initialWeights) {
    const want = model.getWeights().map((w) => w.shape.join('x'));
    const got = hooks.initialWeights.map((w) => w.shape.join('x'));
    if (want.join(',') !== got.join(',')) {
      model.dispose();
      throw new ShapeMismatchError('initial weights vs network architecture (--hidden-units)', want, got);
    }
    model.setWeights(hooks.initialWeights);
  }
  const tr = targetTensors(train, pre);
  const va = targetTensors(val, pre);
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
        const [xb, ...yb] = tf.tidy(() => {
          const i = tf.tensor1d(idx, 'int32');
          return [tf.gather(tr.x, i), ...tr.ys.map((y) => tf.gather(y, i))];
        });
        let loss: number;
        try {
          loss = totalLoss(await model.trainOnBatch(xb, yb));
        } finally {
          xb.dispose();
          tf.dispose(yb);
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
    disposeTargets(tr);
    disposeTargets(va);
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
