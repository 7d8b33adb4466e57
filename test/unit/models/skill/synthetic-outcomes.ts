import { mulberry32 } from '../../../../market/index.ts';
import type { HorizonLabel } from '../../../../models/types.ts';
import type { HorizonOutcome, TargetForecast } from '../../../../models/skill/index.ts';

const Z = { q05: -1.6449, q25: -0.6745, q50: 0, q75: 0.6745, q95: 1.6449 } as const;

function normalForecast(sigma: number, pUp?: number): TargetForecast {
  const quantiles = { q05: Z.q05 * sigma, q25: Z.q25 * sigma, q50: 0, q75: Z.q75 * sigma, q95: Z.q95 * sigma };
  return pUp === undefined ? { sigma, quantiles } : { sigma, pUp, quantiles };
}

/**
 * Outcomes of a market whose 1-minute volatility follows a mean-reverting log random walk
 * (6 % steps, so it moves within a few hundred bars): 'blend'
 * forecasts the true volatility, 'har' a noisy version of it, 'naive' a constant one (no
 * pUp); pUp of 'blend' is 0.5 with noise (no skill). Deterministic for a seed.
 */
export function syntheticOutcomes(bars: number, seed = 7, horizons: readonly number[] = [1, 5, 15, 60]): HorizonOutcome[] {
  const rng = mulberry32(seed);
  const sigma1: number[] = [];
  const r: number[] = [];
  let logVol = Math.log(0.001);
  for (let t = 0; t < bars + Math.max(...horizons); t += 1) {
    logVol += 0.06 * rng.gaussian() - 0.002 * (logVol - Math.log(0.001));
    const s = Math.exp(logVol);
    sigma1.push(s);
    r.push(s * rng.gaussian());
  }
  const out: HorizonOutcome[] = [];
  for (const h of horizons) {
    for (let t = 0; t < bars; t += 1) {
      let ret = 0;
      let rv = 0;
      let trueVar = 0;
      for (let k = 1; k <= h; k += 1) {
        const x = r[t + k] ?? 0;
        ret += x;
        rv += x * x;
        trueVar += (sigma1[t + k] ?? 0) ** 2;
      }
      const trueSigma = Math.sqrt(trueVar);
      out.push({
        ts: 1_700_000_000_000 + t * 60_000,
        horizon: `${h}m` as HorizonLabel,
        minutes: h,
        realisedReturn: ret,
        realisedVariance: rv,
        forecasts: {
          blend: normalForecast(trueSigma, Math.min(1, Math.max(0, 0.5 + 0.05 * rng.gaussian()))),
          har: normalForecast(trueSigma * Math.exp(0.3 * rng.gaussian()), 0.5),
          naive: { sigma: 0.001 * Math.sqrt(h) },
        },
      });
    }
  }
  return out;
}
