import type { Logger } from '../../config/index.ts';
import { getVersion, insertRolloutOutcomes, openRollouts, readRolloutOutcomes, rolloutEvidenceSize, type RolloutOutcome, type RolloutRow } from '../../sql/index.ts';
import type { LiveOutcome } from '../prediction/index.ts';
import { rolloutRollbackAlert, type RaiseAlert } from './lifecycle-alerts.ts';
import type { LifecycleLoopEvent } from './model-lifecycle.machine.ts';
import { syncKv, type RegistryEnv } from './registry.ts';
import { chooseCanary } from './rollout-canary.ts';
import { judgeRollout, verdictText, type RolloutTestConfig, type RolloutVerdict } from './rollout-evidence.ts';
import { closeOvertakenRollout, promoteRollout, rollBackRollout, startCanary } from './rollout-steps.ts';
import { GLOBAL_SCOPE } from './versions.ts';

/** How a rollout moves on: the paired test's settings and the stage lengths (ROLLOUT_*). */
export type RolloutConfig = RolloutTestConfig & {
  shadowOutcomes: number;
  canaryFraction: number;
  checkEvery: number;
  maxOutcomes: number;
};

export type RolloutMonitorContext = {
  env: RegistryEnv;
  log: Logger;
  alert: RaiseAlert;
  config: RolloutConfig;
  /** Tells the machine of a rollback. */
  send?: (e: Extract<LifecycleLoopEvent, { type: 'model.rolledback' }>) => void;
  /** How often buffered outcomes are stored and judged (default 250 ms). */
  flushMs?: number;
  /** How often rollouts started or ended elsewhere are picked up (default 2 s). */
  reloadMs?: number;
};

/** Outcomes of one rollout kept in memory while they cannot be stored. */
const MAX_BUFFERED = 50_000;

type Tracked = { row: RolloutRow; buffer: RolloutOutcome[]; count: number; looked: number; last: RolloutVerdict | undefined };

/** What `status` says about an open rollout. */
export type RolloutStatus = {
  id: number;
  scope: string;
  stage: string;
  version: string;
  champion: string;
  canary: string[];
  outcomes: number;
  verdict: Pick<RolloutVerdict, 'decision' | 'meanDiff' | 'lower' | 'upper' | 'look'> | null;
};

/**
 * Follows every open rollout on the realised outcomes of this process: each bar
 * on which the champion and the challenger both forecast is stored once (table
 * rollout_outcomes, so a restart resumes with the evidence it had), and the
 * paired test (rollout-evidence.ts) moves the rollout on: shadow -> canary after
 * `shadowOutcomes`, canary -> promoted once not worse over `promoteOutcomes`,
 * rolled back the first look it is significantly worse (in shadow too), and
 * ended keeping the champion after `maxOutcomes` without a decision. Every
 * decision re-reads the evidence from the database and each step is guarded by
 * the stage it starts from, so processes that each see part of the symbols judge
 * the same evidence and cannot take one step twice.
 */
export class RolloutMonitor {
  private readonly tracked = new Map<number, Tracked>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private lastReload = 0;
  private readonly log: Logger;

  constructor(private readonly ctx: RolloutMonitorContext) {
    this.log = ctx.log.child({ actor: 'rollout' });
  }

  /** Loads the open rollouts and their evidence so far, repairs their KV entries, and starts judging. */
  async start(): Promise<void> {
    await this.reload();
    for (const t of this.tracked.values()) {
      // A KV entry that lost the rollout (restore, bucket lost) gets it back: the predictors must run it.
      await syncKv(this.ctx.env.kv, this.ctx.env.db, t.row.scope, `resume rollout ${t.row.id} (${t.row.stage})`, (this.ctx.env.now ?? Date.now)());
    }
    this.timer = setInterval(() => this.tick(), this.ctx.flushMs ?? 250);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    // What is buffered is stored: the next start judges it.
    await this.flushAll(false).catch((err: unknown) => this.log.warn({ err }, 'rollout outcomes not stored at stop'));
  }

