import { specHorizons, type WindowSet } from './features.ts';
import { horizonKey } from './horizon-targets.ts';
import { rocAuc } from './metrics.ts';
import type { Forecast, HorizonLabel, OhlcvBar } from './types.ts';
import { meanQlike } from './variance-loss.ts';

/**
 * Quality of the multi-horizon heads of one horizon on a split: the return head's
 * MAE (cumulative log return), the up head's ROC AUC, and QLIKE (rv/σ² + ln σ²,
 * lower is better) of the variance head next to two naive variance forecasts on
 * the same windows: `ewma` (h · the EWMA of squared one-step returns up to the
 * window's last bar) and `historical` (the train split's mean realised variance s_h,
 * the constant the head starts from).
 */
export type HorizonValidationMetrics = {
  n: number;
  mae: number;
  rocAuc: number | null;
  qlike: number;
  qlikeEwma: number;
  qlikeHistorical: number;
};

/** Span in bars of the EWMA variance baseline: an hour of 1-minute bars, as the live blend's EWMA. */
export const EWMA_VARIANCE_SPAN = 60;

/** EWMA of squared one-step log returns at every bar (returns up to and including it; 0 at the first bar). */
export function ewmaVariances(bars: readonly OhlcvBar[], span = EWMA_VARIANCE_SPAN): Float64Array {
  const alpha = 2 / (span + 1);
  const out = new Float64Array(bars.length);
  let v: number | undefined;
  for (let j = 1; j < bars.length; j += 1) {
    const r = Math.log((bars[j]?.close ?? 1) / (bars[j - 1]?.close ?? 1));
    v = v === undefined ? r * r : alpha * r * r + (1 - alpha) * v;
    out[j] = v;
  }
  return out;
}

/**
 * Per-horizon metrics of `forecasts` (one per window of `set`, from a model with
 * horizon heads) on the set's labelled windows. `bars` are the series the set was
 * cut from (its `end` indices point into it); `varianceScale` is s_h per horizon.
 */
export function horizonValidationMetrics(
  set: WindowSet,
  forecasts: readonly Forecast[],
  bars: readonly OhlcvBar[],
  varianceScale: readonly number[],
): Partial<Record<HorizonLabel, HorizonValidationMetrics>> {
  const hs = specHorizons(set.spec);
  const n = set.labelled;
  const ewma = ewmaVariances(bars);
  const out: Partial<Record<HorizonLabel, HorizonValidationMetrics>> = {};
  hs.forEach((h, j) => {
    const label = horizonKey(h);
    const rv = new Float64Array(n);
    const model = new Float64Array(n);
    const naive = new Float64Array(n);
    const historical = new Float64Array(n).fill(varianceScale[j] ?? Number.NaN);
    const scores = new Float64Array(n);
    const labels = new Uint8Array(n);
    let abs = 0;
    for (let i = 0; i < n; i += 1) {
      const ret = set.horizonReturn?.[i * hs.length + j] ?? Number.NaN;
      const f = forecasts[i]?.horizons?.[label];
      rv[i] = set.horizonVariance?.[i * hs.length + j] ?? Number.NaN;
      model[i] = f ? f.sigma ** 2 : Number.NaN;
      naive[i] = h * (ewma[set.end[i] ?? 0] ?? Number.NaN);
      abs += Math.abs((f?.value ?? 0) - ret);
      scores[i] = f?.pUp ?? 0.5;
      labels[i] = ret > 0 ? 1 : 0;
    }
    out[label] = { n, mae: abs / Math.max(1, n), rocAuc: rocAuc(scores, labels), qlike: meanQlike(rv, model), qlikeEwma: meanQlike(rv, naive), qlikeHistorical: meanQlike(rv, historical) };
  });
  return out;
}

const fmt = (v: number | null, digits = 4) => (v === null || !Number.isFinite(v) ? 'n/a' : Math.abs(v) < 1e-2 && v !== 0 ? v.toExponential(3) : v.toFixed(digits));

/** Markdown section of the horizon heads' validation metrics, for the run report. */
export function renderHorizonSection(metrics: Partial<Record<HorizonLabel, HorizonValidationMetrics>>): string {
  const rows = Object.entries(metrics).flatMap(([label, m]) =>
    m ? [`| ${label} | ${m.n} | ${fmt(m.mae)} | ${fmt(m.rocAuc)} | ${fmt(m.qlike)} | ${fmt(m.qlikeEwma)} | ${fmt(m.qlikeHistorical)} |`] : [],
  );
  return `
## Horizon heads (validation split)

QLIKE is rv/σ² + ln σ² of the variance forecast (lower is better); \`EWMA\` forecasts h · the EWMA (span ${EWMA_VARIANCE_SPAN} bars) of squared one-step returns, \`historical\` the train split's mean realised variance.

| horizon | n | MAE (return) | ROC AUC (up) | QLIKE model | QLIKE EWMA | QLIKE historical |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
}
