import { bps } from './number-format.ts';

/**
 * Economics of the forecasts: exposures decided at the close of an origin bar and held over
 * the next 1-minute log return r. Per minute, PnL = e·r − cost·|e − e_prev| (the position
 * starts flat; the final unwind is not charged). e·r on a log return is the first-order
 * approximation of a levered position's return, close enough at minute scale; PnL is
 * therefore additive, and the cumulative PnL and its drawdown are in log-return units.
 */
export const MINUTES_PER_YEAR = 525_600;

export type EconomicsOptions = {
  /** Cost per unit of turnover (0.0005 = 5 bps per unit of notional traded). */
  costPerTurnover: number;
  /** Cap on the volatility-targeting exposure. */
  maxLeverage: number;
  /** Annualised volatility target; absent = the realised volatility of the sample. */
  targetAnnualisedVol?: number;
};
export const DEFAULT_ECONOMICS: EconomicsOptions = { costPerTurnover: 0.0005, maxLeverage: 3 };

/** The result of one exposure path. Annualised figures assume 525 600 trading minutes a year. */
export type StrategyResult = {
  name: string;
  n: number;
  meanExposure: number;
  /** Σ |e_t − e_{t−1}|, entry from flat included. */
  turnover: number;
  totalCost: number;
  grossPnl: number;
  netPnl: number;
  annualisedReturn: number;
  annualisedVol: number;
  /** Annualised mean / standard deviation of net 1-minute PnL, no risk-free rate; null when PnL is constant. */
  sharpe: number | null;
  /** Largest fall of cumulative net log PnL from its running peak (the peak starts at 0), ≥ 0. */
  maxDrawdown: number;
};

/** Backtests exposures over next 1-minute returns (same length, same order). */
export function runExposures(name: string, exposure: ArrayLike<number>, nextReturn: ArrayLike<number>, costPerTurnover: number): StrategyResult {
  const n = exposure.length;
  if (nextReturn.length !== n) throw new RangeError(`exposures (${n}) and returns (${nextReturn.length}) differ in length`);
  let prev = 0;
  let turnover = 0;
  let gross = 0;
  let sum = 0;
  let sumSq = 0;
  let sumE = 0;
  let cum = 0;
  let peak = 0;
  let maxDrawdown = 0;
  for (let i = 0; i < n; i += 1) {
    const e = exposure[i] ?? 0;
    const trade = Math.abs(e - prev);
    const g = e * (nextReturn[i] ?? 0);
    const pnl = g - costPerTurnover * trade;
    turnover += trade;
    gross += g;
    sum += pnl;
    sumSq += pnl * pnl;
    sumE += e;
    cum += pnl;
    peak = Math.max(peak, cum);
    maxDrawdown = Math.max(maxDrawdown, peak - cum);
    prev = e;
  }
  const mean = n ? sum / n : 0;
  const sd = n ? Math.sqrt(Math.max(0, sumSq / n - mean * mean)) : 0;
  return {
    name,
    n,
    meanExposure: n ? sumE / n : 0,
    turnover,
    totalCost: costPerTurnover * turnover,
    grossPnl: gross,
    netPnl: sum,
    annualisedReturn: mean * MINUTES_PER_YEAR,
    annualisedVol: sd * Math.sqrt(MINUTES_PER_YEAR),
    sharpe: sd > 1e-15 ? (mean / sd) * Math.sqrt(MINUTES_PER_YEAR) : null,
    maxDrawdown,
  };
}

export type VolTargetingResult = {
  n: number;
  costPerTurnover: number;
  maxLeverage: number;
  targetAnnualisedVol: number;
  /** 'sample': the realised volatility of the next 1-minute returns of the sample; 'configured': given. */
  targetSource: 'sample' | 'configured';
  /** The volatility-targeted strategy's realised annualised volatility over the target (1 = on target); null for a zero target. */
  volRatio: number | null;
  volTarget: StrategyResult;
  /** Exposure 1 throughout. */
  constant: StrategyResult;
  /** A constant exposure equal to the volatility-targeted mean exposure: same average risk, no timing. */
  constantMatched: StrategyResult;
};

