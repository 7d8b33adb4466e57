import type { LiveOutcome } from '../prediction/index.ts';
import { logLoss } from '../prediction/index.ts';

/**
 * Live skill of every serving model version, from realised outcomes, against the
 * naive zero-return forecast on the same bars.
 *
 * Over the last `window` outcomes of a version (per symbol):
 *   loss(model) = Σ|value - actual| / Σ|actual|  +  mean log loss of pUp
 *   loss(naive) = 1 + ln 2      (it forecasts 0 with pUp 1/2)
 *   skill       = loss(naive) / loss(model)
 * 1 = as good as the naive forecast, above 1 better, below 1 worse. This is the
 * same loss the gate and the confidence weigher use, so the three agree on what
 * "worse than naive" means. A version whose skill falls below `degradedSkill`
 * raises a degradation (alert), below `rollbackSkill` a rollback, each once until
 * the version recovers (to `degradedSkill` + 0.02, so a skill hovering at the
 * threshold does not flood the alerts) or is replaced (rollback).
 */
export type LiveSkillConfig = { window: number; degradedSkill: number; rollbackSkill: number };
export const DEFAULT_LIVE_SKILL: LiveSkillConfig = { window: 120, degradedSkill: 0.95, rollbackSkill: 0.9 };

const NAIVE_LOSS = 1 + Math.LN2;
/** A degraded version raises its alert again only after its skill came back this far above the threshold. */
const REARM = 0.02;

/** A judgement of one version on one symbol. */
export type SkillReport = {
  venue: string;
  symbol: string;
  role: string;
  version: string;
  skill: number;
  window: number;
  maeRatio: number;
  meanLogLoss: number;
  threshold: number;
  detectedAt: number;
};

type Ring = { absErr: Float64Array; absActual: Float64Array; ll: Float64Array; next: number; count: number; sumErr: number; sumActual: number; sumLl: number };

function ring(n: number): Ring {
  return { absErr: new Float64Array(n), absActual: new Float64Array(n), ll: new Float64Array(n), next: 0, count: 0, sumErr: 0, sumActual: 0, sumLl: 0 };
}

function push(r: Ring, n: number, err: number, absActual: number, ll: number): void {
  if (r.count === n) {
    r.sumErr -= r.absErr[r.next] ?? 0;
    r.sumActual -= r.absActual[r.next] ?? 0;
    r.sumLl -= r.ll[r.next] ?? 0;
  } else r.count += 1;
  r.absErr[r.next] = err;
  r.absActual[r.next] = absActual;
  r.ll[r.next] = ll;
  r.sumErr += err;
  r.sumActual += absActual;
  r.sumLl += ll;
  r.next = (r.next + 1) % n;
}

/** Skill of a full window (undefined until the window is full). */
export function skillOf(r: { count: number; sumErr: number; sumActual: number; sumLl: number }, window: number): { skill: number; maeRatio: number; meanLogLoss: number } | undefined {
  if (r.count < window) return undefined;
  const maeRatio = r.sumActual > 0 ? r.sumErr / r.sumActual : r.sumErr > 0 ? Number.POSITIVE_INFINITY : 1;
  const meanLogLoss = r.sumLl / r.count;
  return { skill: NAIVE_LOSS / (maeRatio + meanLogLoss), maeRatio, meanLogLoss };
}

export class LiveSkillMonitor {
  readonly config: LiveSkillConfig;
  private readonly rings = new Map<string, Ring>();
  private readonly degraded = new Set<string>();
  private readonly rolledBack = new Set<string>();

  constructor(
    private readonly opts: {
      config?: Partial<LiveSkillConfig>;
      onDegraded: (r: SkillReport) => void;
      onRollback: (r: SkillReport) => Promise<void>;
      onError: (err: unknown, r: SkillReport) => void;
      now?: () => number;
    },
  ) {
    this.config = { ...DEFAULT_LIVE_SKILL, ...opts.config };
    if (!(Number.isInteger(this.config.window) && this.config.window >= 1)) throw new RangeError('live skill window must be an integer >= 1');
  }

  observe(o: LiveOutcome): void {
    if (!Number.isFinite(o.actual)) return;
    const n = this.config.window;
    for (const c of o.components) {
      if (!Number.isFinite(c.value) || !Number.isFinite(c.pUp)) continue;
      const key = `${o.venue}.${o.symbol}|${c.role}|${c.version}`;
      if (this.rolledBack.has(key)) continue;
      let r = this.rings.get(key);
      if (!r) {
        r = ring(n);
        this.rings.set(key, r);
      }
      push(r, n, Math.abs(c.value - o.actual), Math.abs(o.actual), logLoss(c.pUp, o.actual));
      const s = skillOf(r, n);
      if (!s) continue;
      const report = (threshold: number): SkillReport => ({
        venue: o.venue,
        symbol: o.symbol,
        role: c.role,
        version: c.version,
        ...s,
        window: n,
        threshold,
        detectedAt: (this.opts.now ?? Date.now)(),
      });
      // A version that falls past both margins at once gets the degradation alert too: the alert
      // says what was seen, the rollback what was done about it.
      if (s.skill < this.config.degradedSkill && !this.degraded.has(key)) {
        this.degraded.add(key);
        this.opts.onDegraded(report(this.config.degradedSkill));
      }
      if (s.skill < this.config.rollbackSkill) {
        this.rolledBack.add(key);
        const rep = report(this.config.rollbackSkill);
        this.opts.onRollback(rep).catch((err: unknown) => {
          // Another attempt on the next outcome.
          this.rolledBack.delete(key);
          this.opts.onError(err, rep);
        });
      } else if (s.skill >= this.config.degradedSkill + REARM) this.degraded.delete(key);
    }
  }

  /** Current skill of every version with a full window, for status. */
  skills(): { key: string; skill: number }[] {
    const out: { key: string; skill: number }[] = [];
    for (const [key, r] of this.rings) {
      const s = skillOf(r, this.config.window);
      if (s) out.push({ key, skill: s.skill });
    }
    return out;
  }
}
