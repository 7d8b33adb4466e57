import { z } from 'zod';
import { TOKEN_PATTERN } from './subjects.ts';

/**
 * Message schemas (contract: README "Subjects, streams and KV"). JSON, numbers as JSON
 * numbers, times as epoch milliseconds.
 */

// Node 20 has String.prototype.isWellFormed; the project's TypeScript lib (ES2023) does not declare it yet.
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * What makes a string unfit to be stored or keyed as text, or `undefined` when it is fit.
 * JSON can carry a lone UTF-16 surrogate (`"\ud800"`), which is not Unicode: encoded
 * for PostgreSQL (or any UTF-8 sink) it becomes U+FFFD, so strings that differ only there
 * collapse into one key while JavaScript still sees them as different. PostgreSQL text
 * cannot hold NUL at all. Both would fail (or silently merge) downstream, so they are
 * refused where messages come in.
 */
export function textProblem(s: string): string | undefined {
  if (!isWellFormed(s)) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        const next = s.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
        return `must be well-formed Unicode (lone surrogate at index ${i})`;
      }
      if (c >= 0xdc00 && c <= 0xdfff) return `must be well-formed Unicode (lone surrogate at index ${i})`;
    }
  }
  const nul = s.indexOf('\u0000');
  if (nul !== -1) return `must not contain NUL (U+0000) (at index ${nul})`;
  return undefined;
}

/**
 * A string that is well-formed Unicode (no lone surrogate) and holds no NUL (see
 * `textProblem`). Every free-text string of an inbound message is one of these;
 * chain `.min()`/`.max()` as on `z.string()`.
 */
export const text = (): z.ZodString =>
  z.string().superRefine((s, ctx) => {
    const problem = textProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: s });
  });

/** `s` with each lone surrogate written as a `\\uXXXX` escape, so an issue can name a bad key without carrying it. */
function escapeLoneSurrogates(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

function checkKey(k: string, path: (string | number)[], ctx: z.RefinementCtx): boolean {
  const problem = textProblem(k);
  if (problem === undefined) return true;
  ctx.addIssue({ code: 'custom', path: [...path, escapeLoneSurrogates(k)], message: `key ${problem}`, input: k });
  return false;
}

/** For a `z.record`: every key must be well-formed text (see `textProblem`). */
const textKeys = (record: Record<string, unknown>, ctx: z.RefinementCtx): void => {
  for (const k of Object.keys(record)) checkKey(k, [], ctx);
};

/**
 * Checks every string inside a JSON value (object keys too) with `textProblem`, for
 * free-form objects such as a retrain command's `config`. Iterative, so a deeply
 * nested payload cannot overflow the stack.
 */
function checkTextDeep(value: unknown, ctx: z.RefinementCtx): void {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  let reported = 0;
  while (stack.length > 0 && reported < 20) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path, message: problem, input: v });
        reported++;
      }
    } else if (Array.isArray(v)) {
      v.forEach((item: unknown, i) => stack.push({ v: item, path: [...path, i] }));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (!checkKey(k, path, ctx)) {
          reported++;
          continue;
        }
        stack.push({ v: item, path: [...path, k] });
      }
    }
  }
}

/** Venue and symbol: ASCII tokens (so well-formed and NUL-free by construction), safe in a subject. */
const token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,32}');

/** Epoch milliseconds. Values below 1e11 (before 1973) are almost surely seconds. */
export const epochMs = z
  .number()
  .int('must be an integer number of epoch milliseconds')
  .min(100_000_000_000, 'must be epoch milliseconds (this looks like seconds)')
  .max(32_503_680_000_000, 'must be before year 3000');

/**
 * Upper bounds of market numbers. A finite double is not enough: PostgreSQL closes a
 * bar with the exact decimal sum of its sizes cast back to float8, and two sizes of
 * 1.5e308 in one minute overflow that cast (SQLSTATE 22003). The bounds are far above
 * anything traded and far below where sums, products and squares stop being finite:
 * - price <= 1e15: the dearest listed instruments quote around 1e6, hyperinflated
 *   currencies around 1e12; up there a double still resolves an eighth of a unit
 *   (integers are exact up to 2^53, about 9e15), and price x size stays <= 1e33.
 * - size <= 1e18: the largest trades (low-priced tokens) are around 1e15 units; a
 *   minute would need 1e290 such ticks for its volume to overflow.
 * - bar volume <= 1e30: the sum of 1e12 maximal ticks, more than any minute can hold,
 *   so every bar closed from valid ticks is a valid Bar; 5m/1h sums stay finite too.
 * - bar trades <= 2^31 - 1: the `trades` column is a PostgreSQL integer.
 */
export const MAX_PRICE = 1e15;
export const MAX_SIZE = 1e18;
export const MAX_BAR_VOLUME = 1e30;
export const MAX_BAR_TRADES = 2_147_483_647;

const price = z.number().gt(0, 'must be > 0').max(MAX_PRICE, 'must be <= 1e15');
const size = z.number().min(0, 'must be >= 0').max(MAX_SIZE, 'must be <= 1e18');
const volume = z.number().min(0, 'must be >= 0').max(MAX_BAR_VOLUME, 'must be <= 1e30');

