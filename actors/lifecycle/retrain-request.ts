import { z } from 'zod';
import { SignalsError } from '../../config/index.ts';
import type { GateConfig } from './gate.ts';
import type { RegistryEnv } from './registry.ts';
import type { Trainer } from './trainer.ts';
import type { VerificationLimits } from './verification.ts';
import { ANY_REGIME } from './versions.ts';

/**
 * What one retrain run is given: the request, its `config` and the dependencies.
 * Kept apart from retrain.ts so that the steps of a run (training, judgement,
 * promotion) can share these types without importing the run that calls them.
 */

const int = (min: number) => z.number().int().min(min);

/** `config` of a retrain command (all optional; defaults are a small, fast model). */
export const retrainConfigSchema = z.strictObject({
  kind: z.enum(['lstm', 'mlp']).default('mlp'),
  lookback: int(1).default(24),
  horizon: int(1).default(1),
  volWindow: int(2).default(30),
  epochs: int(1).default(20),
  batchSize: int(1).default(64),
  learningRate: z.number().positive().default(0.001),
  hiddenUnits: z.array(int(1)).min(1).default([32]),
  dropout: z.number().min(0).max(0.9).default(0.1),
  seed: int(0).default(42),
  patience: int(1).default(3),
  /** The newest bars used for training (train + val + test). */
  maxBars: int(100).default(20_000),
  /** Train on a bars file instead of bars_1m (required for the global scope). */
  csv: z.string().min(1).optional(),
  csvSymbol: z.string().optional(),
  /**
   * Horizon heads (minutes); default the predictors' horizons (`SIGNAL_HORIZONS`) that the
   * bars can train, so a retrained model forecasts what the one it replaces did. `[]`: none,
   * the next minute's value and P(up) only.
   */
  horizons: z.array(int(1).max(1_440)).max(16).optional(),
  role: z.enum(['pretrained', 'online']).default('pretrained'),
  regime: z.string().min(1).default(ANY_REGIME),
  // No gate or verification overrides: thresholds come from the configuration, so no
  // publisher on model.retrain.cmd can weaken them (a command naming them is invalid).
});
export type RetrainConfig = z.output<typeof retrainConfigSchema>;

export type RetrainDeps = {
  env: RegistryEnv;
  trainer: Trainer;
  artifactsDir: string;
  /** Retries after the first failed attempt (default 3). */
  maxRetries?: number;
  retryBaseMs?: number;
  gate?: Partial<GateConfig>;
  verification?: Partial<VerificationLimits>;
  keep?: number;
  /** Horizon heads of a retrained model when its command names none (`SIGNAL_HORIZONS`); none: the 1-minute head only. */
  horizons?: readonly number[];
  /** A challenger that passed the gate: `staged` = shadow, canary, promotion on live evidence; `immediate` (default) = activated at once. */
  rollout?: 'staged' | 'immediate';
  sleep?: (ms: number) => Promise<void>;
  /** Called when a run failed for good (after its retries): the lifecycle raises `ops.alert.retrain_failed`. */
  onFailed?: (failure: { requestId: string; scope: string; trigger: string; attempts: number; error: string }) => void;
  /** Called when an attempt starts (status, tests). */
  onAttempt?: (requestId: string, attempt: number) => void;
};

export type RetrainRequest = { requestId: string; scope: string; trigger: string; config: Record<string, unknown> };

/** A retrain that cannot succeed as asked (bad config, no data source). Not retryable. */
export class RetrainRequestError extends SignalsError {
  override readonly name = 'RetrainRequestError';
  override readonly retryable = false;
}

/**
 * A request's `config` with its defaults filled in, or the one-line reason it is
 * invalid (a path per issue, so the publisher can see which field to fix).
 */
export function parseRetrainConfig(config: Record<string, unknown>): { ok: true; config: RetrainConfig } | { ok: false; error: string } {
  const parsed = retrainConfigSchema.safeParse(config);
  if (parsed.success) return { ok: true, config: parsed.data };
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return { ok: false, error: `invalid retrain config: ${issues}` };
}

/** An error as one line of a result or an event: its class name says what failed. */
export const errMsg = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
