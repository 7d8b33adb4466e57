import { z } from 'zod';
import { epochMs, MODEL_EVENT_KINDS } from '../../streams/index.ts';

/**
 * Payload of `model.events.<kind>` (MODEL_EVENTS). One shape for every kind:
 * `version` is the version the event is about (deployed / rejected / rolled back
 * to / refused / retired; a rollout's challenger for `shadow_started`,
 * `canary_started` and `promoted`), `from` the one it replaced or challenges (for
 * a rollout's `rolledback`, the challenger), `reasons` why.
 */
export const modelEventSchema = z.strictObject({
  kind: z.enum(MODEL_EVENT_KINDS),
  scope: z.string().min(1),
  role: z.enum(['pretrained', 'online']),
  regime: z.string().optional(),
  version: z.string().min(1),
  from: z.string().optional(),
  reasons: z.array(z.string()),
  actor: z.string().min(1),
  at: epochMs,
  /** Where it happened (e.g. `gate`, `verification`, `load`, `auto-rollback`). */
  stage: z.string().optional(),
  /** The process that observed it (for `load` refusals, one per predictor process). */
  source: z.string().optional(),
  comparison: z.record(z.string(), z.unknown()).optional(),
  /** Milliseconds from the decision to the KV write (rollbacks). */
  latencyMs: z.number().nonnegative().optional(),
});
export type ModelEvent = z.output<typeof modelEventSchema>;
