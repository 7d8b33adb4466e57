import { describe, expect, it } from 'vitest';
import { rocAuc } from '../../../../models/metrics.ts';
import { bandCoverage, brierScore, formatSkillReport, qlike, skillReport, upLabel, type HorizonOutcome } from '../../../../models/skill/index.ts';
import { syntheticOutcomes } from './synthetic-outcomes.ts';

const outcomes = syntheticOutcomes(900);
const report = skillReport(outcomes, { bootstrap: { resamples: 200 } });
const horizon = (label: string) => report.horizons.find((h) => h.horizon === label);
const series = (label: string, name: string) => horizon(label)?.series.find((s) => s.series === name);
const of = (label: string) => outcomes.filter((o) => o.horizon === label).sort((a, b) => a.ts - b.ts);

describe('skill report', () => {
  it('orders horizons by minutes, the reference series first, and raises short blocks to the horizon', () => {
    expect(report.horizons.map((h) => h.horizon)).toEqual(['1m', '5m', '15m', '60m']);
    expect(horizon('15m')?.series.map((s) => s.series)).toEqual(['blend', 'har', 'naive']);
    expect(horizon('1m')?.blockLength).toBe(60);
    expect(report.n).toBe(3600);
  });

  it('reports the same point values as the metric functions on the same outcomes', () => {
    const os = of('60m');
    const blend = series('60m', 'blend');
    const rv = os.map((o) => o.realisedVariance);
    const f = os.map((o) => (o.forecasts.blend?.sigma ?? 0) ** 2);
    expect(blend?.volatility?.qlike?.value).toBeCloseTo(qlike(rv, f).mean ?? Number.NaN, 12);
    const p = os.map((o) => o.forecasts.blend?.pUp ?? 0);
    const y = os.map((o) => upLabel(o.realisedReturn));
    expect(blend?.direction?.brier?.value).toBeCloseTo(brierScore(p, y) ?? Number.NaN, 12);
    expect(blend?.direction?.auc?.value).toBeCloseTo(rocAuc(p, y) ?? Number.NaN, 12);
    const cov = bandCoverage(os.map((o) => o.realisedReturn), os.map((o) => o.forecasts.blend?.quantiles), '90');
    expect(blend?.quantiles?.coverage90?.coverage?.value).toBeCloseTo(cov.coverage ?? Number.NaN, 12);
    for (const m of [blend?.volatility?.qlike, blend?.direction?.brier, blend?.quantiles?.coverage50?.coverage]) {
      expect(m && m.lo <= m.value && m.value <= m.hi, 'a mean lies inside its percentile interval').toBe(true);
    }
  });

  it('leaves out targets a series never forecast', () => {
    const naive = series('5m', 'naive');
    expect(naive?.direction, "'naive' publishes no pUp").toBeNull();
    expect(naive?.quantiles).toBeNull();
    expect(naive?.volatility?.n).toBe(900);
    expect(horizon('5m')?.paired.filter((p) => p.b === 'naive').map((p) => p.metric)).toEqual(['qlike']);
  });

  it('pairs the reference against every other series: the diff is the difference of means on shared outcomes', () => {
    const d = horizon('60m')?.paired.find((p) => p.metric === 'qlike' && p.b === 'har');
    const blend = series('60m', 'blend')?.volatility?.qlike?.value ?? Number.NaN;
    const har = series('60m', 'har')?.volatility?.qlike?.value ?? Number.NaN;
    expect(d?.diff.value).toBeCloseTo(blend - har, 12);
    expect(d?.aBetter, 'the blend forecasts the true variance, har a noisy one').toBe(true);
  });

  it('writes one verdict per target and horizon, then the economics', () => {
    const texts = report.verdicts.map((v) => v.text);
    expect(texts.filter((t) => t.startsWith('volatility '))).toHaveLength(4);
    expect(texts.filter((t) => t.startsWith('direction '))).toHaveLength(4);
    expect(texts.filter((t) => t.startsWith('quantiles '))).toHaveLength(4);
    const best = ['har', 'naive'].sort((a, b) => (series('60m', a)?.volatility?.qlike?.value ?? 0) - (series('60m', b)?.volatility?.qlike?.value ?? 0))[0];
    expect(texts.find((t) => t.startsWith('volatility 60m:'))).toMatch(new RegExp(`^volatility 60m: blend QLIKE \\S+ vs ${best} \\S+ \\(diff .*\\) — better than the best baseline`));
    expect(texts.find((t) => t.startsWith('direction 15m:'))).toMatch(/^direction 15m: AUC \S+ \[\S+, \S+\] — (no skill|skill|worse than chance); (calibrated|miscalibrated) \(ECE /);
    expect(texts.find((t) => t.startsWith('quantiles 60m:'))).toMatch(/50 % band covers .* — (calibrated|too narrow|too wide)/);
    expect(texts.filter((t) => /^economics: direction rule on \d+m pUp (loses|does not lose) money after 5 bps costs/.test(t))).toHaveLength(4);
    expect(texts.some((t) => t.startsWith('economics: volatility targeting on blend 60m sigma'))).toBe(true);
    for (const rule of report.economics.directionRules) expect(rule.losesMoneyAfterCosts).toBe(rule.netPnl < 0);
  });

  it('is plain JSON and reproducible for a seed', () => {
    expect(JSON.parse(JSON.stringify(report)), 'no NaN, Infinity or typed arrays').toEqual(report);
    expect(skillReport(outcomes, { bootstrap: { resamples: 200 } })).toEqual(report);
    const other = skillReport(outcomes, { bootstrap: { resamples: 200, seed: 2 } });
    expect(other.horizons[3]?.series[0]?.volatility?.qlike?.lo).not.toBe(report.horizons[3]?.series[0]?.volatility?.qlike?.lo);
  });

  it('says so when the reference has nothing to judge', () => {
    const only: HorizonOutcome[] = [1, 2, 3].map((i) => ({ ts: i * 60_000, horizon: '1m', minutes: 1, realisedReturn: 0, realisedVariance: 0, forecasts: { har: { sigma: 1 } } }));
    const r = skillReport(only, { bootstrap: { resamples: 10 } });
    expect(r.verdicts.map((v) => v.text)).toContain('volatility 1m: no blend variance forecast to judge');
    expect(r.verdicts.map((v) => v.text)).toContain('direction 1m: no blend pUp to judge');
    expect(r.horizons[0]?.series[0]?.volatility, 'three flat windows: nothing scorable').toMatchObject({ n: 0, skipped: 3, qlike: null });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('formatted skill report', () => {
  it('is markdown with the verdicts first and a table per target and horizon', () => {
    const text = formatSkillReport(report);
    expect(text.startsWith('# Forecast skill\n')).toBe(true);
    expect(text.indexOf('## Verdicts')).toBeLessThan(text.indexOf('## 1m'));
    for (const v of report.verdicts) expect(text).toContain(`- ${v.text}`);
    expect(text).toMatch(/\| series \| n \| QLIKE \|/);
    expect(text).toMatch(/\| blend \| 900 \| \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] \|/);
    expect(text).toContain('## Economics');
    expect(text).toContain('| volatility target |');
    expect(text).toMatch(/\| direction rule \(60m pUp\) \|.*\| (yes|no) \|/);
  });
});