  /** One realised outcome of this process: kept when it pairs the champion and the challenger of an open rollout. */
  observe(o: LiveOutcome): void {
    if (!Number.isFinite(o.actual)) return;
    for (const t of this.tracked.values()) {
      const r = t.row;
      if (r.scope !== GLOBAL_SCOPE && r.scope !== `${o.venue}.${o.symbol}`) continue;
      const all = [...o.components, ...(o.shadow ?? [])];
      const champion = all.find((c) => c.role === r.role && c.version === r.champion);
      const challenger = all.find((c) => c.role === r.role && c.version === r.version);
      if (!champion || !challenger) continue;
      // The database is away for long: the oldest unstored outcomes go first (the test only needs enough of them).
      if (t.buffer.length >= MAX_BUFFERED) t.buffer.shift();
      t.buffer.push({
        venue: o.venue,
        symbol: o.symbol,
        ts: o.ts,
        stage: r.stage,
        actual: o.actual,
        championValue: champion.value,
        championPUp: champion.pUp,
        challengerValue: challenger.value,
        challengerPUp: challenger.pUp,
      });
    }
  }

  /**
   * Ends the rollout whose challenger is `version` (its live skill fell below the
   * rollback threshold while it served a canary). False when no open rollout has it.
   */
  async rollBackChallenger(version: string, reason: string): Promise<boolean> {
    const t = [...this.tracked.values()].find((x) => x.row.version === version);
    if (!t) return false;
    await this.rollBack(t, reason, undefined, 'auto-rollback');
    return true;
  }

