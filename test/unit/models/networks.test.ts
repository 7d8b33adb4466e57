import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildLstm, buildMlp, selectBackend, type NetworkConfig } from '../../../models/index.ts';
import { orthogonalMatrix } from '../../../models/orthogonal.ts';

const base: NetworkConfig = { kind: 'lstm', lookback: 6, featureCount: 3, hiddenUnits: [8, 4], dropout: 0.2, learningRate: 0.001, seed: 9 };

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
});

function gram(m: Float32Array, rows: number, cols: number, byRows: boolean): number[][] {
  const n = byRows ? rows : cols;
  const len = byRows ? cols : rows;
  const at = (v: number, k: number) => (byRows ? (m[v * cols + k] ?? 0) : (m[k * cols + v] ?? 0));
  return Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => Array.from({ length: len }, (_, k) => at(a, k) * at(b, k)).reduce((x, y) => x + y, 0)));
}

describe('network builders', () => {
  it('makes seeded orthogonal matrices (orthonormal rows for wide, columns for tall shapes)', () => {
    for (const [rows, cols, byRows] of [
      [8, 32, true],
      [32, 8, false],
      [5, 5, true],
    ] as const) {
      const m = orthogonalMatrix(rows, cols, 1);
      gram(m, rows, cols, byRows).forEach((row, a) => row.forEach((v, b) => expect(v, `${rows}x${cols} [${a},${b}]`).toBeCloseTo(a === b ? 1 : 0, 5)));
    }
    expect(orthogonalMatrix(4, 16, 1), 'same seed, same matrix').toEqual(orthogonalMatrix(4, 16, 1));
    expect(orthogonalMatrix(4, 16, 2)).not.toEqual(orthogonalMatrix(4, 16, 1));
  });

  it('builds a stacked LSTM with two heads, seeded weights and an orthogonal recurrent kernel', () => {
    const a = buildLstm(base);
    const b = buildLstm(base);
    const c = buildLstm({ ...base, seed: 10 });
    expect(a.inputs[0]?.shape).toEqual([null, 6, 3]);
    expect(a.outputs.map((o) => o.shape)).toEqual([
      [null, 1],
      [null, 1],
    ]);
    expect(a.outputNames).toEqual(['value', 'pUp']);
    const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
    expect(weights(b), 'same seed, same initial weights').toEqual(weights(a));
    expect(weights(c)).not.toEqual(weights(a));
    const recurrent = a.getLayer('lstm_0').getWeights()[1];
    expect(recurrent?.shape).toEqual([8, 32]);
    const g = gram(Float32Array.from(recurrent?.dataSync() ?? []), 8, 32, true);
    expect(g[0]?.[0]).toBeCloseTo(1, 5);
    expect(g[0]?.[1]).toBeCloseTo(0, 5);
    const p = tf.tidy(() => (a.predict(tf.ones([2, 6, 3])) as tf.Tensor[]).map((t) => Array.from(t.dataSync())));
    expect(p[1]?.every((v) => v > 0 && v < 1), 'pUp head is a probability').toBe(true);
    for (const m of [a, b, c]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });

  it('builds an MLP over the flattened window with the same input and heads', () => {
    const m = buildMlp({ ...base, kind: 'mlp', hiddenUnits: [16, 8] });
    expect(m.inputs[0]?.shape).toEqual([null, 6, 3]);
    expect(m.outputNames).toEqual(['value', 'pUp']);
    expect(m.getLayer('dense_0').getWeights()[0]?.shape, 'first layer sees lookback · features inputs').toEqual([18, 16]);
    m.optimizer.dispose();
    m.dispose();
    expect(() => buildMlp({ ...base, kind: 'mlp', hiddenUnits: [] })).toThrow(/hidden units must be positive integers/);
    expect(() => buildMlp({ ...base, kind: 'mlp', dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
  });
});
