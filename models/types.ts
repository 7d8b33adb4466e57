/**
 * Contracts of the model layer: the bar input every model reads, the feature
 * window every predictor consumes, and the one `Predictor` interface that the
 * neural models and the naive baselines all implement.
 */

/**
 * One OHLCV bar, `ts` = the bar's open time in epoch milliseconds. Structural, so
 * `BarRow` from market/bars-csv.ts and stored bars from sql/ both fit.
 */
export type OhlcvBar = {
  readonly ts: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
};

/**
 * The raw (not normalised) feature rows of `lookback` consecutive bars, oldest
 * first; each row has one value per name in the feature spec's `featureNames`.
 * `ts` is the open time of the last bar: the prediction is made after that bar.
 */
export type FeatureWindow = {
  readonly ts: number;
  readonly rows: readonly Float32Array[];
};

/**
 * A forecast of one horizon h (minutes): `value` = the cumulative log return from
 * the bar's close to the close h minutes later, `pUp` = P(value > 0), `sigma` =
 * its standard deviation (the volatility forecast; sigma² forecasts the realised
 * variance, the sum of the h squared 1-minute log returns).
 */
export type HorizonTargets = { readonly value: number; readonly pUp: number; readonly sigma: number };

/** Horizon label as published: `${minutes}m` ("1m", "5m", "15m", "60m"). */
export type HorizonLabel = `${number}m`;

/**
 * One forecast: `value` = predicted log return over the model's horizon, `pUp` =
 * P(value > 0). Models with multi-horizon heads add `horizons`, keyed by label.
 */
export type Forecast = {
  readonly value: number;
  readonly pUp: number;
  readonly horizons?: Readonly<Partial<Record<HorizonLabel, HorizonTargets>>>;
};

export type ModelKind = 'lstm' | 'mlp';
export type BaselineKind = 'naive-zero' | 'naive-last' | 'naive-ewma';
export type PredictorKind = ModelKind | BaselineKind;

/**
 * Anything that turns feature windows into forecasts. "Not ready" is a value:
 * `predict` returns `undefined` for a window shorter than `lookback` (warm-up).
 * A window longer than `lookback` is read from its last `lookback` rows.
 * Implementations are deterministic and `predictBatch(ws)[i]` equals `predict(ws[i])`.
 */
export interface Predictor {
  readonly kind: PredictorKind;
  readonly lookback: number;
  /** Registry version or run id of a trained model; absent for baselines. */
  readonly version?: string;
  predict(window: FeatureWindow): Forecast | undefined;
  /** Many windows (e.g. one per symbol) in one call; one tensor call for neural models. */
  predictBatch(windows: readonly FeatureWindow[]): (Forecast | undefined)[];
  /** Frees tensors held by the predictor (no-op for baselines). */
  dispose(): void;
}
