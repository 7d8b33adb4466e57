import * as tf from '@tensorflow/tfjs';
import { SignalsError } from '../../config/index.ts';
import { mulberry32 } from '../../market/index.ts';
import {
  buildWindows,
  decodeModel,
  encodeModel,
  forecastMetrics,
  HEAD_NAMES,
  horizonHeadsLoss,
  horizonScales,
  networkLosses,
  NeuralPredictor,
  sliceWindows,
  specOf,
  targetReach,
  targetTensors,
  windowAt,
  type TargetTensors,
  type FeatureWindow,
  type ForecastMetrics,
  type OhlcvBar,
  type Predictor,
  type WindowSet,
} from '../../models/index.ts';

/**
 * Transfer learning of a symbol's online model: a copy of the active pretrained
 * network, trained on the symbol's recent bars with a lower learning rate (and
 * optionally its lower hidden layers frozen), early-stopped on a validation part,
 * and judged on a held-out window of the most recent bars that it never trained on.
 * The copy keeps every head of the base: a multi-horizon base (its preprocessor
 * names the horizons) fine-tunes into a multi-horizon online model, trained on
 * the same objective (value, pUp and the horizon heads' return, up and QLIKE losses).
 */
export type FineTuneConfig = {
  /** Adam learning rate (pretraining uses 1e-3; fine-tuning goes lower). */
  readonly learningRate: number;
  readonly epochs: number;
  readonly batchSize: number;
  /** Epochs without a validation improvement before stopping. */
  readonly patience: number;
  /** Hidden layers (from the input side) whose weights stay fixed. */
  readonly freezeLayers: number;
  /** Most recent labelled windows kept out of training to judge before/after. */
  readonly heldOutWindows: number;
  /** Fraction of the remaining windows (the latest ones) used for early stopping. */
  readonly valFraction: number;
  /** Fewest training windows worth fine-tuning on. */
  readonly minTrainWindows: number;
  readonly seed: number;
};

export const DEFAULT_FINE_TUNE: FineTuneConfig = {
  learningRate: 3e-4,
  epochs: 12,
  batchSize: 32,
  patience: 3,
  freezeLayers: 0,
  heldOutWindows: 120,
  valFraction: 0.2,
  minTrainWindows: 100,
  seed: 17,
};

/** Error of a model on the held-out windows. */
export type HeldOutError = { mae: number; directionAccuracy: number; brier: number };

/** Adaptation quality: the same held-out window before (the base model) and after fine-tuning. */
export type AdaptationReport = {
  readonly before: HeldOutError;
  readonly after: HeldOutError;
  /** (before.mae - after.mae) / before.mae: > 0 when fine-tuning helped. */
  readonly maeImprovement: number;
  readonly trainWindows: number;
  readonly valWindows: number;
  readonly heldOutWindows: number;
  readonly epochsRan: number;
  readonly bestEpoch: number;
  readonly frozenLayers: number;
  readonly ms: number;
};

/** Recent windows no model trained on, with their realised targets: what a gate compares models on. */
export type HeldOutSet = { readonly windows: readonly FeatureWindow[]; readonly actual: Float64Array };

export type FineTuneResult = {
  readonly predictor: NeuralPredictor;
  readonly report: AdaptationReport;
  readonly heldOut: HeldOutSet;
};

/** Not enough recent bars (or a base model that cannot be fine-tuned). Retryable later, with more bars. */
export class FineTuneUnavailableError extends SignalsError {
  override readonly name = 'FineTuneUnavailableError';
  override readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable;
  }
}

/** Gives the event loop a turn (timers, sockets, the predictor's next batch). */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** MAE, direction accuracy and Brier score of a predictor on a held-out set. */
export function heldOutError(predictor: Predictor, set: HeldOutSet): HeldOutError {
  const forecasts = predictor.predictBatch(set.windows).map((f) => f ?? { value: 0, pUp: 0.5 });
  const m: ForecastMetrics = forecastMetrics(set.actual, forecasts);
  return { mae: m.mae, directionAccuracy: m.directionAccuracy, brier: m.brier };
}

function heldOutOf(set: WindowSet): HeldOutSet {
  return { windows: Array.from({ length: set.count }, (_, i) => windowAt(set, i)), actual: set.target.slice() };
}

/** Objective on a whole set: MSE of the standardised value head + cross-entropy of the pUp head (+ the horizon heads' losses). */
function objective(model: tf.LayersModel, t: TargetTensors): number {
  return tf.tidy(() => {
    const out = model.predict(t.x, { batchSize: 1024 });
    const [value, pUp, ...horizon] = Array.isArray(out) ? out : [out, out];
    const [y, up, ...yHorizon] = t.ys;
    if (!value || !pUp || !y || !up) return Number.NaN;
    const mse = tf.mean(tf.square(tf.sub(value, y)));
    const bce = tf.metrics.binaryCrossentropy(up, tf.clipByValue(pUp, 1e-7, 1 - 1e-7)).mean();
    const loss = tf.add(mse, bce);
    return (horizon.length > 0 ? tf.add(loss, horizonHeadsLoss(horizon, yHorizon)) : loss).dataSync()[0] ?? Number.NaN;
  });
}