  status(): RolloutStatus[] {
    return [...this.tracked.values()].map((t) => ({
      id: t.row.id,
      scope: t.row.scope,
      stage: t.row.stage,
      version: t.row.version,
      champion: t.row.champion,
      canary: t.row.canary,
      outcomes: t.count,
      verdict: t.last ? { decision: t.last.decision, meanDiff: t.last.meanDiff, lower: t.last.lower, upper: t.last.upper, look: t.last.look } : null,
    }));
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.flushAll(true)
      .catch((err: unknown) => this.log.warn({ err }, 'rollout step failed; retried on the next outcomes'))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async flushAll(decide: boolean): Promise<void> {
    const now = Date.now();
    if (decide && now - this.lastReload >= (this.ctx.reloadMs ?? 2_000)) await this.reload();
    for (const t of [...this.tracked.values()]) {
      if (t.buffer.length > 0) {
        const rows = t.buffer.splice(0);
        const stored = await insertRolloutOutcomes(this.ctx.env.db, t.row.id, rows).catch((err: unknown) => {
          t.buffer.unshift(...rows);
          throw err;
        });
        if (stored.length > 0) t.count = (await rolloutEvidenceSize(this.ctx.env.db, t.row.id)).n;
      }
      if (decide) await this.decide(t);
    }
  }

  /** Picks up rollouts started elsewhere (the retrain flow, the service, another process) and drops ended ones. */
  private async reload(): Promise<void> {
    this.lastReload = Date.now();
    const open = await openRollouts(this.ctx.env.db);
    const ids = new Set(open.map((r) => r.id));
    for (const id of this.tracked.keys()) if (!ids.has(id)) this.tracked.delete(id);
    for (const row of open) {
      if (await this.overtaken(row)) {
        this.tracked.delete(row.id);
        continue;
      }
      const t = this.tracked.get(row.id);
      if (t) {
        t.row = row;
        continue;
      }
      const n = (await rolloutEvidenceSize(this.ctx.env.db, row.id)).n;
      // The next look is at the next multiple of checkEvery: a look already taken before a restart is not taken again.
      this.tracked.set(row.id, { row, buffer: [], count: n, looked: Math.floor(n / this.ctx.config.checkEvery), last: undefined });
      this.log.info({ rolloutId: row.id, scope: row.scope, stage: row.stage, version: row.version, outcomes: n }, 'following rollout');
    }
  }

  /**
   * A rollout whose champion no longer serves (replaced by hand or rolled back)
   * cannot be judged against it: it ends and its challenger would have to pass
   * the gate against the new champion. One whose challenger was activated by hand
   * is closed as promoted.
   */
  private async overtaken(row: RolloutRow): Promise<boolean> {
    const [challenger, champion] = await Promise.all([getVersion(this.ctx.env.db, row.version), getVersion(this.ctx.env.db, row.champion)]);
    if (challenger?.status === 'active') {
      await closeOvertakenRollout(this.ctx.env, row, `${row.version} was activated outside the rollout`);
      this.log.info({ rolloutId: row.id, version: row.version }, 'rollout closed: its challenger was activated by hand');
      return true;
    }
    if (champion?.status !== 'active') {
      const t: Tracked = { row, buffer: [], count: 0, looked: 0, last: undefined };
      await this.rollBack(t, `champion ${row.champion} no longer serves (${champion?.status ?? 'missing'}): the rollout is abandoned`, undefined);
      return true;
    }
    return false;
  }

  private async decide(t: Tracked): Promise<void> {
    const c = this.ctx.config;
    const look = Math.floor(t.count / c.checkEvery);
    if (look > t.looked) {
      const evidence = await readRolloutOutcomes(this.ctx.env.db, t.row.id);
      const verdict = judgeRollout(evidence, look, c);
      t.last = verdict;
      this.log.info({ rolloutId: t.row.id, stage: t.row.stage, ...verdict }, 'rollout look');
      if (verdict.decision === 'worse') {
        await this.rollBack(t, `significantly worse than ${t.row.champion}: ${verdictText(verdict)}`, verdict);
        return;
      }
      if (t.row.stage === 'canary' && verdict.decision === 'not_worse') {
        await this.promote(t, verdict);
        return;
      }
      // Marked taken only once acted on: a step that failed is tried again at the next tick.
      t.looked = look;
    }
    if (t.row.stage === 'shadow' && t.count >= c.shadowOutcomes) {
      await this.canary(t);
      return;
    }
    if (t.count >= c.maxOutcomes) {
      const verdict = t.last ?? judgeRollout(await readRolloutOutcomes(this.ctx.env.db, t.row.id), Math.max(1, look), c);
      await this.rollBack(t, `undecided after ${t.count} outcomes (ROLLOUT_MAX_OUTCOMES): the champion stays: ${verdictText(verdict)}`, verdict);
    }
  }

  private async canary(t: Tracked): Promise<void> {
    const { symbols } = await rolloutEvidenceSize(this.ctx.env.db, t.row.id);
    const scopeSymbols = t.row.scope === GLOBAL_SCOPE ? symbols : [t.row.scope];
    const canary = chooseCanary(scopeSymbols, this.ctx.config.canaryFraction);
    const reason = `${t.count} shadow outcomes; canary on ${canary.length} of ${scopeSymbols.length} symbol(s) (${(100 * this.ctx.config.canaryFraction).toFixed(1)} %)`;
    const res = await startCanary(this.ctx.env, t.row, { canary, reason, ...(t.last ? { comparison: { verdict: t.last } } : {}) });
    if (res) t.row = res.rollout;
  }

  private async promote(t: Tracked, verdict: RolloutVerdict): Promise<void> {
    const reason = `not worse than ${t.row.champion} on live outcomes: ${verdictText(verdict)}`;
    await promoteRollout(this.ctx.env, t.row, { reason, decision: { verdict } });
    this.tracked.delete(t.row.id);
  }

  private async rollBack(t: Tracked, reason: string, verdict: RolloutVerdict | undefined, actor = 'rollout'): Promise<void> {
    const t0 = Date.now();
    const res = await rollBackRollout(this.ctx.env, t.row, { reason, actor, ...(verdict ? { decision: { verdict } } : {}) });
    this.tracked.delete(t.row.id);
    if (!res) return;
    this.ctx.alert('rollback', rolloutRollbackAlert(t.row, reason));
    this.ctx.send?.({ type: 'model.rolledback', scope: t.row.scope, version: t.row.champion, auto: true, latencyMs: Date.now() - t0 });
  }
}
