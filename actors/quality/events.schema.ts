import { z } from 'zod';
import { epochMs, TOKEN_PATTERN } from '../../streams/index.ts';
import { FINDING_KINDS, GAP_KINDS, HEALTH_STATES } from './types.ts';

/**
 * Messages of the data-quality actors (contract: README "Subjects, streams and KV", subjects
 * `md.gap.<venue>.<symbol>` and `md.quality.<venue>.<symbol>` in stream MD_EVENTS).
 * Discriminated by `type`; times are epoch ms, gap bounds inclusive bar open times.
 */
const token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,32}');

const gapFields = {
  venue: token,
  symbol: token,
  from: epochMs,
  to: epochMs,
  kind: z.enum(GAP_KINDS),
  bars: z.number().int().nonnegative(),
  /** `data_gaps.id` of the gap. */
  gapId: z.number().int().positive(),
};

export const gapEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('gap.detected'), ...gapFields }),
  z.strictObject({
    type: z.literal('gap.filled'),
    ...gapFields,
    rows: z.number().int().nonnegative(),
    method: z.string(),
  }),
  z.strictObject({
    type: z.literal('gap.unfillable'),
    ...gapFields,
    rows: z.number().int().nonnegative(),
    missing: z.number().int().positive(),
    method: z.string(),
  }),
]);
export type GapEvent = z.output<typeof gapEventSchema>;

export const findingSchema = z.strictObject({ kind: z.enum(FINDING_KINDS), ts: epochMs, detail: z.string() });

export const qualityReportSchema = z.strictObject({
  type: z.literal('quality.report'),
  venue: token,
  symbol: token,
  /** First and last bar open time of the window (inclusive). */
  windowFrom: epochMs,
  windowTo: epochMs,
  bars: z.number().int().nonnegative(),
  state: z.enum(HEALTH_STATES),
  findings: z.array(findingSchema),
});
export type QualityReport = z.output<typeof qualityReportSchema>;

export const qualityStateChangedSchema = z.strictObject({
  type: z.literal('quality.state_changed'),
  venue: token,
  symbol: token,
  from: z.enum(HEALTH_STATES),
  to: z.enum(HEALTH_STATES),
  reason: z.string(),
  windowFrom: epochMs,
  windowTo: epochMs,
});
export type QualityStateChanged = z.output<typeof qualityStateChangedSchema>;

/** Everything published on `md.quality.<venue>.<symbol>`. */
export const qualityMessageSchema = z.discriminatedUnion('type', [qualityReportSchema, qualityStateChangedSchema]);
export type QualityMessage = z.output<typeof qualityMessageSchema>;
