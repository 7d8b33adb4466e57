import type { ForecastMetrics } from '../../../../models/index.ts';
import type { VersionRow } from '../../../../sql/index.ts';
import type { TrainSummary } from '../../../../actors/lifecycle/trainer.ts';
import { DEFAULT_VERIFICATION, type VerificationReport, type WindowEvaluation } from '../../../../actors/lifecycle/verification.ts';

/** Plain values shaped like the lifecycle's own, for the pure steps of a retrain. */

export const metrics = (rmse: number, rocAuc: number | null = 0.6): ForecastMetrics => ({
  n: 200,
  mae: rmse * 0.8,
  rmse,
  mape: 1,
  r2: null,
  directionAccuracy: 0.55,
  rocAuc,
  f1: 0.5,
  brier: 0.24,
});

export function evaluation(rmse: number, loss: number): WindowEvaluation {
  return {
    model: metrics(rmse),
    baselines: { 'naive-zero': metrics(rmse * 1.2, 0.5) },
    windows: 3,
    losses: { model: Float64Array.of(loss, loss, loss), baselines: { 'naive-zero': Float64Array.of(2, 2, 2) } },
  };
}

export function verification(ok: boolean, reasons: string[] = []): VerificationReport {
  return {
    ok,
    reasons,
    holdout: metrics(0.001),
    performance: { latencyP50Ms: 1, latencyP99Ms: 2, throughputPerS: 1_000, memoryBytes: 1_024, samples: 50 },
    limits: DEFAULT_VERIFICATION,
  };
}

const split = (fromTs: number | null, toTs: number | null) => ({ windows: 10, fromTs, toTs });

export function summary(over: { dataFrom?: number | null; dataTo?: number | null; testFrom?: number | null; testTo?: number | null } = {}): TrainSummary {
  return {
    runId: 'run-1',
    kind: 'mlp',
    lookback: 24,
    horizon: 1,
    featureNames: ['r1'],
    data: {
      bars: 1_000,
      fromTs: over.dataFrom === undefined ? 1_000 : over.dataFrom,
      toTs: over.dataTo === undefined ? 9_000 : over.dataTo,
      train: split(1_000, 6_000),
      val: split(6_001, 7_000),
      test: split(over.testFrom === undefined ? 7_001 : over.testFrom, over.testTo === undefined ? 9_000 : over.testTo),
    },
    epochsRan: 5,
    bestEpoch: 4,
    test: metrics(0.001),
    baselines: {},
    timings: { totalMs: 10 },
    warnings: [],
  };
}

export function versionRow(version: string, over: Partial<VersionRow> = {}): VersionRow {
  return {
    version,
    scope: 'binance.BTCUSDT',
    role: 'pretrained',
    kind: 'mlp',
    status: 'active',
    parentVersion: null,
    regime: null,
    params: { lookback: 24, horizon: 1, volWindow: 30 },
    metrics: {},
    dataFrom: null,
    dataTo: null,
    runId: null,
    artifactBytes: null,
    artifactSha256: null,
    everActive: true,
    createdAt: 0,
    activatedAt: 0,
    retiredAt: null,
    ...over,
  };
}
