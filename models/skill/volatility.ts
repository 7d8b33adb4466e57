/**
 * Losses of variance forecasts f (sigma² of an h-minute horizon) against the realised
 * variance rv (the sum of the h squared 1-minute log returns).
 *
 * A pair is skipped, and counted, when it cannot be scored: `flat` when rv ≤ 0 (a window
 * without a price change; QLIKE and the log losses need ln rv, and ln 0 = −∞), `invalid`
 * when the forecast is not a finite positive variance or rv is not finite.
 */
export type SkipReason = 'flat' | 'invalid';

/** Why a (rv, f) pair cannot be scored, or undefined when it can. */
export function varianceSkip(rv: number, f: number): SkipReason | undefined {
  if (!Number.isFinite(rv) || !Number.isFinite(f) || f <= 0) return 'invalid';
  return rv > 0 ? undefined : 'flat';
}

/**
 * Patton's QLIKE of one pair: rv/f − ln(rv/f) − 1, ≥ 0 and zero only at f = rv. Robust to a
 * noisy variance proxy: it ranks forecasts as the true variance would (Patton 2011).
 */
export function qlikeLoss(rv: number, f: number): number {
  const x = rv / f;
  return x - Math.log(x) - 1;
}

/** (ln rv − ln f)², the squared error of the log variance. */
export function logVarianceSquaredError(rv: number, f: number): number {
  return (Math.log(rv) - Math.log(f)) ** 2;
}

/** The mean of a loss over the scorable pairs; `mean` is null when none is. */
export type LossSummary = { mean: number | null; n: number; skipped: number; invalid: number };

function summarise(rv: ArrayLike<number>, f: ArrayLike<number>, loss: (rv: number, f: number) => number): { summary: LossSummary; kept: number[] } {
  if (rv.length !== f.length) throw new RangeError(`realised variances (${rv.length}) and forecasts (${f.length}) differ in length`);
  let sum = 0;
  let skipped = 0;
  let invalid = 0;
  const kept: number[] = [];
  for (let i = 0; i < rv.length; i += 1) {
    const r = rv[i] ?? Number.NaN;
    const v = f[i] ?? Number.NaN;
    const why = varianceSkip(r, v);
    if (why === 'flat') skipped += 1;
    else if (why === 'invalid') invalid += 1;
    else {
      sum += loss(r, v);
      kept.push(i);
    }
  }
  return { summary: { mean: kept.length ? sum / kept.length : null, n: kept.length, skipped, invalid }, kept };
}

/** Mean QLIKE; `skipped` counts the flat windows (rv ≤ 0) left out. */
export function qlike(rv: ArrayLike<number>, forecastVar: ArrayLike<number>): LossSummary {
  return summarise(rv, forecastVar, qlikeLoss).summary;
}

/** Mean squared error of log realised variance. */
export function logVarianceMse(rv: ArrayLike<number>, forecastVar: ArrayLike<number>): LossSummary {
  return summarise(rv, forecastVar, logVarianceSquaredError).summary;
}

/**
 * Out-of-sample R² of log realised variance, 1 − SSE/SST, with SST taken around the mean
 * of ln rv of the same sample: the share of the log-variance variation the forecast
 * explains beyond a constant that knew the sample mean. Null with fewer than two pairs
 * or a constant ln rv.
 */
export function logVarianceR2(rv: ArrayLike<number>, forecastVar: ArrayLike<number>): { r2: number | null; n: number; skipped: number; invalid: number } {
  const { summary: s, kept } = summarise(rv, forecastVar, logVarianceSquaredError);
  let meanY = 0;
  for (const i of kept) meanY += Math.log(rv[i] ?? 1);
  meanY /= Math.max(1, s.n);
  let sst = 0;
  for (const i of kept) sst += (Math.log(rv[i] ?? 1) - meanY) ** 2;
  const r2 = s.n >= 2 && sst > 0 && s.mean !== null ? 1 - (s.mean * s.n) / sst : null;
  return { r2, n: s.n, skipped: s.skipped, invalid: s.invalid };
}

/**
 * R² from sums of centred columns [e², y − c, (y − c)²] (y = ln rv, c any constant): the
 * form the bootstrap recomputes on each resample. Centring keeps SST = Σy'² − (Σy')²/n
 * free of cancellation.
 */
export function r2FromSums(sums: ArrayLike<number>, n: number): number | null {
  const sse = sums[0] ?? 0;
  const sy = sums[1] ?? 0;
  const syy = sums[2] ?? 0;
  const sst = syy - (sy * sy) / n;
  return n >= 2 && sst > 1e-300 ? 1 - sse / sst : null;
}
