import type { QuantileKey } from '../skill/index.ts';

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

export type FamilyWeightsByHorizon = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** Roles of the baseline components every prediction carries. */
export const BASELINE_ROLES: readonly string[] = ['naive', 'ewma', 'har'];
