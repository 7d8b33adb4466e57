import type { HorizonLabel } from '../types.ts';
import type { HorizonOutcome } from './types.ts';

/**
 * The economics inputs of one series, aligned by origin bar: the rows are the origin bars
 * of the "1m" outcomes (whose realised return is exactly the next 1-minute return), in
 * time order; sigma and pUp of every horizon are joined on the origin bar's ts, null where
 * that horizon has no outcome there (its window not yet realised) or the series no target.
 */
export type EconomicsInput = {
  series: string;
  ts: number[];
  nextReturn: number[];
  sigmaHorizon: HorizonLabel;
  sigmaMinutes: number;
  sigma: (number | null)[];
  /** By horizon label. */
  pUp: Record<string, (number | null)[]>;
};

/**
 * Joins the outcomes of one symbol by origin bar. Throws a RangeError on two outcomes of
 * the same horizon and ts: outcomes of several symbols mixed together cannot be joined.
 */
export function economicsInput(
  outcomes: readonly HorizonOutcome[],
  options: { series?: string; sigmaHorizon?: HorizonLabel } = {},
): EconomicsInput {
  const series = options.series ?? 'blend';
  const sigmaHorizon = options.sigmaHorizon ?? '60m';
  const byHorizon = new Map<string, Map<number, HorizonOutcome>>();
  for (const o of outcomes) {
    const m = byHorizon.get(o.horizon) ?? new Map<number, HorizonOutcome>();
    if (m.has(o.ts)) throw new RangeError(`two ${o.horizon} outcomes at ts ${o.ts}: join outcomes of one symbol at a time`);
    m.set(o.ts, o);
    byHorizon.set(o.horizon, m);
  }
  const oneMinute = [...(byHorizon.get('1m')?.values() ?? [])].sort((a, b) => a.ts - b.ts);
  const ts = oneMinute.map((o) => o.ts);
  const sigmaOutcomes = byHorizon.get(sigmaHorizon);
  const sigma = ts.map((t) => sigmaOutcomes?.get(t)?.forecasts[series]?.sigma ?? null);
  const pUp: Record<string, (number | null)[]> = {};
  const horizons = [...byHorizon.entries()].sort(([, a], [, b]) => minutesOf(a) - minutesOf(b));
  for (const [label, m] of horizons) pUp[label] = ts.map((t) => m.get(t)?.forecasts[series]?.pUp ?? null);
  const first = sigmaOutcomes?.values().next().value;
  return {
    series,
    ts,
    nextReturn: oneMinute.map((o) => o.realisedReturn),
    sigmaHorizon,
    sigmaMinutes: first?.minutes ?? Number.parseInt(sigmaHorizon, 10),
    sigma,
    pUp,
  };
}

function minutesOf(m: ReadonlyMap<number, HorizonOutcome>): number {
  return m.values().next().value?.minutes ?? 0;
}
