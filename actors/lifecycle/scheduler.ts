import type { JetStreamClient } from '@nats-io/jetstream';
import type { Db } from '../../sql/index.ts';
import { countBarsAfter, lastSucceededRetrainAt, listVersions } from '../../sql/index.ts';
import { publishJson, subjects, type RetrainCommand } from '../../streams/index.ts';
import { DEFAULT_FEEDBACK, feedbackDue, type FeedbackPolicy } from './retrain.ts';
import { splitScope } from './versions.ts';

/**
 * Time-based retrain triggers: `schedule` (every `everyMs` per scope with an
 * active model) and `feedback` (checked every `feedbackCheckMs`: N new labelled
 * bars and D days since the last retrain, or the urgent count). They are
 * published as ordinary `model.retrain.cmd` messages with a request id per scope
 * and time slot, used as the dedup id: several lifecycle instances ticking in the
 * same slot produce one command.
 */
export type RetrainSchedule = {
  /** Scheduled retrain of every active venue/symbol scope this often (0 = off). */
  everyMs: number;
  /** How often the feedback policy is evaluated (0 = off). */
  feedbackCheckMs: number;
  policy: FeedbackPolicy;
  /** `config` of the published commands (model size, epochs, ...). */
  config?: Record<string, unknown>;
};

export const DEFAULT_SCHEDULE: RetrainSchedule = { everyMs: 0, feedbackCheckMs: 0, policy: DEFAULT_FEEDBACK };

/** Venue/symbol scopes that have an active model (the ones worth retraining). */
async function activeScopes(db: Db): Promise<{ scope: string; venue: string; symbol: string; dataTo: number; activatedAt: number }[]> {
  const out = new Map<string, { scope: string; venue: string; symbol: string; dataTo: number; activatedAt: number }>();
  for (const v of await listVersions(db, { status: 'active', role: 'pretrained' })) {
    const vs = splitScope(v.scope);
    if (!vs) continue;
    const prev = out.get(v.scope);
    const dataTo = Math.max(prev?.dataTo ?? 0, v.dataTo ?? 0);
    out.set(v.scope, { scope: v.scope, ...vs, dataTo, activatedAt: Math.max(prev?.activatedAt ?? 0, v.activatedAt ?? 0) });
  }
  return [...out.values()];
}

/** One tick: publishes the commands due at `now`; returns their request ids. */
export async function scheduleTick(deps: { db: Db; js: JetStreamClient }, s: RetrainSchedule, now: number, kinds: { schedule: boolean; feedback: boolean }): Promise<string[]> {
  const published: string[] = [];
  const send = async (cmd: RetrainCommand) => {
    await publishJson(deps.js, { subject: subjects.retrainCmd, payload: cmd, msgId: `retrain-cmd:${cmd.requestId}` });
    published.push(cmd.requestId);
  };
  for (const a of await activeScopes(deps.db)) {
    const base = { venue: a.venue, symbol: a.symbol, ...(s.config ? { config: s.config } : {}) };
    if (kinds.schedule && s.everyMs > 0) {
      await send({ ...base, requestId: `schedule-${a.scope}-${Math.floor(now / s.everyMs)}`, trigger: 'schedule' });
    }
    if (kinds.feedback && s.feedbackCheckMs > 0) {
      const newBars = await countBarsAfter(deps.db, a.venue, a.symbol, a.dataTo);
      const last = (await lastSucceededRetrainAt(deps.db, a.scope)) ?? a.activatedAt;
      if (feedbackDue(newBars, (now - last) / 86_400_000, s.policy).due) {
        await send({ ...base, requestId: `feedback-${a.scope}-${Math.floor(now / s.feedbackCheckMs)}`, trigger: 'feedback' });
      }
    }
  }
  return published;
}
