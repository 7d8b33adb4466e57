/**
 * Public door of models/skill/: how good multi-horizon forecasts are. Pure metrics of
 * volatility (QLIKE, log-RV MSE and R², Mincer–Zarnowitz), quantiles (band coverage,
 * pinball) and direction (AUC, Brier, reliability, ECE), moving-block bootstrap intervals
 * and paired differences, the economics after costs, and a report with verdicts, a
 * markdown rendering and SVG charts (Vega-Lite).
 */
export { QUANTILE_LEVELS, QUANTILE_KEYS, type QuantileKey, type TargetForecast, type HorizonOutcome, type Interval } from './types.ts';
export {
  blockDraws,
  drawIndices,
  resampledSums,
  percentileInterval,
  sumsInterval,
  meanInterval,
  indexInterval,
  DEFAULT_BOOTSTRAP,
  type BootstrapOptions,
  type BlockDraws,
} from './bootstrap.ts';
export { qlike, qlikeLoss, logVarianceMse, logVarianceR2, logVarianceSquaredError, varianceSkip, r2FromSums, type LossSummary, type SkipReason } from './volatility.ts';
export { mincerZarnowitz, mincerZarnowitzLog, ols, olsFromSums, olsColumns, type LinearFit } from './mincer-zarnowitz.ts';
export { BANDS, bandCoverage, inBand, pinball, pinballLoss, meanPinball, type BandName, type Quantiles } from './quantiles.ts';
export {
  upLabel,
  brierLoss,
  brierScore,
  directionAuc,
  aucOnIndices,
  reliabilityTable,
  expectedCalibrationError,
  eceColumns,
  eceFromSums,
  binOf,
  RELIABILITY_BINS,
  type ReliabilityBin,
} from './direction.ts';
export {
  runExposures,
  volatilityTargeting,
  directionRule,
  MINUTES_PER_YEAR,
  DEFAULT_ECONOMICS,
  type EconomicsOptions,
  type StrategyResult,
  type VolTargetingResult,
  type DirectionRuleResult,
} from './economics.ts';
export { economicsInput, type EconomicsInput } from './economics-input.ts';
export { pairedDifference, PAIRED_METRICS, type PairedDifference, type PairedMetric } from './paired.ts';
export { seriesSkill, type SeriesSkill, type VolatilitySkill, type QuantileSkill, type DirectionSkill, type CoverageSkill, type MzSkill, type DrawsFor } from './series-skill.ts';
export { skillReport, type SkillReport, type SkillReportOptions, type HorizonSkill, type EconomicsReport, type ScatterPoint } from './report.ts';
export type { Verdict } from './verdicts.ts';
export { formatSkillReport } from './format.ts';
export { skillCharts, reliabilityChart, volatilityChart, coverageChart, CHART_NAMES, type ChartName } from './charts.ts';
export { renderSvg } from './svg.ts';
export { writeSkillReport } from './write-report.ts';
