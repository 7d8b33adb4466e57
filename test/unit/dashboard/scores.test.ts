import { describe, expect, it } from 'vitest';
// The page's own module, as the browser loads it.
import { componentLabels, outcome, qlikeLoss, rollingScores } from '../../../dashboard/web/scores.js';
import { TimeStore } from '../../../dashboard/web/series.js';

const M = 60_000;

describe('the page scores on realised outcomes', () => {
  const closes = new Map([0, 1, 2, 3].map((k) => [k * M, [100, 101, 99.99, 103][k]!]));

  it('takes the log return to the close h bars later and the sum of squared 1-minute returns', () => {
    const o = outcome(closes, 0, 3)!;
    expect(o.r).toBeCloseTo(Math.log(103 / 100), 12);
    const r = [Math.log(101 / 100), Math.log(99.99 / 101), Math.log(103 / 99.99)];
    expect(o.rv).toBeCloseTo(r.reduce((s, x) => s + x * x, 0), 12);
    expect(outcome(closes, M, 3), 'not yet realised').toBeUndefined();
  });

  it('QLIKE is zero for a perfect variance forecast and positive otherwise', () => {
    expect(qlikeLoss(2e-4, 2e-4)).toBeCloseTo(0, 12);
    expect(qlikeLoss(2e-4, 1e-4)).toBeCloseTo(2 - Math.log(2) - 1, 12);
  });

  it('scores the blend and every component with a sigma, hit rate and Brier over a rolling window', () => {
    const f = (value: number, sigma: number, pUp: number) => ({ value, pUp, sigma, q05: -0.05, q25: -0.001, q50: 0, q75: 0.001, q95: 0.05 });
    const preds = [0, 1, 2].map((k) => ({
      ts: k * M,
      horizons: { '1m': f(k === 1 ? 0.001 : -0.001, 0.01, 0.6) },
      components: [
        { role: 'har', version: 'har', horizons: { '1m': { sigma: 0.02 } } },
        { role: 'pretrained', version: 'a', horizons: { '1m': { value: 0 } } },
      ],
    }));
    const { points, vol } = rollingScores(preds, closes, '1m', 2);
    expect(points).toHaveLength(3);
    const r = [Math.log(101 / 100), Math.log(99.99 / 101), Math.log(103 / 99.99)];
    // Signs: up (forecast down: miss), down (forecast up: miss), up (forecast down: miss).
    expect(points[2]!.hitRate).toBe(0);
    // Window 2: the last two outcomes only.
    expect(points[2]!.n).toBe(2);
    expect(points[2]!.brier).toBeCloseTo(((0.6 - 0) ** 2 + (0.6 - 1) ** 2) / 2, 12);
    expect(points[2]!.qlike.blend).toBeCloseTo((qlikeLoss(r[1]! ** 2, 1e-4) + qlikeLoss(r[2]! ** 2, 1e-4)) / 2, 12);
    expect(points[2]!.qlike.har).toBeCloseTo((qlikeLoss(r[1]! ** 2, 4e-4) + qlikeLoss(r[2]! ** 2, 4e-4)) / 2, 12);
    expect(points[2]!.qlike.pretrained, 'a component without a volatility forecast has no QLIKE').toBeUndefined();
    expect(points[0]!.coverage90).toBe(1);
    expect(vol.map((v) => v.time)).toEqual([M, 2 * M, 3 * M]);
  });

  it('labels components by role, with the version when a role appears twice', () => {
    expect(componentLabels([{ role: 'pretrained', version: 'a' }, { role: 'pretrained', version: 'b' }, { role: 'har', version: 'h' }])).toEqual(['pretrained a', 'pretrained b', 'har']);
  });
});

describe('the page keeps bounded series', () => {
  it('keeps the newest entries in time order and drops the oldest', () => {
    const s = new TimeStore(10);
    for (let i = 30; i >= 0; i -= 1) s.set(i * M, i);
    expect(s.size).toBeLessThanOrEqual(11);
    s.trim();
    expect(s.keys()).toEqual(Array.from({ length: 10 }, (_, i) => (i + 21) * M));
    s.set(31 * M, 31);
    expect(s.last()).toBe(31);
  });
});
