import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { meanQlike, varianceHeadLoss, selectBackend, varianceFromLogVar, Z_LIMIT } from '../../../models/index.ts';

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
});

describe('QLIKE loss of the variance head', () => {
  it('is rv/s·exp(−z) + z per horizon, averaged per sample (hand-computed)', () => {
    const yTrue = tf.tensor2d([
      [0.5, 2],
      [1, 0],
    ]);
    const yPred = tf.tensor2d([
      [0, Math.log(2)],
      [1, -1],
    ]);
    const loss = varianceHeadLoss(yTrue, yPred);
    expect(loss.shape, 'one loss per sample, as tfjs compile expects').toEqual([2]);
    const [a, b] = Array.from(loss.dataSync());
    // Sample 1: (0.5·1 + 0) and (2·½ + ln 2); sample 2: (1·e^-1 + 1) and (0·e + (-1)).
    expect(a).toBeCloseTo((0.5 + (1 + Math.log(2))) / 2, 6);
    expect(b).toBeCloseTo((Math.exp(-1) + 1 + -1) / 2, 6);
    tf.dispose([yTrue, yPred, loss]);
  });

  it('is minimised where exp(z) equals the expected scaled variance (proper)', () => {
    const rv = tf.tensor2d([[0.3], [1.7], [1.0]]);
    const at = (z: number) =>
      tf.tidy(() => tf.mean(varianceHeadLoss(rv, tf.fill([3, 1], z))).dataSync()[0] ?? Number.NaN);
    const best = Math.log(1.0);
    expect(at(best)).toBeLessThan(at(best + 0.1));
    expect(at(best)).toBeLessThan(at(best - 0.1));
    rv.dispose();
  });

  it('clips z so a far-off head cannot overflow', () => {
    const loss = tf.tidy(() => Array.from(varianceHeadLoss(tf.tensor2d([[1, 1]]), tf.tensor2d([[-1000, 1000]])).dataSync()));
    expect(loss[0], 'z = -1000 is read as -Z_LIMIT').toBeCloseTo((Math.exp(Z_LIMIT) - Z_LIMIT + (Math.exp(-Z_LIMIT) + Z_LIMIT)) / 2, -1);
    expect(Number.isFinite(loss[0])).toBe(true);
    expect(varianceFromLogVar(1000, 2), 'inference clips the same way').toBeCloseTo(2 * Math.exp(Z_LIMIT), 0);
  });

  it('scores forecasts with rv/σ² + ln σ², skipping missing pairs', () => {
    expect(meanQlike([1e-6, 4e-6], [2e-6, 2e-6])).toBeCloseTo((0.5 + Math.log(2e-6) + 2 + Math.log(2e-6)) / 2, 10);
    expect(meanQlike([1e-6, Number.NaN], [1e-6, 1e-6])).toBeCloseTo(1 + Math.log(1e-6), 10);
    expect(meanQlike([1e-6], [0])).toBeNaN();
  });
});
