import type { JetStreamClient } from '@nats-io/jetstream';
import { Cron } from 'croner';
import type { Db } from '../../sql/index.ts';
import { countCorrections, lastTrainedAt, loadIngestState } from '../../sql/index.ts';
import { publishJson, subjects, type RetrainCommand } from '../../streams/index.ts';
import { scopeOf } from './versions.ts';

/**
 * Retraining that runs by itself. Both triggers publish ordinary
 * `model.retrain.cmd` messages whose request id doubles as the JetStream dedup
 * id, so several lifecycle processes ticking at once produce one command:
 *
 * - schedule: at every fire of the cron expression (UTC; default the 1st of the
 *   month at 03:00), each symbol's pretrained model is retrained on its own bars
 *   (request id `schedule-<scope>-<fire time>`);
 * - feedback: a realised 1-minute prediction that got the direction wrong, or
 *   missed by more than `errorBound`, is a correction. When a symbol's corrections
 *   since its online model was last trained reach `minCorrections` and either
 *   `minDays` have passed or they reach `urgentCorrections`, its online model is
 *   retrained (request id `feedback-<scope>-<last training>`: once per training).
 */
export type FeedbackPolicy = { minCorrections: number; minDays: number; urgentCorrections: number; errorBound: number };
export const DEFAULT_FEEDBACK: FeedbackPolicy = { minCorrections: 100, minDays: 7, urgentCorrections: 1_000, errorBound: 0.01 };

export type RetrainSchedule = {
  /** Cron expression (5 or 6 fields, UTC), or undefined for no scheduled retrains. */
  cron: string | undefined;
  /** How often the feedback rule is evaluated (ms; 0 = never). */
  feedbackCheckMs: number;
  policy: FeedbackPolicy;
  /** `config` of the published commands (model size, epochs, ...). */
  config?: Record<string, unknown>;
};

export const DEFAULT_SCHEDULE: RetrainSchedule = { cron: '0 3 1 * *', feedbackCheckMs: 60_000, policy: DEFAULT_FEEDBACK };

/** Pure feedback decision. */
export function feedbackDue(corrections: number, daysSince: number, p: FeedbackPolicy): { due: boolean; why: string } {
  if (corrections >= p.urgentCorrections) return { due: true, why: `${corrections} corrections >= urgent threshold ${p.urgentCorrections}` };
  if (corrections >= p.minCorrections && daysSince >= p.minDays) {
    return { due: true, why: `${corrections} corrections >= ${p.minCorrections} and ${Number.isFinite(daysSince) ? daysSince.toFixed(2) : 'no earlier training:'} days >= ${p.minDays}` };
  }
  return { due: false, why: `${corrections} corrections (need ${p.minCorrections}, urgent ${p.urgentCorrections}) after ${Number.isFinite(daysSince) ? daysSince.toFixed(2) : 'no'} days (need ${p.minDays})` };
}

/** A cron expression for `RETRAIN_SCHEDULE`: `off` (or empty) = none. Throws on a malformed one. */
export function parseSchedule(value: string): string | undefined {
  const v = value.trim();
  if (v === '' || v === 'off') return undefined;
  new Cron(v, { timezone: 'UTC', paused: true }).stop();
  return v;
}

/** The next fire of `cron` strictly after `from` (epoch ms), or undefined. */
export function nextFire(cron: string | undefined, from: number): number | undefined {
  if (!cron) return undefined;
  const job = new Cron(cron, { timezone: 'UTC', paused: true });
  const next = job.nextRun(new Date(from));
  job.stop();
  return next ? next.getTime() : undefined;
}

/** What status shows per symbol scope. */
export type ScopeSchedule = {
  scope: string;
  lastTrainedAt: number | null;
  nextScheduledAt: number | null;
  correctionsSinceTraining: number;
  lastTrigger: string | null;
};

type Deps = { db: Db; js: JetStreamClient };

