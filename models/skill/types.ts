import type { HorizonLabel } from '../types.ts';

/** Quantile levels published with every horizon forecast. */
export const QUANTILE_LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95] as const;
export type QuantileKey = 'q05' | 'q25' | 'q50' | 'q75' | 'q95';
/** The key of each level of QUANTILE_LEVELS, in the same order. */
export const QUANTILE_KEYS = ['q05', 'q25', 'q50', 'q75', 'q95'] as const satisfies readonly QuantileKey[];

/** What one series (the blend or one component) forecast for one origin bar and horizon; any target may be absent (a volatility-only baseline has no pUp). */
export type TargetForecast = { value?: number; pUp?: number; sigma?: number; quantiles?: Partial<Record<QuantileKey, number>> };

/** One realised outcome of one horizon at one origin bar. */
export type HorizonOutcome = {
  ts: number; // open time (epoch ms) of the origin bar (the forecast is made at its close)
  horizon: HorizonLabel; // "1m" | "5m" | "15m" | "60m" | any `${n}m`
  minutes: number; // h
  realisedReturn: number; // ln(close[t+h] / close[t])
  realisedVariance: number; // sum of the h squared 1-minute log returns over (t, t+h]
  forecasts: Record<string, TargetForecast>; // by series name: 'blend', 'naive', 'ewma', 'har', 'pretrained', 'online', ...
};

/** A point estimate with its moving-block bootstrap 95 % percentile interval. */
export type Interval = { value: number; lo: number; hi: number };