/**
 * Volatility targeting: e_t = min(maxLeverage, target per minute / (sigma_t / √h)), with
 * sigma_t the forecast standard deviation of the h-minute return (h = `sigmaMinutes`,
 * 60 by default). Rows without a positive sigma or a finite return are left out of every
 * strategy, so all three trade the same minutes. The sample's per-minute volatility is the
 * root mean square of its 1-minute returns (their mean is ~0 and realised variance is a
 * sum of squares). Null when no row is usable.
 */
export function volatilityTargeting(
  nextReturn: ArrayLike<number>,
  sigma: readonly (number | null)[],
  options: Partial<EconomicsOptions> & { sigmaMinutes?: number } = {},
): VolTargetingResult | null {
  const o = { ...DEFAULT_ECONOMICS, ...options };
  const h = options.sigmaMinutes ?? 60;
  const r: number[] = [];
  const perMinuteSigma: number[] = [];
  for (let i = 0; i < nextReturn.length; i += 1) {
    const s = sigma[i];
    const x = nextReturn[i] ?? Number.NaN;
    if (s === null || s === undefined || !(s > 0) || !Number.isFinite(s) || !Number.isFinite(x)) continue;
    r.push(x);
    perMinuteSigma.push(s / Math.sqrt(h));
  }
  if (r.length === 0) return null;
  const sampleVol = Math.sqrt(r.reduce((a, x) => a + x * x, 0) / r.length);
  const targetSource = o.targetAnnualisedVol === undefined ? 'sample' : 'configured';
  const targetPerMinute = o.targetAnnualisedVol === undefined ? sampleVol : o.targetAnnualisedVol / Math.sqrt(MINUTES_PER_YEAR);
  const exposure = perMinuteSigma.map((s) => Math.min(o.maxLeverage, targetPerMinute / s));
  const volTarget = runExposures('volatility target', exposure, r, o.costPerTurnover);
  const targetAnnualisedVol = targetPerMinute * Math.sqrt(MINUTES_PER_YEAR);
  return {
    n: r.length,
    costPerTurnover: o.costPerTurnover,
    maxLeverage: o.maxLeverage,
    targetAnnualisedVol,
    targetSource,
    volRatio: targetAnnualisedVol > 0 ? volTarget.annualisedVol / targetAnnualisedVol : null,
    volTarget,
    constant: runExposures('constant 1', r.map(() => 1), r, o.costPerTurnover),
    constantMatched: runExposures('constant, same mean exposure', r.map(() => volTarget.meanExposure), r, o.costPerTurnover),
  };
}

export type DirectionRuleResult = StrategyResult & {
  horizon: string;
  costPerTurnover: number;
  profitableBeforeCosts: boolean;
  /** Net PnL after costs is below zero. */
  losesMoneyAfterCosts: boolean;
  text: string;
};

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;

/**
 * The direction rule: e_t = 2·pUp_t − 1 clipped to [−1, 1] (long when up is likelier,
 * sized by the edge), held over the next 1-minute return. Rows without a pUp or a finite
 * return are left out. Null when no row is usable.
 */
export function directionRule(
  horizon: string,
  nextReturn: ArrayLike<number>,
  pUp: readonly (number | null)[],
  costPerTurnover = DEFAULT_ECONOMICS.costPerTurnover,
): DirectionRuleResult | null {
  const r: number[] = [];
  const e: number[] = [];
  for (let i = 0; i < nextReturn.length; i += 1) {
    const p = pUp[i];
    const x = nextReturn[i] ?? Number.NaN;
    if (p === null || p === undefined || !Number.isFinite(p) || !Number.isFinite(x)) continue;
    r.push(x);
    e.push(Math.min(1, Math.max(-1, 2 * p - 1)));
  }
  if (r.length === 0) return null;
  const s = runExposures(`direction rule (${horizon} pUp)`, e, r, costPerTurnover);
  const losesMoneyAfterCosts = s.netPnl < 0;
  const costs = bps(costPerTurnover);
  const text =
    `direction rule on ${horizon} pUp ${losesMoneyAfterCosts ? 'loses money' : 'does not lose money'} after ${costs} costs: ` +
    `net ${signed(s.netPnl)} log return over ${s.n} minutes (gross ${signed(s.grossPnl)}, costs ${s.totalCost.toFixed(4)})`;
  return { ...s, horizon, costPerTurnover, profitableBeforeCosts: s.grossPnl > 0, losesMoneyAfterCosts, text };
}
