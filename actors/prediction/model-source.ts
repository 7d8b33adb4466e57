import type { Predictor } from '../../models/index.ts';

/** Roles a model can serve in the hybrid blend. */
export const MODEL_ROLES = ['pretrained', 'online'] as const;
export type ModelRole = (typeof MODEL_ROLES)[number];

/**
 * A loaded, warmed model as a predictor sees it: the exact registry version it
 * must name in every prediction it contributes to, and the regime it was
 * pretrained for (pretrained role only; `any` = all regimes).
 */
export type ServingModel = {
  readonly role: ModelRole;
  readonly version: string;
  readonly regime: string;
  readonly predictor: Predictor;
};

/**
 * Where predictors get their models. The model lifecycle implements it with a
 * watch on the KV bucket `model_active` (hot swap: the new model is loaded and
 * warmed off the hot path, then the reference is swapped between two bars); tests
 * use an in-memory implementation. `snapshot` is synchronous and cheap: it is
 * called once per bar (or micro-batch) and returns an immutable set, so one
 * prediction never mixes a half-swapped state.
 */
export interface ModelSource {
  snapshot(venue: string, symbol: string): ModelSnapshot;
}

/**
 * A challenger being rolled out where this symbol is served from. In `shadow` it
 * forecasts every bar beside `champion` and serves nothing; in `canary` it
 * serves the symbols of the canary (`canary` true here) in `champion`'s place,
 * and the champion forecasts beside it, so both are scored on the same bars.
 */
export type RolloutServing = {
  readonly id: number;
  readonly stage: 'shadow' | 'canary';
  readonly role: ModelRole;
  /** The version challenged: the rollout applies to bars this version would serve. */
  readonly champion: string;
  readonly challenger: ServingModel;
  /** This symbol is in the canary. */
  readonly canary: boolean;
};

/** The models serving one venue/symbol at one instant. */
export type ModelSnapshot = {
  /** Pretrained candidates, one per regime; the predictor picks by regime (cold start). */
  readonly pretrained: readonly ServingModel[];
  /** The symbol's fine-tuned online model, once one exists. */
  readonly online: ServingModel | undefined;
  /** A rollout in progress for this symbol's models, if any. */
  readonly rollout?: RolloutServing;
};
