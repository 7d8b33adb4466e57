import { describe, expect, it } from 'vitest';
import {
  buildWindows,
  FeatureBuilder,
  ModelInputError,
  sliceWindows,
  splitWindows,
  targetReach,
  warmupBars,
  windowAt,
  type FeatureSpec,
  type OhlcvBar,
} from '../../../models/index.ts';
import { marketBars } from '../../support/models/fixtures.ts';

const T0 = Date.UTC(2024, 0, 1);
const CLOSES = [100, 101, 99, 102, 103, 101, 100, 104];

function barsOf(closes: readonly number[]): OhlcvBar[] {
  return closes.map((close, i) => ({ ts: T0 + i * 60_000, open: close, high: close * 1.001, low: close * 0.999, close, volume: 1 }));
}

const ln = Math.log;
const r = (i: number) => ln((CLOSES[i] ?? Number.NaN) / (CLOSES[i - 1] ?? Number.NaN));

describe('buildWindows: multi-horizon targets', () => {
  // volWindow 2 and lookback 2: the first feature row is at bar 2, the first window ends at bar 3.
  const spec: FeatureSpec = { lookback: 2, horizon: 1, volWindow: 2, context: false, horizons: [1, 3] };

  it('computes each horizon’s cumulative log return and realised variance (hand-computed)', () => {
    const set = buildWindows(barsOf(CLOSES), spec);
    expect(Array.from(set.end), 'windows end at bars 3..7').toEqual([3, 4, 5, 6, 7]);
    const ret = set.horizonReturn;
    const rv = set.horizonVariance;
    if (!ret || !rv) throw new Error('a spec with horizons must give horizon targets');
    expect(ret.length, '[count × H]').toBe(5 * 2);
    // Window ending at bar 3 (close 102).
    expect(ret[0], '1-bar return').toBeCloseTo(ln(103 / 102), 15);
    expect(rv[0], '1-bar realised variance').toBeCloseTo(r(4) ** 2, 15);
    expect(ret[1], '3-bar return').toBeCloseTo(ln(100 / 102), 15);
    expect(rv[1], '3-bar realised variance: the sum of three squared one-step returns').toBeCloseTo(r(4) ** 2 + r(5) ** 2 + r(6) ** 2, 15);
    // Window ending at bar 4 (close 103): the 3-bar target reaches the last bar.
    expect(ret[3]).toBeCloseTo(ln(104 / 103), 15);
    expect(rv[3]).toBeCloseTo(r(5) ** 2 + r(6) ** 2 + r(7) ** 2, 15);
    // Window ending at bar 5: its 1-bar target exists, the 3-bar one does not.
    expect(ret[4]).toBeCloseTo(ln(100 / 101), 15);
    expect(ret[5], 'no bar 8: NaN').toBeNaN();
    expect(rv[5]).toBeNaN();
    expect(ret[9]).toBeNaN();
  });

  it('counts a window as labelled only when every horizon is realised (the longest decides)', () => {
    const set = buildWindows(barsOf(CLOSES), spec);
    expect(targetReach(spec)).toBe(3);
    expect(Number.isFinite(set.target[2]), 'the window at bar 5 has its 1-bar target').toBe(true);
    expect(set.labelled, 'only the windows at bars 3 and 4 have a 3-bar future').toBe(2);
    const tail = sliceWindows(set, 1, 5);
    expect(tail.labelled, 'slicing recounts with the same rule').toBe(1);
    expect(Array.from(tail.horizonReturn ?? []).slice(0, 2), 'slices keep the rows of their windows').toEqual(Array.from(set.horizonReturn ?? []).slice(2, 4));
  });

  it('leaves a spec without horizons exactly as it was (no horizon arrays, labelled by `horizon`)', () => {
    const plain: FeatureSpec = { lookback: 2, horizon: 1, volWindow: 2, context: false };
    const set = buildWindows(barsOf(CLOSES), plain);
    expect(set.horizonReturn).toBeUndefined();
    expect(set.horizonVariance).toBeUndefined();
    expect(set.stepReturn).toBeUndefined();
    expect(set.labelled, 'every window but the last has a next bar').toBe(4);
    expect(Object.keys(set).sort()).toEqual(['close', 'count', 'end', 'featureNames', 'labelled', 'spec', 'target', 'ts', 'x']);
  });

  it('embargoes the longest horizon at the split boundaries', () => {
    const bars = marketBars(800, 3_000);
    const s = splitWindows(buildWindows(bars, { lookback: 8, horizon: 1, volWindow: 10, context: false, horizons: [1, 5, 15] }), bars.length);
    expect(s.embargo, 'no training target may overlap a validation target').toBe(14);
    expect((s.val.end[0] ?? 0) - (s.train.end[s.train.count - 1] ?? 0)).toBe(15);
  });

  it('refuses horizons that are not ascending, unique whole bars', () => {
    for (const horizons of [[5, 1], [1, 1], [0, 5], [1.5]]) {
      expect(() => buildWindows(barsOf(CLOSES), { ...spec, horizons }), JSON.stringify(horizons)).toThrow(ModelInputError);
    }
  });
});

describe('buildWindows: the univariate layout', () => {
  const uni: FeatureSpec = { lookback: 3, horizon: 2, volWindow: 30, context: false, features: 'univariate' };

  it('has one feature (logReturn) and the next `horizon` one-step returns as target rows', () => {
    const set = buildWindows(barsOf(CLOSES), uni);
    expect(set.featureNames).toEqual(['logReturn']);
    expect(warmupBars(uni), 'univariate rows need only the previous close, not volWindow bars').toBe(4);
    expect(set.count).toBe(CLOSES.length - warmupBars(uni) + 1);
    expect(set.x.length, 'X is [N, lookback, 1]').toBe(set.count * uni.lookback * 1);
    expect(Array.from(set.x.subarray(0, 3)), 'window at bar 3: returns of bars 1..3').toEqual(Array.from(Float32Array.of(r(1), r(2), r(3))));
    const steps = set.stepReturn;
    if (!steps) throw new Error('univariate windows carry step targets');
    expect(steps.length, 'y is [N, horizon]').toBe(set.count * uni.horizon);
    expect(steps[0]).toBeCloseTo(r(4), 15);
    expect(steps[1]).toBeCloseTo(r(5), 15);
    expect((steps[0] ?? 0) + (steps[1] ?? 0), 'the steps sum to the horizon return').toBeCloseTo(set.target[0] ?? Number.NaN, 14);
    expect(set.labelled).toBe(3);
  });

  it('gives identical windows on the live and the batch path', () => {
    const bars = marketBars(300, 1_000);
    const set = buildWindows(bars, uni);
    const builder = new FeatureBuilder(uni);
    const live: number[][] = [];
    for (const bar of bars) {
      const w = builder.push(bar);
      if (w) live.push(w.rows.flatMap((row) => Array.from(row)));
    }
    expect(live.length).toBe(set.count);
    live.forEach((w, i) => expect(w, `window ${i}`).toEqual(windowAt(set, i).rows.flatMap((row) => Array.from(row))));
  });

  it('takes no context series', () => {
    expect(() => buildWindows(barsOf(CLOSES), { ...uni, context: true }, barsOf(CLOSES))).toThrow(/univariate features take no market-context series/);
  });
});
