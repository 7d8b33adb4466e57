import type { FeatureSet } from './features.ts';
import type { HorizonValidationMetrics } from './horizon-metrics.ts';
import type { ForecastMetrics } from './metrics.ts';
import type { EpochStats } from './progress.ts';
import type { BaselineKind, HorizonLabel, ModelKind } from './types.ts';

export type SplitInfo = { windows: number; fromTs: number | null; toTs: number | null };

/** The training configuration as recorded in metrics and reports. */
export type TrainRunConfig = {
  runId: string;
  kind: ModelKind;
  lookback: number;
  horizon: number;
  volWindow: number;
  context: boolean;
  epochs: number;
  batchSize: number;
  learningRate: number;
  hiddenUnits: number[];
  dropout: number;
  seed: number;
  patience: number;
  split: { train: number; val: number };
  artifactsDir: string;
  /** Replace the artifacts of an earlier run with the same run_id. */
  overwrite?: boolean;
  /** Checkpoint directory to warm-start from (its architecture and normalisation are kept). */
  initFrom?: string;
  /** Horizons (bars) of the multi-horizon heads, ascending; absent or empty: none. */
  horizons?: number[];
  /** Feature layout (default `full`); `univariate` = logReturn only and a `horizon`-step target. */
  features?: FeatureSet;
};

export type RunPaths = {
  checkpointDir: string;
  best: string;
  last: string;
  metrics: string;
  report: string;
  chart: string;
};

/** `<artifacts>/metrics/<run_id>.json`: everything needed to judge and reproduce a run. */
export type RunMetrics = {
  runId: string;
  kind: ModelKind;
  createdAt: string;
  command: string | null;
  source: string;
  backend: { name: string; how: string; threads: number | null };
  config: TrainRunConfig;
  lookback: number;
  horizon: number;
  featureNames: string[];
  data: {
    bars: number;
    fromTs: number | null;
    toTs: number | null;
    windows: number;
    labelled: number;
    embargo: number;
    train: SplitInfo;
    val: SplitInfo;
    test: SplitInfo;
  };
  epochsRequested: number;
  epochsRan: number;
  bestEpoch: number;
  bestValLoss: number;
  stoppedEarly: boolean;
  history: EpochStats[];
  test: ForecastMetrics;
  baselines: Record<BaselineKind, ForecastMetrics>;
  bestBaseline: { kind: BaselineKind; rmse: number };
  beatsBestBaseline: { rmse: boolean; directionAccuracy: boolean };
  timings: { featuresMs: number; trainMs: number; evalMs: number; totalMs: number; msPerEpoch: number; trainSamplesPerSecond: number };
  warnings: string[];
  parentRunId: string | null;
  artifacts: RunPaths;
  /** With horizon heads: each horizon's metrics on the validation split (see HorizonValidationMetrics). */
  horizonValidation?: Partial<Record<HorizonLabel, HorizonValidationMetrics>>;
};