/**
 * Fine-tunes a copy of `base` on `bars` (oldest first). Never blocks the event
 * loop for more than one mini-batch: it yields after each. The base model is not
 * touched. `version` names the result (the registry version it will have).
 */
export async function fineTune(
  base: Predictor,
  bars: readonly OhlcvBar[],
  version: string,
  config: FineTuneConfig = DEFAULT_FINE_TUNE,
  options: { signal?: AbortSignal } = {},
): Promise<FineTuneResult> {
  const started = performance.now();
  if (!(base instanceof NeuralPredictor)) {
    throw new FineTuneUnavailableError(`a ${base.kind} model has no weights to fine-tune`, { retryable: false });
  }
  const spec = specOf(base.preprocessor);
  const all = buildWindows(bars, spec);
  const labelled = all.labelled;
  const heldOutCount = Math.min(config.heldOutWindows, Math.floor(labelled / 4));
  // An embargo of `reach` windows (the farthest target) keeps the last training target out of the held-out bars.
  const trainable = labelled - heldOutCount - targetReach(spec);
  const valCount = Math.max(1, Math.floor(trainable * config.valFraction));
  const trainCount = trainable - valCount;
  if (trainCount < config.minTrainWindows || heldOutCount < 10) {
    throw new FineTuneUnavailableError(
      `${bars.length} bars give ${trainCount} training windows (need ${config.minTrainWindows}) and ${heldOutCount} held-out (need 10)`,
      { retryable: true },
    );
  }
  const train = sliceWindows(all, 0, trainCount);
  const val = sliceWindows(all, trainCount, trainable);
  const held = sliceWindows(all, labelled - heldOutCount, labelled);
  const heldOut = heldOutOf(held);
  const before = heldOutError(base, heldOut);

  // The copy: the base model's own bytes, decoded into a fresh network.
  const files = await encodeModel(base.model, { ...base.preprocessor, runId: version });
  const { model } = await decodeModel(files, { source: `fine-tune ${version}` });
  const heads: readonly string[] = HEAD_NAMES;
  const hidden = model.layers.filter((l) => l.getWeights().length > 0 && !heads.includes(l.name));
  const frozen = Math.min(config.freezeLayers, hidden.length);
  hidden.slice(0, frozen).forEach((l) => {
    l.trainable = false;
  });
  model.compile({ optimizer: tf.train.adam(config.learningRate), loss: networkLosses(horizonScales(base.preprocessor)?.horizons.length ?? 0) });

  const tr = targetTensors(train, base.preprocessor);
  const va = targetTensors(val, base.preprocessor);
  const rng = mulberry32(config.seed);
  let best = objective(model, va);
  let bestWeights = model.getWeights().map((w) => w.clone());
  let bestEpoch = 0;
  let epochsRan = 0;
  let since = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch += 1) {
      const order = Int32Array.from({ length: tr.n }, (_, i) => i);
      for (let i = tr.n - 1; i > 0; i -= 1) {
        const j = Math.floor(rng.next() * (i + 1));
        const t = order[i] ?? 0;
        order[i] = order[j] ?? 0;
        order[j] = t;
      }
      for (let from = 0; from < tr.n; from += config.batchSize) {
        if (options.signal?.aborted) throw new FineTuneUnavailableError('fine-tune aborted', { retryable: true });
        const idx = tf.tensor1d(order.subarray(from, Math.min(tr.n, from + config.batchSize)), 'int32');
        const xb = tf.gather(tr.x, idx);
        const yb = tr.ys.map((y) => tf.gather(y, idx));
        try {
          await model.trainOnBatch(xb, yb);
        } finally {
          tf.dispose([idx, xb, ...yb]);
        }
        await yieldToLoop();
      }
      epochsRan = epoch;
      const loss = objective(model, va);
      if (Number.isFinite(loss) && loss < best) {
        best = loss;
        bestEpoch = epoch;
        since = 0;
        tf.dispose(bestWeights);
        bestWeights = model.getWeights().map((w) => w.clone());
      } else if (++since >= config.patience) break;
    }
    model.setWeights(bestWeights);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    tf.dispose(bestWeights);
    tf.dispose([tr.x, ...tr.ys, va.x, ...va.ys]);
    model.optimizer?.dispose();
  }
  const predictor = new NeuralPredictor(model, { ...base.preprocessor, runId: version }, version);
  const after = heldOutError(predictor, heldOut);
  return {
    predictor,
    heldOut,
    report: {
      before,
      after,
      maeImprovement: before.mae > 0 ? (before.mae - after.mae) / before.mae : 0,
      trainWindows: trainCount,
      valWindows: valCount,
      heldOutWindows: heldOutCount,
      epochsRan,
      bestEpoch,
      frozenLayers: frozen,
      ms: performance.now() - started,
    },
  };
}
