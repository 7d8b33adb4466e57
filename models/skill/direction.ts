import { rocAuc } from '../metrics.ts';

/**
 * The direction label: 1 when the realised return is strictly positive. A flat outcome
 * (exactly 0, common at minute scale on tick-sized prices) counts as not up, because pUp
 * forecasts P(return > 0); counting flats as up would credit a forecaster with moves it
 * never claimed.
 */
export const upLabel = (realisedReturn: number): 0 | 1 => (realisedReturn > 0 ? 1 : 0);

/** Squared error of one probability against its 0/1 outcome. */
export const brierLoss = (p: number, y: number): number => (p - y) ** 2;

/** Mean Brier score; null for an empty sample. */
export function brierScore(p: ArrayLike<number>, y: ArrayLike<number>): number | null {
  let s = 0;
  for (let i = 0; i < p.length; i += 1) s += brierLoss(p[i] ?? 0, y[i] ?? 0);
  return p.length ? s / p.length : null;
}

/** ROC AUC of pUp against the up label (the existing Mann–Whitney implementation); null with one class. */
export const directionAuc = (p: ArrayLike<number>, y: ArrayLike<number>): number | null => rocAuc(p, y);

/** Reliability bins: 10 of equal width on [0, 1]. */
export const RELIABILITY_BINS = 10;

/** The bin of a probability: [k/10, (k+1)/10), with 1 in the last bin. */
export function binOf(p: number, bins = RELIABILITY_BINS): number {
  return Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
}

/** One bin of a reliability table; the means are null for an empty bin. */
export type ReliabilityBin = { lo: number; hi: number; count: number; meanForecast: number | null; observedFrequency: number | null };

export function reliabilityTable(p: ArrayLike<number>, y: ArrayLike<number>, bins = RELIABILITY_BINS): ReliabilityBin[] {
  const count = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  for (let i = 0; i < p.length; i += 1) {
    const k = binOf(p[i] ?? 0, bins);
    count[k] = (count[k] ?? 0) + 1;
    sumP[k] = (sumP[k] ?? 0) + (p[i] ?? 0);
    sumY[k] = (sumY[k] ?? 0) + (y[i] ?? 0);
  }
  return Array.from({ length: bins }, (_, k) => {
    const c = count[k] ?? 0;
    return {
      lo: k / bins,
      hi: (k + 1) / bins,
      count: c,
      meanForecast: c ? (sumP[k] ?? 0) / c : null,
      observedFrequency: c ? (sumY[k] ?? 0) / c : null,
    };
  });
}

/** Expected calibration error Σ (n_bin / N)·|mean p − frequency| of a reliability table; null when empty. */
export function expectedCalibrationError(table: readonly ReliabilityBin[]): number | null {
  let total = 0;
  let err = 0;
  for (const b of table) {
    total += b.count;
    if (b.meanForecast !== null && b.observedFrequency !== null) err += b.count * Math.abs(b.meanForecast - b.observedFrequency);
  }
  return total ? err / total : null;
}

/**
 * ECE as a function of column sums, for the bootstrap: column k holds (p − y) inside bin k
 * and 0 elsewhere, since (n_k/N)·|Σp/n_k − Σy/n_k| = |Σ_k (p − y)| / N.
 */
export function eceColumns(p: ArrayLike<number>, y: ArrayLike<number>, bins = RELIABILITY_BINS): Float64Array[] {
  const columns = Array.from({ length: bins }, () => new Float64Array(p.length));
  for (let i = 0; i < p.length; i += 1) {
    const c = columns[binOf(p[i] ?? 0, bins)];
    if (c) c[i] = (p[i] ?? 0) - (y[i] ?? 0);
  }
  return columns;
}

export function eceFromSums(sums: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let k = 0; k < sums.length; k += 1) s += Math.abs(sums[k] ?? 0);
  return s / n;
}

/**
 * ROC AUC of the observations at `idx` (repeats allowed), from dense ranks of the scores
 * computed once: O(n) per resample instead of a sort. Equals `rocAuc` on the same multiset.
 */
export function aucOnIndices(p: ArrayLike<number>, y: ArrayLike<number>): (idx: ArrayLike<number>) => number | null {
  const order = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => (p[a] ?? 0) - (p[b] ?? 0));
  const rank = new Int32Array(p.length);
  let levels = 0;
  order.forEach((i, k) => {
    const prev = order[k - 1];
    if (k > 0 && prev !== undefined && p[prev] !== p[i]) levels += 1;
    rank[i] = levels;
  });
  levels += 1;
  // Counts per rank, reused across calls: a resample of a month of minutes has ~40 000 ranks.
  const neg = new Int32Array(levels);
  const pos = new Int32Array(levels);
  return (idx) => {
    neg.fill(0);
    pos.fill(0);
    for (let k = 0; k < idx.length; k += 1) {
      const i = idx[k] ?? 0;
      const r = rank[i] ?? 0;
      if ((y[i] ?? 0) === 1) pos[r] = (pos[r] ?? 0) + 1;
      else neg[r] = (neg[r] ?? 0) + 1;
    }
    let below = 0;
    let wins = 0;
    let nPos = 0;
    for (let r = 0; r < levels; r += 1) {
      const np = pos[r] ?? 0;
      const nn = neg[r] ?? 0;
      wins += np * (below + nn / 2);
      nPos += np;
      below += nn;
    }
    return nPos === 0 || below === 0 ? null : wins / (nPos * below);
  };
}
