import { assign, setup } from 'xstate';
import type { Forecast } from '../models/index.ts';
import { emptyWeightState, joinComponent, scoreOutcome, type WeighterConfig, type WeightState } from '../prediction/index.ts';

export type ConfidenceWeighterInput = { config: WeighterConfig; establishedAfter: number };
export type ConfidenceWeighterContext = ConfidenceWeighterInput & { state: WeightState };
export type ConfidenceWeighterEvent =
  /** The bar a prediction was for closed: every component's forecast against the realised log return. */
  | { type: 'weights.scored'; actual: number; forecasts: Readonly<Record<string, Forecast>> }
  /** A component (e.g. the online model) joins the blend at its prior share. */
  | { type: 'weights.joined'; role: string }
  | { type: 'weights.stop' };

/**
 * confidenceWeighter: one symbol's blend weights. Lifecycle by evidence: `prior`
 * (nothing scored: the configured prior), `learning` (fewer than
 * `establishedAfter` scored bars), `established`. Each scored bar updates the
 * exponentially decayed losses (prediction/weighter.ts, pure); the predictor
 * reads the weights from the snapshot's context.
 */
export const confidenceWeighterMachine = setup({
  types: {
    context: {} as ConfidenceWeighterContext,
    events: {} as ConfidenceWeighterEvent,
    input: {} as ConfidenceWeighterInput,
  },
  actions: {
    score: assign({
      state: ({ context, event }) => (event.type === 'weights.scored' ? scoreOutcome(context.state, event.actual, event.forecasts, context.config) : context.state),
    }),
    join: assign({
      state: ({ context, event }) => (event.type === 'weights.joined' ? joinComponent(context.state, event.role, context.config) : context.state),
    }),
  },
  guards: {
    established: ({ context }) => context.state.scored >= context.establishedAfter,
  },
}).createMachine({
  id: 'confidenceWeighter',
  context: ({ input }) => ({ ...input, state: emptyWeightState() }),
  initial: 'prior',
  on: {
    'weights.joined': { actions: 'join' },
    'weights.stop': '.stopped',
  },
  states: {
    prior: {
      on: { 'weights.scored': { target: 'learning', actions: 'score' } },
    },
    learning: {
      always: { guard: 'established', target: 'established' },
      on: { 'weights.scored': { target: 'learning', reenter: true, actions: 'score' } },
    },
    established: {
      on: { 'weights.scored': { actions: 'score' } },
    },
    stopped: { type: 'final' },
  },
});
