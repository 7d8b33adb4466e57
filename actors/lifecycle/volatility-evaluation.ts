import { baselineSigmas, buildWindows, DEFAULT_SIGNAL_SETTINGS, qlike, specOf, windowAt, type FeatureWindow, type NeuralPredictor, type OhlcvBar } from '../../models/index.ts';

/** QLIKE of a model's volatility head and of the baselines on the same windows, one horizon. */
export type HorizonVolatility = { readonly n: number; readonly model: number; readonly har: number; readonly ewma: number };
/** By horizon label; only horizons with scored windows. */
export type VolatilityEvaluation = Readonly<Record<string, HorizonVolatility>>;

const MINUTE_MS = 60_000;

/**
 * A multi-horizon model's sigma heads judged as the live blend judges them:
 * QLIKE of σ² against the realised variance over each horizon, on the windows
 * whose origin bar opened in [fromTs, toTs], beside the EWMA and HAR baselines
 * as they would have stood at those bars (each fitted only on what had realised
 * by then). Undefined for a model without horizon heads.
 */
export function volatilityOnWindow(predictor: NeuralPredictor, bars: readonly OhlcvBar[], fromTs: number, toTs: number): VolatilityEvaluation | undefined {
  const horizons = specOf(predictor.preprocessor).horizons;
  if (!horizons || horizons.length === 0) return undefined;
  const set = buildWindows(bars, specOf(predictor.preprocessor));
  const index = new Map<number, number>();
  bars.forEach((b, i) => index.set(b.ts, i));
  const windows: FeatureWindow[] = [];
  const origins: number[] = [];
  for (let i = 0; i < set.count; i += 1) {
    const ts = set.ts[i] ?? Number.NaN;
    if (ts < fromTs || ts > toTs) continue;
    windows.push(windowAt(set, i));
    origins.push(set.end[i] ?? -1);
  }
  if (windows.length === 0) return undefined;
  const forecasts = predictor.predictBatch(windows);
  const baselines = baselineSigmas(bars, { ...DEFAULT_SIGNAL_SETTINGS, horizons });
  const out: Record<string, HorizonVolatility> = {};
  for (const h of horizons) {
    const label = `${h}m` as const;
    const rv: number[] = [];
    const model: number[] = [];
    const har: number[] = [];
    const ewma: number[] = [];
    origins.forEach((e, k) => {
      const origin = bars[e];
      const end = bars[e + h];
      if (!origin || !end || end.ts !== origin.ts + h * MINUTE_MS) return;
      const sigma = forecasts[k]?.horizons?.[label]?.sigma;
      const base = baselines.get(origin.ts)?.[label];
      if (sigma === undefined || base?.har === undefined || base.ewma === undefined) return;
      let sum = 0;
      for (let j = e + 1; j <= e + h; j += 1) sum += Math.log((bars[j]?.close ?? 1) / (bars[j - 1]?.close ?? 1)) ** 2;
      rv.push(sum);
      model.push(sigma * sigma);
      har.push(base.har * base.har);
      ewma.push(base.ewma * base.ewma);
    });
    const m = qlike(rv, model);
    const hq = qlike(rv, har);
    const eq = qlike(rv, ewma);
    if (m.mean === null || hq.mean === null || eq.mean === null) continue;
    out[label] = { n: m.n, model: m.mean, har: hq.mean, ewma: eq.mean };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Pools evaluations of several series (each horizon's QLIKEs weighted by their windows). */
export function poolVolatility(parts: readonly (VolatilityEvaluation | undefined)[]): VolatilityEvaluation | undefined {
  const acc: Record<string, { n: number; model: number; har: number; ewma: number }> = {};
  for (const part of parts) {
    for (const [h, v] of Object.entries(part ?? {})) {
      const a = (acc[h] ??= { n: 0, model: 0, har: 0, ewma: 0 });
      a.n += v.n;
      a.model += v.n * v.model;
      a.har += v.n * v.har;
      a.ewma += v.n * v.ewma;
    }
  }
  const out = Object.fromEntries(
    Object.entries(acc)
      .filter(([, a]) => a.n > 0)
      .map(([h, a]) => [h, { n: a.n, model: a.model / a.n, har: a.har / a.n, ewma: a.ewma / a.n }]),
  );
  return Object.keys(out).length > 0 ? out : undefined;
}
