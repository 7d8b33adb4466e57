import { describe, expect, it } from 'vitest';
import { classifyRegime, DEFAULT_REGIME_THRESHOLDS, labelRegimes, RegimeTracker } from '../../../../actors/prediction/index.ts';

describe('regimes', () => {
  it('classifies by the documented thresholds', () => {
    const t = DEFAULT_REGIME_THRESHOLDS;
    expect(classifyRegime({ trendZ: t.trendZ, volRatio: 1, volumeRatio: 1 })).toBe('trending_up');
    expect(classifyRegime({ trendZ: -t.trendZ, volRatio: 3, volumeRatio: 1 }), 'trend wins over volatility').toBe('trending_down');
    expect(classifyRegime({ trendZ: 0, volRatio: t.volatileRatio, volumeRatio: 1 })).toBe('volatile');
    expect(classifyRegime({ trendZ: 0, volRatio: t.volatileWithVolume, volumeRatio: t.volumeSurge }), 'volume surge with raised volatility').toBe('volatile');
    expect(classifyRegime({ trendZ: 0, volRatio: t.volatileWithVolume, volumeRatio: 1 })).toBe('calm');
  });

  it('labels a quiet series calm, then a steady climb trending_up, then a volatility burst volatile', () => {
    const bars: { close: number; volume: number }[] = [];
    let p = 100;
    let u = 1;
    const noise = () => {
      u = (u * 16807) % 2147483647;
      return u / 2147483647 - 0.5;
    };
    for (let i = 0; i < 1500; i += 1) bars.push({ close: (p *= Math.exp(0.001 * noise())), volume: 10 });
    for (let i = 0; i < 200; i += 1) bars.push({ close: (p *= Math.exp(0.0004 + 0.0002 * noise())), volume: 10 });
    for (let i = 0; i < 200; i += 1) bars.push({ close: (p *= Math.exp(0.006 * noise())), volume: 40 });
    const labels = labelRegimes(bars);
    expect(labels[10], 'warming up').toBeUndefined();
    expect(labels[1400]).toBe('calm');
    expect(labels[1690]).toBe('trending_up');
    expect(labels[1890]).toBe('volatile');
  });

  it('switches only after the new regime persists (hysteresis)', () => {
    const tr = new RegimeTracker(3);
    expect(tr.update('calm')).toBe('calm');
    expect(tr.update('volatile'), 'one bar is not enough').toBe('calm');
    expect(tr.update('calm'), 'streak broken').toBe('calm');
    expect(tr.update('volatile')).toBe('calm');
    expect(tr.update('volatile')).toBe('calm');
    expect(tr.update('volatile'), 'third consecutive bar switches').toBe('volatile');
    expect(tr.switches).toBe(1);
  });
});
