import { assign, setup } from 'xstate';
import type { Forecast } from '../../models/index.ts';
import { emptyWeightState, joinComponent, scoreOutcome, type WeighterConfig, type WeightState } from './index.ts';

/**
 * Version of this machine's definition as persisted in `actor_snapshots`. Bump it
 * when the states or the persisted snapshot (`confidenceWeighterSnapshotSchema`:
 * this memory plus the keeper's pending forecasts) change shape: snapshots of
 * another version are ignored with a warning.
 */
export const CONFIDENCE_WEIGHTER_DEFINITION = '2';

/** What a weighter learns and must survive a restart: the decayed losses, the last bar scored. */
export type ConfidenceWeighterMemory = {
  state: WeightState;
  /** Open time of the last bar whose outcome was scored (a redelivered bar at or before it is not scored again). */
  scoredThrough: number | undefined;
};

export type ConfidenceWeighterInput = { config: WeighterConfig; establishedAfter: number; restored?: ConfidenceWeighterMemory };
export type ConfidenceWeighterContext = Omit<ConfidenceWeighterInput, 'restored'> & ConfidenceWeighterMemory;
export type ConfidenceWeighterEvent =
  /** The bar a prediction was for (opened at `ts`) closed: every component's forecast against the realised log return. */
  | { type: 'weights.scored'; actual: number; forecasts: Readonly<Record<string, Forecast>>; ts?: number }
  /** A component (e.g. the online model) joins the blend at its prior share. */
  | { type: 'weights.joined'; role: string }
  | { type: 'weights.stop' };

/**
 * confidenceWeighter: one symbol's blend weights. Lifecycle by evidence: `prior`
 * (nothing scored: the configured prior), `learning` (fewer than
 * `establishedAfter` scored bars), `established`. Each scored bar updates the
 * exponentially decayed losses (prediction/weighter.ts, pure); the predictor
 * reads the weights from the snapshot's context. Restored from a snapshot (input
 * `restored`), it resumes in the phase its evidence says.
 */
export const confidenceWeighterMachine = setup({
  types: {
    context: {} as ConfidenceWeighterContext,
    events: {} as ConfidenceWeighterEvent,
    input: {} as ConfidenceWeighterInput,
  },
  actions: {
    score: assign(({ context, event }) =>
      event.type === 'weights.scored'
        ? { state: scoreOutcome(context.state, event.actual, event.forecasts, context.config), scoredThrough: event.ts ?? context.scoredThrough }
        : {},
    ),
    join: assign({
      state: ({ context, event }) => (event.type === 'weights.joined' ? joinComponent(context.state, event.role, context.config) : context.state),
    }),
  },
  guards: {
    established: ({ context }) => context.state.scored >= context.establishedAfter,
    hasEvidence: ({ context }) => context.state.scored > 0,
    /** A bar not scored yet (always true without a ts). */
    newOutcome: ({ context, event }) =>
      event.type === 'weights.scored' && (event.ts === undefined || context.scoredThrough === undefined || event.ts > context.scoredThrough),
  },
}).createMachine({
  id: 'confidenceWeighter',
  context: ({ input }) => ({
    config: input.config,
    establishedAfter: input.establishedAfter,
    state: input.restored?.state ?? emptyWeightState(),
    scoredThrough: input.restored?.scoredThrough,
  }),
  initial: 'prior',
  on: {
    'weights.joined': { actions: 'join' },
    'weights.stop': '.stopped',
  },
  states: {
    prior: {
      always: { guard: 'hasEvidence', target: 'learning' },
      on: { 'weights.scored': { guard: 'newOutcome', target: 'learning', actions: 'score' } },
    },
    learning: {
      always: { guard: 'established', target: 'established' },
      on: { 'weights.scored': { guard: 'newOutcome', target: 'learning', reenter: true, actions: 'score' } },
    },
    established: {
      on: { 'weights.scored': { guard: 'newOutcome', actions: 'score' } },
    },
    stopped: { type: 'final' },
  },
});
