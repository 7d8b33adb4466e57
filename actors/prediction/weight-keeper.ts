import type { Forecast } from '../../models/index.ts';
import { DEFAULT_WEIGHTER_CONFIG, emptyWeightState, joinComponent, scoreOutcome, type WeighterConfig, type WeightState } from './weighter.ts';

/** Evidence phase of a symbol's weights: `prior` (nothing scored), `learning`, `established`. */
export type WeightPhase = 'prior' | 'learning' | 'established';

/**
 * A prediction's component forecasts waiting for the bar they forecast to close
 * (`ts` = open time of the bar the prediction was made after; `adaptive` = the
 * role the drift monitor follows).
 */
export type PendingScore = { readonly ts: number; readonly forecasts: Readonly<Record<string, Forecast>>; readonly adaptive: string };

/**
 * Holder of one symbol's weighter state. The predictor engine calls it on every
 * scored bar; the confidence-weighter actor implements it with a machine per
 * symbol, and `createPureWeightKeeper` with a plain variable (walk-forward, bench).
 */
export interface WeightKeeper {
  readonly state: WeightState;
  readonly phase: WeightPhase;
  /**
   * Scores the components against the realised log return of the bar opened at
   * `ts`. A bar at or before the last one scored is ignored: after a restart from
   * a snapshot, redelivered bars must not be counted twice.
   */
  score(actual: number, forecasts: Readonly<Record<string, Forecast>>, ts?: number): void;
  join(role: string): void;
  /** The forecasts of the latest prediction, to score when its bar closes (kept so a snapshot can carry them). */
  expect?(pending: PendingScore): void;
  /** What a restored keeper was waiting for when its snapshot was taken. */
  readonly restoredPending?: PendingScore | undefined;
  stop(): void;
}

export type WeightKeeperFactory = (venue: string, symbol: string) => WeightKeeper;

/** Scored bars after which a symbol's weights count as established. */
export const ESTABLISHED_AFTER = 60;

export function phaseOf(state: WeightState, establishedAfter = ESTABLISHED_AFTER): WeightPhase {
  return state.scored === 0 ? 'prior' : state.scored < establishedAfter ? 'learning' : 'established';
}

export function createPureWeightKeeper(config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG): WeightKeeperFactory {
  return () => {
    let state = emptyWeightState();
    let scoredThrough: number | undefined;
    return {
      get state() {
        return state;
      },
      get phase() {
        return phaseOf(state);
      },
      score(actual, forecasts, ts) {
        if (ts !== undefined && scoredThrough !== undefined && ts <= scoredThrough) return;
        state = scoreOutcome(state, actual, forecasts, config);
        if (ts !== undefined) scoredThrough = ts;
      },
      join(role) {
        state = joinComponent(state, role, config);
      },
      stop() {},
    };
  };
}
