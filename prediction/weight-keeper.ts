import type { Forecast } from '../models/index.ts';
import { DEFAULT_WEIGHTER_CONFIG, emptyWeightState, joinComponent, scoreOutcome, type WeighterConfig, type WeightState } from './weighter.ts';

/** Evidence phase of a symbol's weights: `prior` (nothing scored), `learning`, `established`. */
export type WeightPhase = 'prior' | 'learning' | 'established';

/**
 * Holder of one symbol's weighter state. The predictor engine calls it on every
 * scored bar; the confidence-weighter actor implements it with a machine per
 * symbol, and `createPureWeightKeeper` with a plain variable (walk-forward, bench).
 */
export interface WeightKeeper {
  readonly state: WeightState;
  readonly phase: WeightPhase;
  score(actual: number, forecasts: Readonly<Record<string, Forecast>>): void;
  join(role: string): void;
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
    return {
      get state() {
        return state;
      },
      get phase() {
        return phaseOf(state);
      },
      score(actual, forecasts) {
        state = scoreOutcome(state, actual, forecasts, config);
      },
      join(role) {
        state = joinComponent(state, role, config);
      },
      stop() {},
    };
  };
}
