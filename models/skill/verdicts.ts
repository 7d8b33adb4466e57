import { bps, ci, num } from './number-format.ts';
import type { PairedDifference, PairedMetric } from './paired.ts';
import type { CoverageSkill } from './series-skill.ts';
import type { HorizonSkill, SkillReport } from './report.ts';

/** One line of judgement: the reference series on one target of one horizon, or the economics. */
export type Verdict = { target: 'volatility' | 'quantiles' | 'direction' | 'economics'; horizon: string | null; text: string };

/** What a paired difference of a loss (reference − baseline) says, judged by its 95 % interval. */
function judgement(p: PairedDifference | undefined): string {
  if (!p) return 'no paired comparison';
  if (p.aBetter) return 'better than the best baseline';
  if (p.bBetter) return 'worse than the best baseline';
  return p.diff.value <= 0 ? 'no worse than the best baseline (difference within noise)' : 'not significantly worse than the best baseline';
}

/** The other series with the lowest point value of a loss, and the reference's paired difference against it. */
function bestBaseline(h: HorizonSkill, reference: string, metric: PairedMetric, value: (s: HorizonSkill['series'][number]) => number | undefined) {
  let best: { series: string; value: number } | undefined;
  for (const s of h.series) {
    const v = value(s);
    if (s.series === reference || v === undefined) continue;
    if (!best || v < best.value) best = { series: s.series, value: v };
  }
  const paired = best && h.paired.find((p) => p.metric === metric && p.b === best.series);
  return { best, paired };
}

function volatility(h: HorizonSkill, reference: string): string {
  const head = `volatility ${h.horizon}:`;
  const ref = h.series.find((s) => s.series === reference)?.volatility;
  if (!ref?.qlike) return `${head} no ${reference} variance forecast to judge`;
  const mz = ref.mzLog ? `; log MZ slope ${ci(ref.mzLog.bInterval, 2)}` : '';
  const { best, paired } = bestBaseline(h, reference, 'qlike', (s) => s.volatility?.qlike?.value);
  if (!best) return `${head} ${reference} QLIKE ${ci(ref.qlike)} — no baseline to compare with${mz}`;
  const diff = paired ? ` (diff ${ci(paired.diff)})` : '';
  return `${head} ${reference} QLIKE ${num(ref.qlike.value)} vs ${best.series} ${num(best.value)}${diff} — ${judgement(paired)}${mz}`;
}

function band(name: string, c: CoverageSkill | null): string | undefined {
  if (!c?.coverage) return undefined;
  const { lo, hi } = c.coverage;
  const state = hi < c.nominal ? 'too narrow' : lo > c.nominal ? 'too wide' : 'calibrated';
  return `${name} band covers ${ci(c.coverage, 2)} of nominal ${c.nominal} — ${state}`;
}

function quantiles(h: HorizonSkill, reference: string): string {
  const q = h.series.find((s) => s.series === reference)?.quantiles;
  const parts = [band('50 %', q?.coverage50 ?? null), band('90 %', q?.coverage90 ?? null)].filter((s): s is string => s !== undefined);
  return `quantiles ${h.horizon}: ${parts.length ? `${reference} ${parts.join('; ')}` : `no ${reference} quantile bands to judge`}`;
}

function direction(h: HorizonSkill, reference: string, eceTolerance: number): string {
  const head = `direction ${h.horizon}:`;
  const d = h.series.find((s) => s.series === reference)?.direction;
  if (!d) return `${head} no ${reference} pUp to judge`;
  const a = d.auc;
  const skill = !a ? 'AUC undefined (one class only)' : `AUC ${ci(a)} — ${a.lo > 0.5 ? 'skill' : a.hi < 0.5 ? 'worse than chance' : 'no skill'}`;
  const e = d.ece?.value;
  const calibration = e === undefined ? 'calibration unknown' : e <= eceTolerance ? `calibrated (ECE ${num(e)})` : `miscalibrated (ECE ${num(e)} > ${eceTolerance})`;
  const { best, paired } = bestBaseline(h, reference, 'brier', (s) => s.direction?.brier?.value);
  const brier = best && paired ? `; Brier vs ${best.series}: diff ${ci(paired.diff, 4)} — ${judgement(paired)}` : '';
  return `${head} ${skill}; ${calibration}${brier}`;
}

function economics(r: Omit<SkillReport, 'verdicts'>): Verdict[] {
  const e = r.economics;
  const costs = bps(e.costPerTurnover);
  const out: Verdict[] = [];
  const v = e.volatilityTargeting;
  out.push({
    target: 'economics',
    horizon: e.sigmaHorizon,
    text: v
      ? `economics: volatility targeting on ${e.series} ${e.sigmaHorizon} sigma realised ${num(v.volTarget.annualisedVol)} annualised vol vs target ${num(v.targetAnnualisedVol)} (ratio ${num(v.volRatio, 2)}); ` +
        `Sharpe after ${costs} costs ${num(v.volTarget.sharpe, 2)} vs ${num(v.constant.sharpe, 2)} at constant exposure 1 and ${num(v.constantMatched.sharpe, 2)} at the same mean exposure; ` +
        `max drawdown of cumulative log PnL ${num(v.volTarget.maxDrawdown, 4)} vs ${num(v.constant.maxDrawdown, 4)} and ${num(v.constantMatched.maxDrawdown, 4)}`
      : `economics: no ${e.series} ${e.sigmaHorizon} sigma joined to 1-minute outcomes, no volatility targeting`,
  });
  for (const d of e.directionRules) out.push({ target: 'economics', horizon: d.horizon, text: `economics: ${d.text}` });
  return out;
}

/** The verdict lines of a report: per horizon volatility, quantiles and direction, then the economics. */
export function verdicts(r: Omit<SkillReport, 'verdicts'>): Verdict[] {
  const perHorizon = r.horizons.flatMap((h): Verdict[] => [
    { target: 'volatility', horizon: h.horizon, text: volatility(h, r.reference) },
    { target: 'quantiles', horizon: h.horizon, text: quantiles(h, r.reference) },
    { target: 'direction', horizon: h.horizon, text: direction(h, r.reference, r.eceTolerance) },
  ]);
  return [...perHorizon, ...economics(r)];
}
