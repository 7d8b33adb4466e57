import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { forwardTo, type EndpointReply } from '../ops/index.ts';
import { TOKEN_PATTERN } from '../streams/index.ts';

const token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,32}');

const retrainBody = z.strictObject({ venue: token, symbol: token });
const rollbackBody = z.strictObject({
  scope: z.string().regex(/^(global|[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{1,32})$/, 'must be global or <venue>.<symbol>'),
  role: z.enum(['pretrained', 'online']),
  regime: z.string().min(1).max(64).optional(),
});

export const ACTIONS = ['retrain', 'rollback'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * The operator actions, sent to the same `signals.<endpoint>` service endpoints
 * the CLI uses, so the lifecycle decides and records them exactly as it would
 * for `signals models retrain|rollback`.
 */
export async function runAction(nc: NatsConnection, action: Action, body: unknown): Promise<EndpointReply> {
  const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  if (action === 'retrain') {
    const b = retrainBody.safeParse(body);
    if (!b.success) return { ok: false, code: 400, message: b.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
    return forwardTo(nc, 'signals.retrain')(encode({ venue: b.data.venue, symbol: b.data.symbol, trigger: 'manual' }));
  }
  const b = rollbackBody.safeParse(body);
  if (!b.success) return { ok: false, code: 400, message: b.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return forwardTo(nc, 'signals.rollback')(encode({ ...b.data, reason: 'requested from the dashboard', actor: 'dashboard' }));
}