async function send(deps: Deps, cmd: RetrainCommand): Promise<string> {
  await publishJson(deps.js, { subject: subjects.retrainCmd, payload: cmd, msgId: `retrain-cmd:${cmd.requestId}` });
  return cmd.requestId;
}

/** The symbols ingest knows (one row per venue/symbol in ingest_state). */
async function symbolsOf(db: Db): Promise<{ venue: string; symbol: string }[]> {
  const seen = new Map<string, { venue: string; symbol: string }>();
  for (const r of await loadIngestState(db)) seen.set(`${r.venue}.${r.symbol}`, { venue: r.venue, symbol: r.symbol });
  return [...seen.values()];
}

/** A scheduled fire at `firedAt`: one pretrained retrain per symbol. Returns the request ids. */
export async function scheduledRetrains(deps: Deps, s: RetrainSchedule, firedAt: number): Promise<string[]> {
  const out: string[] = [];
  for (const { venue, symbol } of await symbolsOf(deps.db)) {
    const scope = scopeOf(venue, symbol);
    out.push(await send(deps, { venue, symbol, requestId: `schedule-${scope}-${firedAt}`, trigger: 'schedule', config: { ...s.config, role: 'pretrained' } }));
  }
  return out;
}

/** One evaluation of the feedback rule for every symbol; publishes the retrains due and returns each scope's figures. */
export async function feedbackTick(deps: Deps, s: RetrainSchedule, now: number): Promise<{ published: string[]; scopes: ScopeSchedule[] }> {
  const published: string[] = [];
  const scopes: ScopeSchedule[] = [];
  for (const { venue, symbol } of await symbolsOf(deps.db)) {
    const scope = scopeOf(venue, symbol);
    const trained = (await lastTrainedAt(deps.db, scope, 'online')) ?? null;
    const corrections = await countCorrections(deps.db, venue, symbol, trained ?? 0, s.policy.errorBound);
    const days = trained === null ? Number.POSITIVE_INFINITY : (now - trained) / 86_400_000;
    const due = feedbackDue(corrections, days, s.policy);
    let lastTrigger: string | null = null;
    if (due.due) {
      published.push(await send(deps, { venue, symbol, requestId: `feedback-${scope}-${trained ?? 0}`, trigger: 'feedback', config: { ...s.config, role: 'online' } }));
      lastTrigger = 'feedback';
    }
    scopes.push({ scope, lastTrainedAt: trained, nextScheduledAt: nextFire(s.cron, now) ?? null, correctionsSinceTraining: corrections, lastTrigger });
  }
  return { published, scopes };
}

/**
 * Runs both triggers until `stop()`: croner fires the schedule (protect: a fire
 * still running blocks the next), an interval evaluates the feedback rule.
 */
export function startRetrainScheduler(
  deps: Deps & { onError: (err: unknown, what: string) => void; onScopes?: (scopes: ScopeSchedule[]) => void },
  s: RetrainSchedule,
): { stop(): void; nextScheduledAt(): number | undefined } {
  const job = s.cron
    ? new Cron(s.cron, { timezone: 'UTC', protect: true }, async (self: Cron) => {
        const at = self.currentRun()?.getTime() ?? Date.now();
        await scheduledRetrains(deps, s, at).catch((err: unknown) => deps.onError(err, 'scheduled retrain'));
      })
    : undefined;
  const timer =
    s.feedbackCheckMs > 0
      ? setInterval(() => {
          feedbackTick(deps, s, Date.now()).then(
            (r) => deps.onScopes?.(r.scopes),
            (err: unknown) => deps.onError(err, 'feedback check'),
          );
        }, s.feedbackCheckMs)
      : undefined;
  timer?.unref();
  return {
    stop() {
      job?.stop();
      if (timer) clearInterval(timer);
    },
    nextScheduledAt: () => job?.nextRun()?.getTime() ?? undefined,
  };
}
