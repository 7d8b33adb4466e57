import type { Forecast } from './types.ts';

/**
 * Forecast quality on one test window. Regression metrics compare `value` with
 * the realised log return; classification metrics compare `pUp` with the label
 * "realised return > 0" (threshold 0.5 for accuracy and F1).
 * `mape` is the mean absolute percentage error of the implied price
 * close[t]·e^value against close[t + horizon] (percentage error of a log return
 * itself is meaningless near zero). Undefined metrics (e.g. AUC with one class) are null.
 */
export type ForecastMetrics = {
  n: number;
  mae: number;
  rmse: number;
  mape: number;
  r2: number | null;
  directionAccuracy: number;
  rocAuc: number | null;
  f1: number | null;
  brier: number;
};

/** Area under the ROC curve (Mann–Whitney U, ties counted half); null when one class is absent. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] ?? 0) - (scores[b] ?? 0));
  let pos = 0;
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1] ?? 0] === scores[idx[i] ?? 0]) j += 1;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k += 1) {
      if ((labels[idx[k] ?? 0] ?? 0) === 1) {
        pos += 1;
        rankSumPos += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Metrics of forecasts against realised log returns (same length, same order). */
export function forecastMetrics(actual: ArrayLike<number>, forecasts: readonly Forecast[]): ForecastMetrics {
  const n = actual.length;
  if (forecasts.length !== n) throw new RangeError(`forecasts (${forecasts.length}) and actuals (${n}) differ in length`);
  let absSum = 0;
  let sqSum = 0;
  let apeSum = 0;
  let mean = 0;
  for (let i = 0; i < n; i += 1) mean += actual[i] ?? 0;
  mean /= Math.max(n, 1);
  let tot = 0;
  let correct = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let brier = 0;
  const labels = new Uint8Array(n);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    const a = actual[i] ?? 0;
    const f = forecasts[i] ?? { value: 0, pUp: 0.5 };
    const e = f.value - a;
    absSum += Math.abs(e);
    sqSum += e * e;
    apeSum += Math.abs(Math.expm1(e));
    tot += (a - mean) ** 2;
    const label = a > 0 ? 1 : 0;
    const guess = f.pUp > 0.5 ? 1 : 0;
    labels[i] = label;
    scores[i] = f.pUp;
    if (guess === label) correct += 1;
    if (guess === 1 && label === 1) tp += 1;
    if (guess === 1 && label === 0) fp += 1;
    if (guess === 0 && label === 1) fn += 1;
    brier += (f.pUp - label) ** 2;
  }
  const denom = 2 * tp + fp + fn;
  return {
    n,
    mae: absSum / n,
    rmse: Math.sqrt(sqSum / n),
    mape: (100 * apeSum) / n,
    r2: tot > 0 ? 1 - sqSum / tot : null,
    directionAccuracy: correct / n,
    rocAuc: rocAuc(scores, labels),
    f1: denom > 0 ? (2 * tp) / denom : null,
    brier: brier / n,
  };
}
