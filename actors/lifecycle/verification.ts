import * as tf from '@tensorflow/tfjs';
import {
  buildWindows,
  createBaselines,
  forecastMetrics,
  specOf,
  windowAt,
  type FeatureWindow,
  type ForecastMetrics,
  type NeuralPredictor,
  type OhlcvBar,
  type Predictor,
} from '../../models/index.ts';
import { windowLosses } from './paired-bootstrap.ts';
import { volatilityOnWindow, type VolatilityEvaluation } from './volatility-evaluation.ts';

/**
 * Evaluation on a fixed test window and the verification a candidate must pass
 * before activation: holdout accuracy and serving performance against limits.
 */

/** Windows of `bars` whose last bar opened in [fromTs, toTs] and whose target is known. */
export function windowsIn(predictor: NeuralPredictor, bars: readonly OhlcvBar[], fromTs: number, toTs: number): { windows: FeatureWindow[]; actual: number[] } {
  const set = buildWindows(bars, specOf(predictor.preprocessor));
  const windows: FeatureWindow[] = [];
  const actual: number[] = [];
  for (let i = 0; i < set.count; i += 1) {
    const ts = set.ts[i] ?? Number.NaN;
    const target = set.target[i] ?? Number.NaN;
    if (ts < fromTs || ts > toTs || !Number.isFinite(target)) continue;
    windows.push(windowAt(set, i));
    actual.push(target);
  }
  return { windows, actual };
}

export type WindowEvaluation = {
  model: ForecastMetrics;
  baselines: Record<string, ForecastMetrics>;
  windows: number;
  /** Per-window losses (paired-bootstrap.ts `windowLosses`), same windows for the model and every baseline. */
  losses: { model: Float64Array; baselines: Record<string, Float64Array> };
  /** The volatility heads against the EWMA and HAR baselines on the same windows (models with horizon heads). */
  volatility?: VolatilityEvaluation;
};

/**
 * A model and every naive baseline on the same windows (the gate compares
 * champion and challenger on the challenger's test window, not on each one's own).
 */
export function evaluateOnWindow(predictor: NeuralPredictor, bars: readonly OhlcvBar[], fromTs: number, toTs: number): WindowEvaluation {
  const { windows, actual } = windowsIn(predictor, bars, fromTs, toTs);
  if (windows.length === 0) throw new RangeError(`no labelled windows between ${new Date(fromTs).toISOString()} and ${new Date(toTs).toISOString()}`);
  const fill = (fs: readonly (ReturnType<Predictor['predict']>)[]) => fs.map((f) => f ?? { value: 0, pUp: 0.5 });
  const modelForecasts = fill(predictor.predictBatch(windows));
  const model = forecastMetrics(actual, modelForecasts);
  const baselines: Record<string, ForecastMetrics> = {};
  const baselineLosses: Record<string, Float64Array> = {};
  for (const b of createBaselines(predictor.lookback, predictor.preprocessor.horizon)) {
    const f = fill(b.predictBatch(windows));
    baselines[b.kind] = forecastMetrics(actual, f);
    baselineLosses[b.kind] = windowLosses(actual, f);
  }
  const volatility = volatilityOnWindow(predictor, bars, fromTs, toTs);
  return {
    model,
    baselines,
    windows: windows.length,
    losses: { model: windowLosses(actual, modelForecasts), baselines: baselineLosses },
    ...(volatility ? { volatility } : {}),
  };
}

export type VerificationLimits = {
  /** Holdout direction accuracy must reach this. */
  minDirectionAccuracy: number;
  /** Batch-1 latency p99 (ms). */
  maxLatencyP99Ms: number;
  /** Windows per second in batches of `throughputBatch`. */
  minThroughputPerS: number;
  /** Backend memory held by the loaded model (bytes). */
  maxMemoryBytes: number;
  /** Holdout metrics must match what training reported within this (direction accuracy, absolute). */
  maxMetricDrift: number;
  /** Each check (accuracy, performance) that has not finished by then fails the verification. */
  checkTimeoutMs: number;
};

export const DEFAULT_VERIFICATION: VerificationLimits = {
  // A coin flip: what the naive forecasts score in expectation; no candidate serves below it.
  minDirectionAccuracy: 0.5,
  maxLatencyP99Ms: 50,
  minThroughputPerS: 500,
  maxMemoryBytes: 64 * 1024 * 1024,
  maxMetricDrift: 0.02,
  checkTimeoutMs: 30_000,
};

/** Resolves with the check's result, or undefined when it overran `ms`. */
async function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

