import { z } from 'zod';
import { epochMs, TOKEN_PATTERN } from '../../streams/index.ts';

const token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,32}');

/**
 * `signal.weights.<venue>.<symbol>`: the blend weights the predictor used for the
 * prediction made after bar `ts`, each component's decayed performance, and the
 * weights of the last few bars (the history window, newest last).
 */
export const blendWeightsSchema = z.strictObject({
  venue: token,
  symbol: token,
  ts: epochMs,
  createdAt: epochMs,
  regime: z.string(),
  /** Outcomes scored so far for this symbol. */
  scored: z.number().int().nonnegative(),
  components: z.array(
    z.strictObject({
      role: z.string().min(1),
      version: z.string().min(1),
      weight: z.number().min(0).max(1),
      /** Decayed mean absolute error of the value and mean pUp log loss (null before the first score). */
      meanAbsError: z.number().nullable(),
      meanLogLoss: z.number().nullable(),
      scored: z.number().int().nonnegative(),
    }),
  ),
  history: z.array(z.strictObject({ ts: epochMs, weights: z.record(z.string(), z.number()) })),
  /** Weights per target family and horizon: { return: { "15m": { naive: 0.9, pretrained: 0.1 } }, volatility: { "15m": { har: 0.7, ewma: 0.3 } } }. */
  families: z
    .strictObject({
      return: z.record(z.string(), z.record(z.string(), z.number().min(0).max(1))),
      volatility: z.record(z.string(), z.record(z.string(), z.number().min(0).max(1))),
    })
    .optional(),
});
export type BlendWeights = z.output<typeof blendWeightsSchema>;

/** Dedup id of a weights message: one per venue, symbol and bar. */
export const weightsMsgId = (w: Pick<BlendWeights, 'venue' | 'symbol' | 'ts'>): string => `${w.venue}:${w.symbol}:${w.ts}:weights`;
