import type { HorizonLabel } from '../types.ts';
import { blockDraws, DEFAULT_BOOTSTRAP, type BlockDraws, type BootstrapOptions } from './bootstrap.ts';
import { DEFAULT_ECONOMICS, directionRule, volatilityTargeting, type DirectionRuleResult, type EconomicsOptions, type VolTargetingResult } from './economics.ts';
import { economicsInput } from './economics-input.ts';
import { PAIRED_METRICS, pairedDifference, type PairedDifference } from './paired.ts';
import { seriesSkill, type SeriesSkill } from './series-skill.ts';
import type { HorizonOutcome } from './types.ts';
import { verdicts, type Verdict } from './verdicts.ts';

export type SkillReportOptions = {
  /** The series judged against all others; default 'blend'. */
  reference?: string;
  /** Block length is raised to the horizon's minutes where shorter (see `HorizonSkill.blockLength`). */
  bootstrap?: Partial<BootstrapOptions>;
  /** Costs, leverage and target of the economics, the series it trades and the horizon of its sigma (default '60m'). */
  economics?: Partial<EconomicsOptions> & { series?: string; sigmaHorizon?: HorizonLabel };
  /** ECE at or below this counts as calibrated; default 0.02. */
  eceTolerance?: number;
  /** Series drawn in the forecast-vs-realised volatility chart; default [reference, 'har']. */
  scatterSeries?: readonly string[];
  /** At most this many scatter points per series and horizon (evenly spaced in time); default 500. */
  maxScatterPoints?: number;
};

/** One point of the volatility chart: forecast sigma and realised √rv of one outcome. */
export type ScatterPoint = { series: string; forecastVol: number; realisedVol: number };

export type HorizonSkill = {
  horizon: HorizonLabel;
  minutes: number;
  n: number;
  /**
   * max(configured block length, minutes): overlapping h-minute outcomes share h − 1
   * returns, so shorter blocks would cut that dependence and understate the uncertainty.
   */
  blockLength: number;
  series: SeriesSkill[];
  /** Reference − every other series, for QLIKE and Brier where both have the target. */
  paired: PairedDifference[];
  scatter: ScatterPoint[];
};

export type EconomicsReport = {
  series: string;
  sigmaHorizon: HorizonLabel;
  /** Origin bars with a 1-minute outcome. */
  n: number;
  costPerTurnover: number;
  volatilityTargeting: VolTargetingResult | null;
  /** One per horizon whose pUp the series forecast. */
  directionRules: DirectionRuleResult[];
};

/** Skill of every series on every horizon; plain data, safe to `JSON.stringify`. */
export type SkillReport = {
  reference: string;
  n: number;
  from: number | null;
  to: number | null;
  bootstrap: BootstrapOptions;
  eceTolerance: number;
  horizons: HorizonSkill[];
  economics: EconomicsReport;
  verdicts: Verdict[];
};

function scatter(outcomes: readonly HorizonOutcome[], series: readonly string[], max: number): ScatterPoint[] {
  const out: ScatterPoint[] = [];
  for (const name of series) {
    // Log axes: only positive forecast and realised volatility can be drawn.
    const points = outcomes.flatMap((o) => {
      const sigma = o.forecasts[name]?.sigma;
      return sigma !== undefined && sigma > 0 && o.realisedVariance > 0 && Number.isFinite(sigma) ? [{ series: name, forecastVol: sigma, realisedVol: Math.sqrt(o.realisedVariance) }] : [];
    });
    const stride = Math.max(1, Math.ceil(points.length / Math.max(1, max)));
    for (let i = 0; i < points.length; i += stride) {
      const p = points[i];
      if (p) out.push(p);
    }
  }
  return out;
}

function horizonSkill(outcomes: readonly HorizonOutcome[], reference: string, bootstrap: BootstrapOptions, options: SkillReportOptions): HorizonSkill {
  const first = outcomes[0];
  const minutes = first?.minutes ?? 0;
  const blockLength = Math.max(bootstrap.blockLength, minutes);
  const cache = new Map<number, BlockDraws>();
  const drawsFor = (n: number): BlockDraws => {
    const d = cache.get(n) ?? blockDraws(n, { ...bootstrap, blockLength });
    cache.set(n, d);
    return d;
  };
  const names = [...new Set(outcomes.flatMap((o) => Object.keys(o.forecasts)))].sort((a, b) => (a === reference ? -1 : b === reference ? 1 : a.localeCompare(b)));
  const others = names.filter((s) => s !== reference);
  const paired = names.includes(reference)
    ? PAIRED_METRICS.flatMap((metric) => others.flatMap((b) => pairedDifference(outcomes, metric, reference, b, drawsFor) ?? []))
    : [];
  return {
    horizon: first?.horizon ?? '0m',
    minutes,
    n: outcomes.length,
    blockLength,
    series: names.map((s) => seriesSkill(outcomes, s, drawsFor)),
    paired,
    scatter: scatter(outcomes, options.scatterSeries ?? [reference, 'har'], options.maxScatterPoints ?? 500),
  };
}

function economicsReport(outcomes: readonly HorizonOutcome[], reference: string, options: SkillReportOptions['economics'] = {}): EconomicsReport {
  const { series = reference, sigmaHorizon = '60m', ...rest } = options;
  const costs: EconomicsOptions = { ...DEFAULT_ECONOMICS, ...rest };
  const input = economicsInput(outcomes, { series, sigmaHorizon });
  return {
    series,
    sigmaHorizon,
    n: input.ts.length,
    costPerTurnover: costs.costPerTurnover,
    volatilityTargeting: volatilityTargeting(input.nextReturn, input.sigma, { ...costs, sigmaMinutes: input.sigmaMinutes }),
    directionRules: Object.entries(input.pUp).flatMap(([h, p]) => directionRule(h, input.nextReturn, p, costs.costPerTurnover) ?? []),
  };
}

/**
 * Scores the outcomes of one symbol: per horizon and series every metric with its 95 %
 * moving-block bootstrap interval, the reference's paired differences, the economics and
 * one verdict line per target and horizon. Deterministic for a given seed.
 */
export function skillReport(outcomes: readonly HorizonOutcome[], options: SkillReportOptions = {}): SkillReport {
  const reference = options.reference ?? 'blend';
  const bootstrap: BootstrapOptions = { ...DEFAULT_BOOTSTRAP, ...options.bootstrap };
  const byHorizon = new Map<string, HorizonOutcome[]>();
  for (const o of outcomes) {
    const list = byHorizon.get(o.horizon) ?? [];
    list.push(o);
    byHorizon.set(o.horizon, list);
  }
  const horizons = [...byHorizon.values()]
    .map((os) => horizonSkill([...os].sort((a, b) => a.ts - b.ts), reference, bootstrap, options))
    .sort((a, b) => a.minutes - b.minutes);
  // A loop, not Math.min(...ts): spreading months of minutes would overflow the call stack.
  let from: number | null = null;
  let to: number | null = null;
  for (const o of outcomes) {
    from = from === null ? o.ts : Math.min(from, o.ts);
    to = to === null ? o.ts : Math.max(to, o.ts);
  }
  const report: Omit<SkillReport, 'verdicts'> = {
    reference,
    n: outcomes.length,
    from,
    to,
    bootstrap,
    eceTolerance: options.eceTolerance ?? 0.02,
    horizons,
    economics: economicsReport(outcomes, reference, options.economics),
  };
  return { ...report, verdicts: verdicts(report) };
}
