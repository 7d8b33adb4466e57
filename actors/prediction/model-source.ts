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

/** The models serving one venue/symbol at one instant. */
export type ModelSnapshot = {
  /** Pretrained candidates, one per regime; the predictor picks by regime (cold start). */
  readonly pretrained: readonly ServingModel[];
  /** The symbol's fine-tuned online model, once one exists. */
  readonly online: ServingModel | undefined;
};
