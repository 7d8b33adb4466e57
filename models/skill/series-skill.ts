import type { BlockDraws } from './bootstrap.ts';
import { indexInterval, meanInterval, sumsInterval } from './bootstrap.ts';
import { aucOnIndices, brierLoss, directionAuc, eceColumns, eceFromSums, expectedCalibrationError, reliabilityTable, upLabel, type ReliabilityBin } from './direction.ts';
import { mzPairs, olsColumns, olsFromSums, type LinearFit } from './mincer-zarnowitz.ts';
import { BANDS, inBand, meanPinball, pinball, type BandName } from './quantiles.ts';
import type { HorizonOutcome, Interval, QuantileKey } from './types.ts';
import { logVarianceSquaredError, qlikeLoss, r2FromSums, varianceSkip } from './volatility.ts';

/** Moving-block draws for a sample of n consecutive observations (cached by the caller). */
export type DrawsFor = (n: number) => BlockDraws;

/** A Mincer–Zarnowitz fit with the bootstrap interval of its slope b (1 for an unbiased forecast). */
export type MzSkill = LinearFit & { bInterval: Interval | null };

/** Variance forecasts (sigma²) against realised variance; `skipped` flat windows (rv ≤ 0), `invalid` bad forecasts. */
export type VolatilitySkill = {
  n: number;
  skipped: number;
  invalid: number;
  qlike: Interval | null;
  logMse: Interval | null;
  logR2: Interval | null;
  mz: MzSkill | null;
  mzLog: MzSkill | null;
};

export type CoverageSkill = { n: number; nominal: number; coverage: Interval | null };
export type QuantileSkill = {
  n: number;
  coverage50: CoverageSkill | null;
  coverage90: CoverageSkill | null;
  pinballByLevel: Record<QuantileKey, number | null>;
  pinball: Interval | null;
};
/**
 * pUp against "return > 0". ECE is biased upward in small samples (sampling noise alone
 * moves bin frequencies off their means), so near-perfect calibration can show a
 * percentile interval lying above the point value.
 */
export type DirectionSkill = { n: number; auc: Interval | null; brier: Interval | null; ece: Interval | null; reliability: ReliabilityBin[] };

/** The skill of one series on one horizon; a target is null when the series never forecast it. */
export type SeriesSkill = {
  series: string;
  n: number;
  volatility: VolatilitySkill | null;
  quantiles: QuantileSkill | null;
  direction: DirectionSkill | null;
};

const withPoint = (i: Interval | null, value: number | null): Interval | null => (i && value !== null ? { ...i, value } : null);

function mzSkill(x: readonly number[], y: readonly number[], drawsFor: DrawsFor): MzSkill | null {
  const { columns, centre } = olsColumns(x, y);
  const sums = columns.map((c) => c.reduce((a, v) => a + v, 0));
  const fit = olsFromSums(sums, x.length, centre);
  if (!fit) return null;
  const bInterval = sumsInterval(columns, drawsFor(x.length), (s, n) => olsFromSums(s, n)?.b ?? null);
  return { ...fit, bInterval };
}

