import { QUANTILE_KEYS, QUANTILE_LEVELS, type QuantileKey } from './types.ts';

/** Quantiles of one forecast of the h-minute log return, any level possibly absent. */
export type Quantiles = Partial<Record<QuantileKey, number>>;

/** The central prediction bands and their nominal coverage. */
export const BANDS = {
  '50': { lo: 'q25', hi: 'q75', nominal: 0.5 },
  '90': { lo: 'q05', hi: 'q95', nominal: 0.9 },
} as const satisfies Record<string, { lo: QuantileKey; hi: QuantileKey; nominal: number }>;
export type BandName = keyof typeof BANDS;

/** 1 when lo ≤ actual ≤ hi, 0 when outside, undefined when the forecast lacks either end. */
export function inBand(actual: number, q: Quantiles | undefined, band: BandName): 0 | 1 | undefined {
  const lo = q?.[BANDS[band].lo];
  const hi = q?.[BANDS[band].hi];
  if (lo === undefined || hi === undefined) return undefined;
  return lo <= actual && actual <= hi ? 1 : 0;
}

/** Fraction of outcomes inside the band, over the forecasts that have it; null when none has. */
export function bandCoverage(actual: ArrayLike<number>, quantiles: readonly (Quantiles | undefined)[], band: BandName): { coverage: number | null; n: number } {
  let hits = 0;
  let n = 0;
  for (let i = 0; i < actual.length; i += 1) {
    const h = inBand(actual[i] ?? Number.NaN, quantiles[i], band);
    if (h === undefined) continue;
    hits += h;
    n += 1;
  }
  return { coverage: n ? hits / n : null, n };
}

/** Pinball (quantile) loss of quantile q at level tau: tau·(y − q) above it, (1 − tau)·(q − y) below. */
export function pinballLoss(actual: number, q: number, tau: number): number {
  const u = actual - q;
  return u >= 0 ? tau * u : (tau - 1) * u;
}

/** The pinball loss of one forecast averaged over the levels it has; undefined when it has none. */
export function meanPinball(actual: number, q: Quantiles | undefined): number | undefined {
  let sum = 0;
  let k = 0;
  QUANTILE_KEYS.forEach((key, j) => {
    const v = q?.[key];
    if (v === undefined) return;
    sum += pinballLoss(actual, v, QUANTILE_LEVELS[j] ?? 0.5);
    k += 1;
  });
  return k ? sum / k : undefined;
}

/**
 * Mean pinball loss per level, and `mean`: the per-forecast average over its levels,
 * averaged over forecasts (equal to the mean of `byLevel` when every forecast has all five).
 */
export function pinball(
  actual: ArrayLike<number>,
  quantiles: readonly (Quantiles | undefined)[],
): { byLevel: Record<QuantileKey, number | null>; mean: number | null; n: number } {
  const sums = QUANTILE_KEYS.map(() => ({ sum: 0, n: 0 }));
  let total = 0;
  let n = 0;
  for (let i = 0; i < actual.length; i += 1) {
    const y = actual[i] ?? Number.NaN;
    const q = quantiles[i];
    QUANTILE_KEYS.forEach((key, j) => {
      const v = q?.[key];
      const s = sums[j];
      if (v === undefined || !s) return;
      s.sum += pinballLoss(y, v, QUANTILE_LEVELS[j] ?? 0.5);
      s.n += 1;
    });
    const m = meanPinball(y, q);
    if (m === undefined) continue;
    total += m;
    n += 1;
  }
  const level = (j: number): number | null => {
    const s = sums[j];
    return s && s.n ? s.sum / s.n : null;
  };
  const byLevel = { q05: level(0), q25: level(1), q50: level(2), q75: level(3), q95: level(4) };
  return { byLevel, mean: n ? total / n : null, n };
}
