import type { OhlcvBar } from '../types.ts';
import type { HorizonOutcome, TargetForecast } from '../skill/index.ts';
import type { HorizonForecast } from './types.ts';

const MINUTE_MS = 60_000;

/** The parts of a published prediction this needs (structural: `Prediction` from streams fits). */
export type PublishedForecast = {
  readonly ts: number;
  readonly horizons?: Readonly<Record<string, HorizonForecast>> | undefined;
  readonly components: readonly {
    readonly role: string;
    readonly horizons?: Readonly<Record<string, { value?: number | undefined; pUp?: number | undefined; sigma?: number | undefined }>> | undefined;
  }[];
};

const minutesOf = (label: string): number => Number(label.slice(0, -1));

/**
 * Scores published predictions against the bars that followed, exactly as the
 * live blend scores its own: for each prediction and horizon h whose h following
 * 1-minute bars are all present, the realised return ln(close[t+h]/close[t]) and
 * realised variance Σ r² over (t, t+h]. A horizon spanning a missing minute is
 * not scored. This is how a run's stored predictions (or a subscriber's
 * recording of `signal.pred.*`) are judged from outside.
 */
export function outcomesFromPredictions(predictions: readonly PublishedForecast[], bars: readonly OhlcvBar[]): HorizonOutcome[] {
  const index = new Map<number, number>();
  bars.forEach((b, i) => index.set(b.ts, i));
  // Cumulative squared returns over consecutive minutes; a gap restarts the run (`runStart`).
  const cum = new Float64Array(bars.length);
  const runStart = new Int32Array(bars.length);
  for (let i = 1; i < bars.length; i += 1) {
    const prev = bars[i - 1];
    const bar = bars[i];
    if (!prev || !bar) continue;
    const contiguous = bar.ts === prev.ts + MINUTE_MS && prev.close > 0 && bar.close > 0;
    const r = contiguous ? Math.log(bar.close / prev.close) : 0;
    cum[i] = (cum[i - 1] ?? 0) + r * r;
    runStart[i] = contiguous ? (runStart[i - 1] ?? 0) : i;
  }
  const out: HorizonOutcome[] = [];
  for (const p of predictions) {
    const i = index.get(p.ts);
    if (i === undefined || !p.horizons) continue;
    const origin = bars[i];
    if (!origin) continue;
    for (const [label, blend] of Object.entries(p.horizons)) {
      const h = minutesOf(label);
      const j = i + h;
      const end = bars[j];
      if (!end || end.ts !== origin.ts + h * MINUTE_MS || (runStart[j] ?? 0) > i) continue;
      const forecasts: Record<string, TargetForecast> = {
        blend: { value: blend.value, pUp: blend.pUp, sigma: blend.sigma, quantiles: { q05: blend.q05, q25: blend.q25, q50: blend.q50, q75: blend.q75, q95: blend.q95 } },
      };
      for (const c of p.components) {
        const t = c.horizons?.[label];
        if (!t) continue;
        forecasts[c.role] = {
          ...(t.value !== undefined ? { value: t.value } : {}),
          ...(t.pUp !== undefined ? { pUp: t.pUp } : {}),
          ...(t.sigma !== undefined ? { sigma: t.sigma } : {}),
        };
      }
      out.push({
        ts: p.ts,
        horizon: label as HorizonOutcome['horizon'],
        minutes: h,
        realisedReturn: Math.log(end.close / origin.close),
        realisedVariance: Math.max(0, (cum[j] ?? 0) - (cum[i] ?? 0)),
        forecasts,
      });
    }
  }
  return out;
}
