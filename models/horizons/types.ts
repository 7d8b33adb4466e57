import type { HorizonLabel } from '../types.ts';

export type QuantileKey = 'q05' | 'q25' | 'q50' | 'q75' | 'q95';
export const QUANTILE_KEYS: readonly QuantileKey[] = ['q05', 'q25', 'q50', 'q75', 'q95'];
export const QUANTILE_LEVELS: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.95];

/** The published forecast of one horizon: the blend's return, P(up), volatility and quantiles of the return. */
export type HorizonForecast = { readonly value: number; readonly pUp: number; readonly sigma: number } & Readonly<Record<QuantileKey, number>>;

/** What one component forecast for one horizon, with its weight in each family it takes part in. */
export type ComponentTargets = {
  readonly value?: number;
  readonly pUp?: number;
  readonly sigma?: number;
  readonly returnWeight?: number;
  readonly volatilityWeight?: number;
};

export type SignalComponent = {
  readonly role: string;
  readonly version: string;
  readonly horizons: Readonly<Record<string, ComponentTargets>>;
};

/** Any target may be absent: a volatility baseline has no pUp, a return baseline no sigma. */
export type TargetForecast = { value?: number; pUp?: number; sigma?: number; quantiles?: Partial<Record<QuantileKey, number>> };

/** One realised outcome of one horizon at one origin bar, with what every series had forecast for it. */
export type HorizonOutcome = {
  /** Open time of the origin bar (the forecast is made at its close). */
  ts: number;
  horizon: HorizonLabel;
  minutes: number;
  /** ln(close[t+h] / close[t]). */
  realisedReturn: number;
  /** Sum of the h squared 1-minute log returns over (t, t+h]. */
  realisedVariance: number;
  /** By series: 'blend' and every component role. */
  forecasts: Record<string, TargetForecast>;
};

export type FamilyWeightsByHorizon = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** Roles of the baseline components every prediction carries. */
export const BASELINE_ROLES: readonly string[] = ['naive', 'ewma', 'har'];
