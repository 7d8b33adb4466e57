import { z } from 'zod';
import { TOKEN_PATTERN } from './subjects.ts';

/**
 * Message schemas (contract: ARCHITECTURE.md "Messages"). JSON, numbers as JSON
 * numbers, times as epoch milliseconds.
 */
const token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,32}');

/** Epoch milliseconds. Values below 1e11 (before 1973) are almost surely seconds. */
export const epochMs = z
  .number()
  .int('must be an integer number of epoch milliseconds')
  .min(100_000_000_000, 'must be epoch milliseconds (this looks like seconds)')
  .max(32_503_680_000_000, 'must be before year 3000');

const price = z.number().gt(0, 'must be > 0');
const nonNegative = z.number().min(0, 'must be >= 0');

export const tickSchema = z.strictObject({
  venue: token,
  symbol: token,
  ts: epochMs,
  price,
  size: nonNegative,
  side: z.enum(['buy', 'sell']).optional(),
  // PostgreSQL text cannot hold NUL: such a tick would fail its whole batch on every retry.
  tradeId: z.union([z.string().min(1).max(128).refine((s) => !s.includes('\u0000'), 'must not contain NUL (U+0000)'), z.number().int().nonnegative().transform(String)]),
});
export type Tick = z.output<typeof tickSchema>;

export const BAR_SOURCES = ['live', 'backfill', 'replay', 'interpolated'] as const;
export type BarSource = (typeof BAR_SOURCES)[number];

export const barSchema = z
  .strictObject({
    venue: token,
    symbol: token,
    interval: z.literal('1m'),
    ts: epochMs.refine((ts) => ts % 60_000 === 0, 'must be the open time of a minute'),
    open: price,
    high: price,
    low: price,
    close: price,
    volume: nonNegative,
    trades: z.number().int().nonnegative().optional(),
    source: z.enum(BAR_SOURCES),
  })
  .superRefine((b, ctx) => {
    if (!(b.low <= Math.min(b.open, b.close))) ctx.addIssue({ code: 'custom', path: ['low'], message: 'low must be <= min(open, close)' });
    if (!(Math.max(b.open, b.close) <= b.high)) ctx.addIssue({ code: 'custom', path: ['high'], message: 'high must be >= max(open, close)' });
  });
export type Bar = z.output<typeof barSchema>;

export const predictionComponentSchema = z.strictObject({
  role: z.string().min(1),
  version: z.string().min(1),
  weight: z.number().min(0).max(1),
  value: z.number(),
});

export const predictionSchema = z.strictObject({
  venue: token,
  symbol: token,
  ts: epochMs,
  horizon: z.literal('1m'),
  createdAt: epochMs,
  value: z.number(),
  pUp: z.number().min(0).max(1),
  confidence: z.number().min(0).max(1),
  regime: z.string(),
  components: z.array(predictionComponentSchema),
  quality: z.enum(['ok', 'degraded']),
});
export type Prediction = z.output<typeof predictionSchema>;

export const deadLetterSchema = z.strictObject({
  reason: z.string(),
  issues: z.array(z.string()),
  subject: z.string(),
  receivedAt: epochMs,
  raw: z.string(),
  rawEncoding: z.enum(['utf8', 'base64']),
  streamSeq: z.number().int().optional(),
});
export type DeadLetter = z.output<typeof deadLetterSchema>;

export const RETRAIN_TRIGGERS = ['manual', 'schedule', 'drift', 'feedback'] as const;
export const retrainCommandSchema = z.strictObject({
  requestId: z.string().min(1).max(128),
  symbol: z.string().optional(),
  venue: token.optional(),
  trigger: z.enum(RETRAIN_TRIGGERS),
  config: z.record(z.string(), z.unknown()).optional(),
});
export type RetrainCommand = z.output<typeof retrainCommandSchema>;

export const retrainResultSchema = z.strictObject({
  requestId: z.string(),
  status: z.enum(['succeeded', 'failed', 'skipped']),
  version: z.string().optional(),
  deployed: z.boolean(),
  metrics: z.record(z.string(), z.unknown()).optional(),
  comparison: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
});
export type RetrainResult = z.output<typeof retrainResultSchema>;

/**
 * Value of a key in the KV bucket `model_active` (key `<venue>.<symbol>`, or
 * `default` for every symbol without its own key): the active version of each
 * role. `pretrained` maps a regime name to a version (`any` for a model that
 * serves all regimes). Every predictor, in every process, watches these keys.
 */
export const modelActiveSchema = z.strictObject({
  pretrained: z.record(z.string().min(1), z.string().min(1)),
  online: z.string().min(1).optional(),
  updatedAt: epochMs,
  reason: z.string(),
});
export type ModelActive = z.output<typeof modelActiveSchema>;
