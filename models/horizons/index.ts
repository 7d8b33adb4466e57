export { DEFAULT_HORIZONS, horizonLabel, parseHorizons } from './labels.ts';
export { DEFAULT_SIGNAL_SETTINGS, checkSignalSettings, type SignalSettings } from './settings.ts';
export { SymbolSignals, type LearnedForecast, type SignalStep } from './symbol-signals.ts';
export { HarRegression } from './har.ts';
export { ReturnFeatures, HAR_REGRESSORS } from './return-features.ts';
export { PlattCalibrator, ResidualQuantiles } from './calibration.ts';
export { FamilyWeights, GradientWeights, varianceLoss, directionLoss, type FamilyWeightConfig, type GradientWeightConfig } from './family-weights.ts';
export * from './types.ts';
export { outcomesFromPredictions, type PublishedForecast } from './published-outcomes.ts';
