import { describe, expect, it } from 'vitest';
import {
  BASE_FEATURES,
  buildWindows,
  FeatureBuilder,
  ModelInputError,
  NonFiniteError,
  warmupBars,
  windowAt,
  type FeatureSpec,
  type OhlcvBar,
} from '../../../models/index.ts';
import { marketBars } from '../../support/models/fixtures.ts';

const spec: FeatureSpec = { lookback: 24, horizon: 1, volWindow: 30, context: false };

function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`fixture has no element ${i}`);
  return x;
}

/** Live path: every window the incremental builder returns, flattened, keyed by ts. */
function liveWindows(bars: readonly OhlcvBar[], s: FeatureSpec, context?: ReadonlyMap<number, number>): Map<number, number[]> {
  const builder = new FeatureBuilder(s);
  const out = new Map<number, number[]>();
  for (const bar of bars) {
    const w = builder.push(bar, context?.get(bar.ts));
    if (w) out.set(w.ts, w.rows.flatMap((r) => Array.from(r)));
  }
  return out;
}

describe('features: one builder for training and live inference', () => {
  it('gives bit-identical windows on the live and the batch path (seeded market bars)', async () => {
    const bars = marketBars(800, 10_000);
    const batch = buildWindows(bars, spec);
    const live = liveWindows(bars, spec);
    expect(batch.count, 'one window per bar after warm-up').toBe(bars.length - warmupBars(spec) + 1);
    expect(live.size, 'the live path yields the same number of windows').toBe(batch.count);
    for (let i = 0; i < batch.count; i += 1) {
      const w = windowAt(batch, i);
      const flat = w.rows.flatMap((r) => Array.from(r));
      expect(live.get(w.ts), `window ending ${new Date(w.ts).toISOString()} must be identical on both paths`).toEqual(flat);
    }
  });

  it('gives identical windows with a market-context series (a second symbol of the same seeded market)', async () => {
    const aapl = marketBars(500, 0, { symbol: 0, symbols: 2 });
    const spx = marketBars(500, 0, { symbol: 1, symbols: 2 });
    const s: FeatureSpec = { lookback: 10, horizon: 1, volWindow: 20, context: true };
    const batch = buildWindows(aapl, s, spx);
    const live = liveWindows(aapl, s, new Map(spx.map((b) => [b.ts, b.close])));
    expect(batch.featureNames).toEqual([...BASE_FEATURES, 'contextReturn']);
    expect(live.size).toBe(batch.count);
    const ctx = new Map(spx.map((b) => [b.ts, b.close]));
    for (let i = 0; i < batch.count; i += 1) {
      const w = windowAt(batch, i);
      expect(live.get(w.ts)).toEqual(w.rows.flatMap((r) => Array.from(r)));
      // The context feature is the index's own log return on that day.
      const e = batch.end[i] ?? 0;
      const today = ctx.get(aapl[e]?.ts ?? 0) ?? Number.NaN;
      const yesterday = ctx.get(aapl[e - 1]?.ts ?? 0) ?? Number.NaN;
      expect(w.rows[w.rows.length - 1]?.[6]).toBeCloseTo(Math.log(today / yesterday), 6);
    }
  });

  it('computes each feature and the target as documented', async () => {
    const bars = marketBars(200, 3_000);
    const set = buildWindows(bars, spec);
    const i = 17;
    const e = set.end[i] ?? 0;
    const bar = bars[e];
    const prev = bars[e - 1];
    if (!bar || !prev) throw new Error('fixture too short');
    const last = windowAt(set, i).rows[spec.lookback - 1];
    const rets = bars.slice(e - spec.volWindow, e + 1).map((b, k, a) => (k === 0 ? Number.NaN : Math.log(b.close / (a[k - 1]?.close ?? 1)))).slice(1);
    const mean = rets.reduce((a, b) => a + b, 0) / rets.length;
    const std = Math.sqrt(rets.reduce((a, b) => a + (b - mean) ** 2, 0) / rets.length);
    const lv = bars.slice(e - spec.volWindow + 1, e + 1).map((b) => Math.log1p(b.volume));
    const lvMean = lv.reduce((a, b) => a + b, 0) / lv.length;
    const lvStd = Math.sqrt(lv.reduce((a, b) => a + (b - lvMean) ** 2, 0) / lv.length);
    const minute = new Date(bar.ts).getUTCHours() * 60 + new Date(bar.ts).getUTCMinutes();
    expect(rets.length, 'volatility uses volWindow returns').toBe(spec.volWindow);
    expect(last?.[0], 'logReturn').toBeCloseTo(Math.log(bar.close / prev.close), 7);
    expect(last?.[1], 'volatility').toBeCloseTo(std, 7);
    expect(last?.[2], 'volumeZ').toBeCloseTo((Math.log1p(bar.volume) - lvMean) / lvStd, 5);
    expect(last?.[3], 'hlRange').toBeCloseTo(Math.log(bar.high / bar.low), 7);
    expect(last?.[4], 'todSin').toBeCloseTo(Math.sin((2 * Math.PI * minute) / 1440), 6);
    expect(last?.[5], 'todCos').toBeCloseTo(Math.cos((2 * Math.PI * minute) / 1440), 6);
    expect(set.target[i], 'target = next log return').toBeCloseTo(Math.log((bars[e + 1]?.close ?? 0) / bar.close), 12);
    expect(set.ts[i], 'window ts = open time of its last bar').toBe(bar.ts);
    expect(set.labelled, 'the last window has no next bar yet').toBe(set.count - 1);
    expect(Number.isNaN(set.target[set.count - 1]), 'unlabelled target is NaN').toBe(true);
  });

  it('uses the horizon for the target and leaves that many windows unlabelled', async () => {
    const bars = marketBars(150, 500);
    const set = buildWindows(bars, { ...spec, horizon: 5 });
    const e = set.end[3] ?? 0;
    expect(set.target[3]).toBeCloseTo(Math.log((bars[e + 5]?.close ?? 0) / (bars[e]?.close ?? 1)), 12);
    expect(set.count - set.labelled).toBe(5);
  });

  it('returns undefined while warming up, then a window of exactly lookback rows', async () => {
    const bars = marketBars(warmupBars(spec) + 2);
    const builder = new FeatureBuilder(spec);
    const results = bars.map((b) => builder.push(b));
    const firstReady = results.findIndex((r) => r !== undefined);
    expect(firstReady, 'first window after volWindow + lookback bars').toBe(warmupBars(spec) - 1);
    expect(results.slice(0, firstReady).every((r) => r === undefined)).toBe(true);
    expect(results[firstReady]?.rows.length).toBe(spec.lookback);
    expect(() => new FeatureBuilder(spec).pushOrThrow(at(bars, 0))).toThrow(/warming up \(1 of 54 bars\)/);
  });

  it('refuses out-of-order bars and non-finite values with typed errors', async () => {
    const bars = marketBars(3);
    const builder = new FeatureBuilder(spec);
    builder.push(at(bars, 1));
    expect(() => builder.push(at(bars, 0)), 'an earlier bar').toThrow(ModelInputError);
    const bad: OhlcvBar = { ...at(bars, 2), close: Number.NaN };
    const err = (() => {
      try {
        buildWindows([at(bars, 0), bad], spec);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err, 'NaN close').toBeInstanceOf(NonFiniteError);
    expect((err as NonFiniteError).field).toBe('close');
    expect((err as NonFiniteError).index).toBe(1);
    expect(() => buildWindows(bars, { ...spec, context: true }), 'context spec without a context series').toThrow(/needs a context series/);
  });
});