export type VerificationReport = {
  ok: boolean;
  reasons: string[];
  holdout: ForecastMetrics;
  performance: { latencyP50Ms: number; latencyP99Ms: number; throughputPerS: number; memoryBytes: number; samples: number };
  limits: VerificationLimits;
};

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/**
 * Verifies a loaded candidate: accuracy on the holdout window (and that it
 * reproduces the metrics training reported, i.e. the stored bytes are the
 * trained model) and performance: batch-1 latency, batched throughput, memory.
 * `memoryBytes` is measured by the caller around the load (tf.memory delta).
 */
export async function verifyCandidate(args: {
  predictor: NeuralPredictor;
  bars: readonly OhlcvBar[];
  fromTs: number;
  toTs: number;
  memoryBytes: number;
  reported?: { directionAccuracy: number } | undefined;
  limits?: Partial<VerificationLimits> | undefined;
  latencySamples?: number;
}): Promise<VerificationReport> {
  const limits: VerificationLimits = { ...DEFAULT_VERIFICATION, ...args.limits };
  const { windows, actual } = windowsIn(args.predictor, args.bars, args.fromTs, args.toTs);
  const reasons: string[] = [];
  if (windows.length === 0) reasons.push('no labelled holdout windows');
  // Both checks run at once, each in slices that yield to the event loop, each with its own timeout.
  const accuracy = async () => {
    const forecasts: { value: number; pUp: number }[] = [];
    for (let from = 0; from < windows.length; from += 128) {
      for (const f of args.predictor.predictBatch(windows.slice(from, from + 128))) forecasts.push(f ?? { value: 0, pUp: 0.5 });
      await yieldTurn();
    }
    return forecastMetrics(actual, forecasts);
  };
  const measure = async () => {
    const n = Math.min(args.latencySamples ?? 200, Math.max(windows.length, 1));
    const lat: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const w = windows[i % Math.max(windows.length, 1)];
      if (!w) break;
      const t = performance.now();
      args.predictor.predict(w);
      lat.push(performance.now() - t);
      // Yield now and then: verification must not stall the event loop.
      if (i % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    lat.sort((a, b) => a - b);
    const batch = windows.slice(0, 256);
    const t = performance.now();
    if (batch.length) args.predictor.predictBatch(batch);
    const ms = performance.now() - t;
    return { latencyP50Ms: percentile(lat, 50), latencyP99Ms: percentile(lat, 99), throughputPerS: batch.length / Math.max(ms / 1000, 1e-6), memoryBytes: args.memoryBytes, samples: lat.length };
  };
  const [holdoutOrNone, perfOrNone] = await Promise.all([within(limits.checkTimeoutMs, accuracy()), within(limits.checkTimeoutMs, measure())]);
  if (!holdoutOrNone) reasons.push(`accuracy check did not finish within ${limits.checkTimeoutMs} ms`);
  if (!perfOrNone) reasons.push(`performance check did not finish within ${limits.checkTimeoutMs} ms`);
  const holdout = holdoutOrNone ?? forecastMetrics([], []);
  const perf = perfOrNone ?? { latencyP50Ms: Number.NaN, latencyP99Ms: Number.NaN, throughputPerS: 0, memoryBytes: args.memoryBytes, samples: 0 };
  if (windows.length > 0 && holdoutOrNone && perfOrNone) {
    if (holdout.directionAccuracy < limits.minDirectionAccuracy) {
      reasons.push(`holdout direction accuracy ${holdout.directionAccuracy.toFixed(4)} < ${limits.minDirectionAccuracy}`);
    }
    if (args.reported && Math.abs(holdout.directionAccuracy - args.reported.directionAccuracy) > limits.maxMetricDrift) {
      reasons.push(`holdout direction accuracy ${holdout.directionAccuracy.toFixed(4)} differs from the trained ${args.reported.directionAccuracy.toFixed(4)} by more than ${limits.maxMetricDrift}`);
    }
    if (perf.latencyP99Ms > limits.maxLatencyP99Ms) reasons.push(`batch-1 latency p99 ${perf.latencyP99Ms.toFixed(2)} ms > ${limits.maxLatencyP99Ms} ms`);
    if (perf.throughputPerS < limits.minThroughputPerS) reasons.push(`throughput ${perf.throughputPerS.toFixed(0)}/s < ${limits.minThroughputPerS}/s`);
  }
  if (perf.memoryBytes > limits.maxMemoryBytes) reasons.push(`model memory ${perf.memoryBytes} B > ${limits.maxMemoryBytes} B`);
  return { ok: reasons.length === 0, reasons, holdout, performance: perf, limits };
}

/** Backend bytes held now (for measuring a model's memory around its load). */
export function backendBytes(): number {
  return tf.memory().numBytes;
}
