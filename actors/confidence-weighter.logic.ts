import { createActor } from 'xstate';
import { DEFAULT_WEIGHTER_CONFIG, ESTABLISHED_AFTER, type WeighterConfig, type WeightKeeperFactory, type WeightPhase } from '../prediction/index.ts';
import { confidenceWeighterMachine } from './confidence-weighter.actor.ts';

/**
 * The confidence-weighter actors as the predictor engine's weight keepers: one
 * machine per symbol, created when the symbol is first seen, sent one event per
 * scored bar (a plain synchronous `send`, cheap enough for the hot path).
 */
export function createConfidenceWeighters(config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG, establishedAfter = ESTABLISHED_AFTER): WeightKeeperFactory {
  return () => {
    const actor = createActor(confidenceWeighterMachine, { input: { config, establishedAfter } });
    actor.start();
    return {
      get state() {
        return actor.getSnapshot().context.state;
      },
      get phase(): WeightPhase {
        const s = actor.getSnapshot();
        return s.matches('established') ? 'established' : s.matches('learning') ? 'learning' : 'prior';
      },
      score(actual, forecasts) {
        actor.send({ type: 'weights.scored', actual, forecasts });
      },
      join(role) {
        if (!actor.getSnapshot().context.state.components[role]) actor.send({ type: 'weights.joined', role });
      },
      stop() {
        actor.send({ type: 'weights.stop' });
      },
    };
  };
}