export const tickSchema = z.strictObject({
  venue: token,
  symbol: token,
  ts: epochMs,
  price,
  size,
  side: z.enum(['buy', 'sell']).optional(),
  // Part of the key: a lone surrogate would collapse distinct ids into one row, a NUL fail its batch on every retry.
  tradeId: z.union([text().min(1).max(128), z.number().int().nonnegative().transform(String)]),
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
    volume,
    trades: z.number().int().nonnegative().max(MAX_BAR_TRADES, 'must be <= 2147483647').optional(),
    source: z.enum(BAR_SOURCES),
  })
  .superRefine((b, ctx) => {
    if (!(b.low <= Math.min(b.open, b.close))) ctx.addIssue({ code: 'custom', path: ['low'], message: 'low must be <= min(open, close)' });
    if (!(Math.max(b.open, b.close) <= b.high)) ctx.addIssue({ code: 'custom', path: ['high'], message: 'high must be >= max(open, close)' });
  });
export type Bar = z.output<typeof barSchema>;

/** A horizon label as published: whole minutes, e.g. "1m", "5m", "15m", "60m". */
export const horizonKey = z.string().regex(/^[1-9][0-9]{0,3}m$/, 'must be whole minutes like "15m"');

/** One horizon's forecast: cumulative log return to the close h minutes later, P(up), its standard deviation and quantiles. */
export const horizonForecastSchema = z.strictObject({
  value: z.number(),
  pUp: z.number().min(0).max(1),
  sigma: z.number().nonnegative(),
  q05: z.number(),
  q25: z.number(),
  q50: z.number(),
  q75: z.number(),
  q95: z.number(),
});
export type HorizonForecastMessage = z.output<typeof horizonForecastSchema>;

/** What one component forecast for a horizon (each target it has) and its weight in each family it takes part in. */
export const componentHorizonSchema = z.strictObject({
  value: z.number().optional(),
  pUp: z.number().min(0).max(1).optional(),
  sigma: z.number().nonnegative().optional(),
  returnWeight: z.number().min(0).max(1).optional(),
  volatilityWeight: z.number().min(0).max(1).optional(),
});

export const predictionComponentSchema = z.strictObject({
  role: z.string().min(1),
  version: z.string().min(1),
  /** Weight in the 1-minute return blend (0 for a volatility-only component). */
  weight: z.number().min(0).max(1),
  /** 1-minute return forecast (0 for a volatility-only component). */
  value: z.number(),
  horizons: z.record(horizonKey, componentHorizonSchema).optional(),
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
  /** Standard deviation of the next 1-minute log return (the 1m volatility forecast). */
  sigma: z.number().nonnegative().optional(),
  /** Every configured horizon's forecast, by label. */
  horizons: z.record(horizonKey, horizonForecastSchema).optional(),
});
export type Prediction = z.output<typeof predictionSchema>;

/**
 * A challenger's forecast in shadow (`signal.shadow.<venue>.<symbol>`): the
 * Prediction shape with the challenger's own forecast as value, pUp and sigma,
 * plus the version it came from. It serves nothing; it is scored like the
 * served components.
 */
export const shadowPredictionSchema = predictionSchema.extend({ version: text().min(1) });
export type ShadowPrediction = z.output<typeof shadowPredictionSchema>;

export const deadLetterSchema = z.strictObject({
  reason: z.string(),
  issues: z.array(z.string()),
  subject: z.string(),
  receivedAt: epochMs,
  raw: z.string(),
  rawEncoding: z.enum(['utf8', 'base64']),
  streamSeq: z.number().int().optional(),
  /** Set when only a prefix of the raw payload is kept (the whole would not fit in one NATS message). */
  truncated: z.literal(true).optional(),
  /** Length and sha256 (hex) of the whole raw payload, when truncated. */
  rawBytes: z.number().int().nonnegative().optional(),
  rawSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type DeadLetter = z.output<typeof deadLetterSchema>;

export const RETRAIN_TRIGGERS = ['manual', 'schedule', 'drift', 'feedback'] as const;
export const retrainCommandSchema = z.strictObject({
  requestId: text().min(1).max(128),
  symbol: text().optional(),
  venue: token.optional(),
  trigger: z.enum(RETRAIN_TRIGGERS),
  // Free-form, but every string in it (keys too) must be well-formed text like any other field.
  config: z.record(z.string(), z.unknown()).superRefine(checkTextDeep).optional(),
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
export const ROLLOUT_STAGES = ['shadow', 'canary'] as const;
export type RolloutStage = (typeof ROLLOUT_STAGES)[number];

/**
 * A challenger being rolled out in a scope: in `shadow` it forecasts beside the
 * champion and serves nothing; in `canary` it serves the symbols listed in
 * `canary` (`<venue>.<symbol>`) in place of `champion`. Written by the model
 * lifecycle from the database (table model_rollouts), read by every predictor.
 */
export const rolloutValueSchema = z.strictObject({
  id: z.number().int().positive(),
  stage: z.enum(ROLLOUT_STAGES),
  role: z.enum(['pretrained', 'online']),
  regime: text().min(1),
  /** The challenger's version. */
  version: text().min(1),
  /** The version it challenges (the one it replaces where it serves). */
  champion: text().min(1),
  canary: z.array(text().min(1)).max(10_000),
  startedAt: epochMs,
  stageAt: epochMs,
});
export type RolloutValue = z.output<typeof rolloutValueSchema>;

export const modelActiveSchema = z.strictObject({
  pretrained: z.record(z.string().min(1), text().min(1)).superRefine(textKeys),
  online: text().min(1).optional(),
  /** The scope's rollout in progress, if any. */
  rollout: rolloutValueSchema.optional(),
  updatedAt: epochMs,
  reason: text(),
});
export type ModelActive = z.output<typeof modelActiveSchema>;
