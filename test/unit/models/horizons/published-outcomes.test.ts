import { describe, expect, it } from 'vitest';
import { DEFAULT_SIGNAL_SETTINGS, outcomesFromPredictions, SymbolSignals, type HorizonOutcome, type PublishedForecast } from '../../../../models/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

describe('scoring published predictions', () => {
  it('gives the same outcomes from the published messages and bars as the live blend scored itself, and skips horizons across a gap', () => {
    const all = marketBars(500, undefined, { seed: 21 });
    // A missing minute at bar 300.
    const bars = [...all.slice(0, 300), ...all.slice(301)];
    const s = new SymbolSignals({ ...DEFAULT_SIGNAL_SETTINGS, harMinSamples: 60 });
    const live: HorizonOutcome[] = [];
    const published: PublishedForecast[] = [];
    for (const b of bars) {
      const r = s.step(b);
      if (!r) continue;
      live.push(...r.outcomes);
      if (r.horizons) published.push({ ts: b.ts, horizons: r.horizons, components: r.components });
    }
    const outside = outcomesFromPredictions(published, bars);
    const key = (o: HorizonOutcome) => `${o.ts}/${o.horizon}`;
    expect(outside.map(key).sort()).toEqual(live.map(key).sort());
    const byKey = new Map(live.map((o) => [key(o), o]));
    for (const o of outside) {
      const l = byKey.get(key(o));
      expect(o.realisedReturn).toBeCloseTo(l?.realisedReturn ?? Number.NaN, 14);
      expect(o.realisedVariance).toBeCloseTo(l?.realisedVariance ?? Number.NaN, 14);
      expect(o.forecasts.blend).toEqual(l?.forecasts.blend);
      expect(o.forecasts.har?.sigma).toBe(l?.forecasts.har?.sigma);
    }
    const gapTs = all[300]?.ts ?? 0;
    expect(outside.some((o) => o.ts < gapTs && o.ts + o.minutes * 60_000 >= gapTs)).toBe(false);
    expect(outside.length).toBeGreaterThan(1_500);
  });
});
