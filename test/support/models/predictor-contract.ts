import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureWindow, Forecast, Predictor } from '../../../models/index.ts';

/** Relative closeness for float32 results computed in batches of different sizes. */
function expectSameForecast(a: Forecast | undefined, b: Forecast | undefined, why: string): void {
  expect(a, why).toBeDefined();
  expect(b, why).toBeDefined();
  if (!a || !b) return;
  const tol = (x: number) => 1e-6 * Math.max(1, Math.abs(x)) + 1e-9;
  expect(Math.abs(a.value - b.value), `${why}: value ${a.value} vs ${b.value}`).toBeLessThanOrEqual(tol(a.value));
  expect(Math.abs(a.pUp - b.pUp), `${why}: pUp ${a.pUp} vs ${b.pUp}`).toBeLessThanOrEqual(1e-6);
}

/**
 * The contract every Predictor implementation passes (a contract suite: one set of tests every implementation runs):
 * warm-up windows give undefined, results are deterministic, a batch equals the
 * single predictions, longer windows are read from their last `lookback` rows,
 * outputs are finite with pUp in [0, 1], and repeated predictions leak no tensors.
 * `windows` are complete windows of real data (at least 8).
 */
export function predictorContract(name: string, setup: () => Promise<{ predictor: Predictor; windows: FeatureWindow[] }>): void {
  describe(`Predictor contract: ${name}`, () => {
    let predictor: Predictor;
    let windows: FeatureWindow[];

    beforeAll(async () => {
      ({ predictor, windows } = await setup());
      expect(windows.length, 'the suite needs at least 8 windows').toBeGreaterThanOrEqual(8);
    });
    afterAll(() => predictor.dispose());

    it('returns undefined while warming up (fewer rows than lookback)', () => {
      const full = windows[0];
      if (!full) throw new Error('no window');
      expect(Number.isInteger(predictor.lookback) && predictor.lookback >= 1, 'lookback is a positive integer').toBe(true);
      const short: FeatureWindow = { ts: full.ts, rows: full.rows.slice(1) };
      expect(predictor.predict(short), 'lookback - 1 rows').toBeUndefined();
      expect(predictor.predict({ ts: full.ts, rows: [] }), 'no rows').toBeUndefined();
      const mixed = predictor.predictBatch([short, full, { ts: 0, rows: [] }]);
      expect(mixed.length).toBe(3);
      expect(mixed[0], 'warming-up entry of a batch').toBeUndefined();
      expect(mixed[1], 'complete entry of a batch').toBeDefined();
      expect(mixed[2]).toBeUndefined();
    });

    it('is deterministic', () => {
      for (const w of windows.slice(0, 4)) expect(predictor.predict(w), 'same window twice').toEqual(predictor.predict(w));
    });

    it('gives the same forecasts in one batch as one by one', () => {
      const batch = predictor.predictBatch(windows);
      expect(batch.length).toBe(windows.length);
      windows.forEach((w, i) => expectSameForecast(batch[i], predictor.predict(w), `window ${i}`));
    });

    it('reads a longer window from its last lookback rows', () => {
      const a = windows[0];
      const b = windows[1];
      if (!a || !b) throw new Error('no window');
      const longer: FeatureWindow = { ts: b.ts, rows: [...a.rows, ...b.rows] };
      expectSameForecast(predictor.predict(longer), predictor.predict(b), 'extra leading rows must be ignored');
    });

    it('returns finite values and a probability in [0, 1]', () => {
      for (const f of predictor.predictBatch(windows)) {
        expect(Number.isFinite(f?.value), 'value is finite').toBe(true);
        expect(f?.pUp ?? -1, 'pUp >= 0').toBeGreaterThanOrEqual(0);
        expect(f?.pUp ?? 2, 'pUp <= 1').toBeLessThanOrEqual(1);
      }
    });

    it('leaks no tensors over repeated predictions', () => {
      predictor.predictBatch(windows);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 30; i += 1) {
        predictor.predict(windows[i % windows.length] ?? { ts: 0, rows: [] });
        predictor.predictBatch(windows);
      }
      expect(tf.memory().numTensors, 'tensor count must not grow with predictions').toBe(before);
    });
  });
}
