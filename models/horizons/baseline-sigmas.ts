import type { OhlcvBar } from '../types.ts';
import type { SignalSettings } from './settings.ts';
import { SymbolSignals } from './symbol-signals.ts';

/** The baselines' volatility forecasts at one origin bar, by horizon label. */
export type BaselineSigmas = Readonly<Record<string, { readonly ewma?: number; readonly har?: number }>>;

/**
 * The EWMA and HAR volatility forecasts the live blend would have made at every
 * bar of a series (each fitted only on what had realised by then): what a
 * learned model's volatility head is judged against on the same windows.
 */
export function baselineSigmas(bars: readonly OhlcvBar[], settings: SignalSettings): Map<number, BaselineSigmas> {
  const signals = new SymbolSignals(settings);
  const out = new Map<number, BaselineSigmas>();
  for (const bar of bars) {
    const step = signals.step(bar);
    if (!step?.horizons) continue;
    const byHorizon: Record<string, { ewma?: number; har?: number }> = {};
    for (const c of step.components) {
      if (c.role !== 'ewma' && c.role !== 'har') continue;
      for (const [label, t] of Object.entries(c.horizons)) {
        if (t.sigma !== undefined) byHorizon[label] = { ...byHorizon[label], [c.role]: t.sigma };
      }
    }
    out.set(bar.ts, byHorizon);
  }
  return out;
}
