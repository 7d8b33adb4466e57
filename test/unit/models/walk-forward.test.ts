import { describe, expect, it } from 'vitest';
import {
  buildWindows,
  createBaselines,
  forecastMetrics,
  formatWalkForward,
  NotEnoughDataError,
  selectBackend,
  walkForward,
  windowAt,
  type WalkForwardConfig,
} from '../../../models/index.ts';
import { marketBars } from '../../support/models/fixtures.ts';

const config: WalkForwardConfig = {
  kinds: ['mlp'],
  spec: { lookback: 12, horizon: 1, volWindow: 20, context: false },
  folds: 2,
  trainWindows: 600,
  testWindows: 150,
  valFraction: 0.2,
  epochs: 1,
  batchSize: 64,
  learningRate: 0.005,
  hiddenUnits: [8],
  dropout: 0,
  patience: 1,
  seed: 3,
  bootstrap: 200,
};

describe('walk-forward evaluation', () => {
  it('trains on the past, tests on the next block, rolls forward, and compares with every baseline', async () => {
    await selectBackend({ force: 'wasm' });
    const bars = marketBars(1000, 18_000);
    const r = await walkForward(bars, config);
    const set = buildWindows(bars, config.spec);
    expect(r.folds.length).toBe(2);
    const [f1, f2] = r.folds;
    if (!f1 || !f2) throw new Error('missing folds');
    expect(f1.train.toTs, 'fold 1 trains before it tests').toBeLessThan(f1.test.fromTs);
    expect(f2.test.fromTs, 'fold 2 tests the next block').toBeGreaterThan(f1.test.toTs);
    expect(f2.train.toTs, 'fold 2 trained up to just before its block').toBeLessThan(f2.test.fromTs);
    expect(f2.train.fromTs, 'the training window rolls forward').toBeGreaterThan(f1.train.fromTs);
    expect(f2.test.toTs, 'blocks end at the last labelled window').toBe(set.ts[set.labelled - 1]);
    expect(Object.keys(r.overall).sort()).toEqual(['mlp', 'naive-ewma', 'naive-last', 'naive-zero']);
    expect(r.overall.mlp?.n).toBe(300);

    // Independent recomputation of a pooled baseline over the same 300 windows.
    const from = set.labelled - 300;
    const windows = Array.from({ length: 300 }, (_, i) => windowAt(set, from + i));
    const ewma = createBaselines(12)[2];
    const expected = forecastMetrics(set.target.slice(from, from + 300), windows.map((w) => ewma?.predict(w) ?? { value: 0, pUp: 0.5 }));
    expect(r.overall['naive-ewma']).toEqual(expected);

    const rmse = r.comparisons.find((c) => c.metric === 'rmse');
    expect(rmse?.baseline, 'compared with the lowest-RMSE baseline').toBe(
      ['naive-zero', 'naive-last', 'naive-ewma'].reduce((a, b) => ((r.overall[b]?.rmse ?? 1) < (r.overall[a]?.rmse ?? 1) ? b : a)),
    );
    expect(rmse?.diff).toBeCloseTo((r.overall.mlp?.rmse ?? 0) - (r.overall[rmse?.baseline ?? '']?.rmse ?? 0), 12);
    expect(rmse?.ci[0] ?? 1, 'interval contains the point estimate').toBeLessThanOrEqual(rmse?.diff ?? 0);
    expect(rmse?.ci[1] ?? -1).toBeGreaterThanOrEqual(rmse?.diff ?? 0);
    const text = formatWalkForward(r);
    expect(text).toContain('all 2 folds pooled:');
    expect(text).toMatch(/verdict: /);
  });

  it('says how many bars it needs', async () => {
    const bars = marketBars(500);
    await expect(walkForward(bars, config)).rejects.toThrow(NotEnoughDataError);
  });
});
