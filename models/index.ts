/**
 * Public door of models/: TensorFlow.js backend selection, features, the
 * Predictor contract (LSTM, MLP, naive baselines), the training runner with
 * run-scoped artifacts, artifact IO, inference and walk-forward evaluation.
 */
export type * from './types.ts';
export * from './errors.ts';
export { selectBackend, parseBackendName, BACKEND_ORDER, type BackendName, type BackendChoice, type BackendAttempt } from './backend.ts';
export {
  FeatureBuilder,
  buildWindows,
  windowAt,
  sliceWindows,
  featureNames,
  warmupBars,
  BASE_FEATURES,
  CONTEXT_FEATURE,
  DEFAULT_VOL_WINDOW,
  isLabelled,
  specHorizons,
  targetReach,
  type FeatureSet,
  type FeatureSpec,
  type WindowSet,
} from './features.ts';
export { NaiveBaseline, createBaselines, BASELINE_KINDS, normalCdf } from './baselines.ts';
export { buildLstm } from './lstm.ts';
export { buildMlp } from './mlp.ts';
export { buildNetwork } from './build-network.ts';
export { HEAD_NAMES, networkLosses, type NetworkConfig } from './model-config.ts';
export { NeuralPredictor } from './neural-predictor.ts';
export {
  parsePreprocessor,
  fitPreprocessor,
  normaliseRows,
  specOf,
  horizonScales,
  valueUnits,
  outputUnits,
  type Preprocessor,
  type HorizonScales,
} from './preprocessor.ts';
export { fitNetwork, networkFor, type FitSettings, type FitResult, type FitHooks } from './fit-network.ts';
export { targetTensors, disposeTargets, horizonHeadsLoss, type TargetTensors } from './training-targets.ts';
export { varianceHeadLoss, meanQlike, varianceFromLogVar, Z_LIMIT } from './variance-loss.ts';
export { horizonValidationMetrics, ewmaVariances, EWMA_VARIANCE_SPAN, type HorizonValidationMetrics } from './horizon-metrics.ts';
export { barsNeededForSplit, splitWindows, type Split, type SplitFractions } from './split.ts';
export { forecastMetrics, rocAuc, type ForecastMetrics } from './metrics.ts';
export {
  encodeModel,
  saveModelDir,
  loadModelDir,
  readArtifactDir,
  writeArtifactDir,
  packArtifact,
  unpackArtifact,
  decodeModel,
  sha256,
  ArtifactSaveHandler,
  MODEL_JSON,
  WEIGHTS_BIN,
  PREPROCESSOR_JSON,
  type ArtifactFiles,
  type LoadedModel,
  type PackedArtifact,
} from './artifact-io.ts';
export { runTraining, runPaths, runSpec, RUN_ID_PATTERN, type TrainRunInput, type TrainRunResult } from './train-runner.ts';
export type { RunMetrics, RunPaths, TrainRunConfig } from './run-metrics.ts';
export { DEFAULT_SPLIT, MIN_SPLIT_WINDOWS } from './split.ts';
export { createTrainProgress, silentProgress, type TrainProgress, type EpochStats } from './progress.ts';
export { loadPredictor, predictSeries, predictMany, type ModelSource, type SeriesForecast } from './inference.ts';
export { walkForward, type WalkForwardConfig, type WalkForwardResult, type Comparison } from './walk-forward.ts';
export { formatWalkForward } from './walk-forward-table.ts';
export { readModelBars, type ModelBars } from './bars-input.ts';
export { writeFileAtomic } from './atomic-write.ts';
export * from './horizons/index.ts';
export * from './skill/index.ts';
