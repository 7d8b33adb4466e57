import { bps, ci, num } from './number-format.ts';
import type { StrategyResult } from './economics.ts';
import type { HorizonSkill, SkillReport } from './report.ts';

const iso = (ts: number | null) => (ts === null ? '-' : new Date(ts).toISOString());
const table = (head: readonly string[], rows: readonly (readonly string[])[]): string[] => [
  `| ${head.join(' | ')} |`,
  `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];

function volatilityTable(h: HorizonSkill): string[] {
  const rows = h.series.flatMap((s) => {
    const v = s.volatility;
    if (!v) return [];
    const mz = v.mz ? `${num(v.mz.a)}, ${num(v.mz.b, 2)}, ${num(v.mz.r2, 3)}` : 'n/a';
    const mzLog = v.mzLog ? `${ci(v.mzLog.bInterval, 2)}, ${num(v.mzLog.r2, 3)}` : 'n/a';
    return [[s.series, String(v.n), ci(v.qlike), ci(v.logMse), ci(v.logR2), mz, mzLog, `${v.skipped}/${v.invalid}`]];
  });
  if (!rows.length) return [];
  return ['', '**Volatility** (sigma² vs realised variance)', '', ...table(['series', 'n', 'QLIKE', 'MSE log RV', 'R² log RV', 'MZ a, b, R²', 'log MZ b, R²', 'skipped flat/invalid'], rows)];
}

function quantileTable(h: HorizonSkill): string[] {
  const rows = h.series.flatMap((s) => {
    const q = s.quantiles;
    return q ? [[s.series, String(q.n), ci(q.coverage50?.coverage, 3), ci(q.coverage90?.coverage, 3), ci(q.pinball)]] : [];
  });
  if (!rows.length) return [];
  return ['', '**Quantiles of the return** (nominal coverage 0.5 and 0.9)', '', ...table(['series', 'n', '50 % coverage', '90 % coverage', 'pinball (mean of levels)'], rows)];
}

function directionTable(h: HorizonSkill): string[] {
  const rows = h.series.flatMap((s) => {
    const d = s.direction;
    return d ? [[s.series, String(d.n), ci(d.auc), ci(d.brier, 4), ci(d.ece)]] : [];
  });
  if (!rows.length) return [];
  return ['', '**Direction** (pUp vs return > 0; a flat return is not up)', '', ...table(['series', 'n', 'ROC AUC', 'Brier', 'ECE (10 bins)'], rows)];
}

function reliabilityTable(h: HorizonSkill, reference: string): string[] {
  const bins = h.series.find((s) => s.series === reference)?.direction?.reliability.filter((b) => b.count > 0) ?? [];
  if (!bins.length) return [];
  const rows = bins.map((b) => [`${b.lo.toFixed(1)}–${b.hi.toFixed(1)}`, String(b.count), num(b.meanForecast), num(b.observedFrequency)]);
  return ['', `**Reliability of ${reference}** (non-empty bins)`, '', ...table(['pUp bin', 'n', 'mean pUp', 'observed up'], rows)];
}

function pairedTable(h: HorizonSkill): string[] {
  if (!h.paired.length) return [];
  const rows = h.paired.map((p) => [p.metric, `${p.a} − ${p.b}`, String(p.n), ci(p.diff, 4), p.aBetter ? `${p.a} better` : p.bBetter ? `${p.b} better` : 'within noise']);
  return ['', '**Paired differences** (loss of a − loss of b; below 0 favours a)', '', ...table(['metric', 'a − b', 'n', 'diff', 'verdict'], rows)];
}

function strategyRows(ss: readonly StrategyResult[]): string[][] {
  return ss.map((s) => [s.name, String(s.n), num(s.meanExposure, 2), num(s.annualisedVol), num(s.sharpe, 2), num(s.maxDrawdown, 4), num(s.turnover, 1), num(s.totalCost, 4), num(s.netPnl, 4)]);
}
const STRATEGY_HEAD = ['strategy', 'minutes', 'mean exposure', 'ann. vol', 'ann. Sharpe', 'max drawdown (log)', 'turnover', 'total cost', 'net PnL (log)'];

function economicsSection(r: SkillReport): string[] {
  const e = r.economics;
  const out = ['', '## Economics', '', `Series \`${e.series}\`, ${e.n} origin bars with a 1-minute outcome, costs ${bps(e.costPerTurnover)} per unit of turnover. PnL is exposure × next 1-minute log return minus costs; drawdowns are of cumulative log PnL; annualised over 525 600 minutes.`];
  const v = e.volatilityTargeting;
  if (v) {
    out.push('', `**Volatility targeting** on the ${e.sigmaHorizon} sigma: target ${num(v.targetAnnualisedVol)} annualised (${v.targetSource}), leverage ≤ ${v.maxLeverage}, realised/target ${num(v.volRatio, 2)}.`, '');
    out.push(...table(STRATEGY_HEAD, strategyRows([v.volTarget, v.constant, v.constantMatched])));
  }
  if (e.directionRules.length) {
    out.push('', '**Direction rule** (exposure 2·pUp − 1 on the next minute)', '');
    out.push(...table([...STRATEGY_HEAD, 'loses money after costs'], strategyRows(e.directionRules).map((row, i) => [...row, e.directionRules[i]?.losesMoneyAfterCosts ? 'yes' : 'no'])));
  }
  return out;
}

/** The report as markdown: verdicts first, then per-horizon tables and the economics; readable in a terminal. */
export function formatSkillReport(r: SkillReport): string {
  const out = [
    '# Forecast skill',
    '',
    `${r.n} outcomes from ${iso(r.from)} to ${iso(r.to)}; reference series \`${r.reference}\`. ` +
      `Intervals: 95 % moving-block bootstrap (${r.bootstrap.resamples} resamples, seed ${r.bootstrap.seed}).`,
    '',
    '## Verdicts',
    '',
    ...r.verdicts.map((v) => `- ${v.text}`),
  ];
  for (const h of r.horizons) {
    out.push('', `## ${h.horizon}`, '', `${h.n} outcomes, bootstrap blocks of ${h.blockLength} minutes.`);
    out.push(...volatilityTable(h), ...quantileTable(h), ...directionTable(h), ...reliabilityTable(h, r.reference), ...pairedTable(h));
  }
  out.push(...economicsSection(r));
  return `${out.join('\n')}\n`;
}