function volatilitySkill(outcomes: readonly HorizonOutcome[], series: string, drawsFor: DrawsFor): VolatilitySkill | null {
  const rv: number[] = [];
  const f: number[] = [];
  for (const o of outcomes) {
    const sigma = o.forecasts[series]?.sigma;
    if (sigma === undefined) continue;
    rv.push(o.realisedVariance);
    f.push(sigma * sigma);
  }
  if (rv.length === 0) return null;
  let skipped = 0;
  let invalid = 0;
  const q: number[] = [];
  const e2: number[] = [];
  const y: number[] = [];
  rv.forEach((r, i) => {
    const v = f[i] ?? Number.NaN;
    const why = varianceSkip(r, v);
    if (why === 'flat') skipped += 1;
    if (why === 'invalid') invalid += 1;
    if (why) return;
    q.push(qlikeLoss(r, v));
    e2.push(logVarianceSquaredError(r, v));
    y.push(Math.log(r));
  });
  const draws = drawsFor(q.length);
  const meanY = y.reduce((a, v) => a + v, 0) / Math.max(1, y.length);
  const yc = y.map((v) => v - meanY);
  const levels = mzPairs(rv, f, false);
  const logs = mzPairs(rv, f, true);
  return {
    n: q.length,
    skipped,
    invalid,
    qlike: meanInterval(q, draws),
    logMse: meanInterval(e2, draws),
    logR2: sumsInterval([e2, yc, yc.map((v) => v * v)], draws, r2FromSums),
    mz: mzSkill(levels.x, levels.y, drawsFor),
    mzLog: mzSkill(logs.x, logs.y, drawsFor),
  };
}

function coverageSkill(outcomes: readonly HorizonOutcome[], series: string, band: BandName, drawsFor: DrawsFor): CoverageSkill | null {
  const hits: number[] = [];
  for (const o of outcomes) {
    const h = inBand(o.realisedReturn, o.forecasts[series]?.quantiles, band);
    if (h !== undefined) hits.push(h);
  }
  if (hits.length === 0) return null;
  return { n: hits.length, nominal: BANDS[band].nominal, coverage: meanInterval(hits, drawsFor(hits.length)) };
}

function quantileSkill(outcomes: readonly HorizonOutcome[], series: string, drawsFor: DrawsFor): QuantileSkill | null {
  const with_ = outcomes.filter((o) => o.forecasts[series]?.quantiles !== undefined);
  if (with_.length === 0) return null;
  const losses: number[] = [];
  for (const o of with_) {
    const m = meanPinball(o.realisedReturn, o.forecasts[series]?.quantiles);
    if (m !== undefined) losses.push(m);
  }
  const p = pinball(
    with_.map((o) => o.realisedReturn),
    with_.map((o) => o.forecasts[series]?.quantiles),
  );
  return {
    n: with_.length,
    coverage50: coverageSkill(with_, series, '50', drawsFor),
    coverage90: coverageSkill(with_, series, '90', drawsFor),
    pinballByLevel: p.byLevel,
    pinball: meanInterval(losses, drawsFor(losses.length)),
  };
}

function directionSkill(outcomes: readonly HorizonOutcome[], series: string, drawsFor: DrawsFor): DirectionSkill | null {
  const p: number[] = [];
  const y: number[] = [];
  for (const o of outcomes) {
    const pUp = o.forecasts[series]?.pUp;
    if (pUp === undefined || !Number.isFinite(pUp)) continue;
    p.push(pUp);
    y.push(upLabel(o.realisedReturn));
  }
  if (p.length === 0) return null;
  const draws = drawsFor(p.length);
  const reliability = reliabilityTable(p, y);
  // The resampled forms agree with the definitions; the point values come from the definitions readers check.
  const auc = withPoint(indexInterval(draws, aucOnIndices(p, y)), directionAuc(p, y));
  const ece = withPoint(sumsInterval(eceColumns(p, y), draws, eceFromSums), expectedCalibrationError(reliability));
  return {
    n: p.length,
    auc,
    brier: meanInterval(
      p.map((v, i) => brierLoss(v, y[i] ?? 0)),
      draws,
    ),
    ece,
    reliability,
  };
}

/** Every metric of one series on the outcomes of one horizon (in time order), with moving-block intervals. */
export function seriesSkill(outcomes: readonly HorizonOutcome[], series: string, drawsFor: DrawsFor): SeriesSkill {
  return {
    series,
    n: outcomes.filter((o) => o.forecasts[series] !== undefined).length,
    volatility: volatilitySkill(outcomes, series, drawsFor),
    quantiles: quantileSkill(outcomes, series, drawsFor),
    direction: directionSkill(outcomes, series, drawsFor),
  };
}
