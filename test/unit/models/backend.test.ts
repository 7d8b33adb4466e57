import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../config/index.ts';
import { BackendUnavailableError, selectBackend } from '../../../models/index.ts';
import { patchWasmTransposedMatMul } from '../../../models/wasm-matmul.ts';

describe('selectBackend', () => {
  afterAll(async () => {
    await selectBackend({ force: 'wasm' });
  });

  it('falls back past the native backends (not installed here) to wasm by default', async () => {
    const choice = await selectBackend({ force: undefined });
    expect(choice.backend, 'wasm is the first backend that loads on this machine').toBe('wasm');
    expect(tf.getBackend(), 'the selected backend must be the active one').toBe('wasm');
    expect(choice.how).toBe('auto');
    const passed = choice.attempts.filter((a) => !a.ok);
    expect(passed.map((a) => a.backend), 'both native backends are tried first, in order').toEqual(['tensorflow-gpu', 'tensorflow']);
    for (const a of passed) expect(a.reason, `${a.backend} must say why it was passed over`).toBe('package not installed');
    expect(choice.threads, 'wasm in Node reports its thread count').toBeGreaterThanOrEqual(1);
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync());
    expect(sum, 'the wasm backend computes').toEqual([4, 6]);
  });

  it('refuses a forced backend that cannot load, naming it and why', async () => {
    const err = await selectBackend({ force: 'tensorflow' }).catch((e: unknown) => e);
    expect(err, 'forcing tfjs-node without the package must fail').toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).message).toBe('TFJS_BACKEND=tensorflow cannot be used here (tensorflow: package not installed)');
    expect((err as BackendUnavailableError).exitCode, 'EXIT.unavailable').toBe(8);
  });

  it('rejects an unknown backend name', async () => {
    await expect(selectBackend({ force: 'webgpu' })).rejects.toThrow(/unknown TensorFlow.js backend "webgpu"/);
  });

  it('uses the pure-JS cpu backend when forced, and the TFJS_BACKEND setting as passed from loadSettings', async () => {
    const forced = await selectBackend({ force: 'cpu' });
    expect(forced.backend).toBe('cpu');
    expect(forced.how).toBe('forced');
    expect(tf.getBackend(), 'cpu must now be active').toBe('cpu');
    const settings = loadSettings({ TFJS_BACKEND: 'wasm' });
    const fromSettings = await selectBackend({ force: settings.TFJS_BACKEND });
    expect(fromSettings.backend, 'TFJS_BACKEND=wasm forces wasm').toBe('wasm');
    expect(fromSettings.attempts.map((a) => a.backend), 'a forced backend is the only one tried').toEqual(['wasm']);
    expect(() => loadSettings({ TFJS_BACKEND: 'webgpu' }), 'loadSettings rejects an unknown backend').toThrow(/TFJS_BACKEND/);
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('wasm transposed matmul fast path', () => {
  it('is patched once: a second patch keeps the kernel registered by the first', async () => {
    await selectBackend({ force: 'wasm' });
    const first = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
    expect(patchWasmTransposedMatMul()).toBe(true);
    expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc, 'not wrapped a second time').toBe(first);
  });

  it('gives the exact products of a plain JS matmul for every transpose combination, without leaking', async () => {
    await selectBackend({ force: 'wasm' });
    const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) * 2);
    const [m, k, n] = [5, 7, 3];
    const a = rand(m * k, 1);
    const b = rand(k * n, 2);
    const at = (x: number[], rows: number, cols: number) => Array.from({ length: rows * cols }, (_, i) => x[(i % rows) * cols + Math.floor(i / rows)] ?? 0);
    const expected: number[] = [];
    for (let i = 0; i < m; i += 1) {
      for (let j = 0; j < n; j += 1) {
        let s = 0;
        for (let q = 0; q < k; q += 1) s += Math.fround(a[i * k + q] ?? 0) * Math.fround(b[q * n + j] ?? 0);
        expected.push(s);
      }
    }
    const before = tf.memory();
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const A = ta ? tf.tensor2d(at(a, m, k), [k, m]) : tf.tensor2d(a, [m, k]);
      const B = tb ? tf.tensor2d(at(b, k, n), [n, k]) : tf.tensor2d(b, [k, n]);
      const got = tf.matMul(A, B, ta, tb);
      const values = Array.from(got.dataSync());
      values.forEach((v, i) => expect(v, `transposeA=${ta} transposeB=${tb} element ${i}`).toBeCloseTo(expected[i] ?? Number.NaN, 4));
      // Batched (rank 3) too.
      const A3 = tf.stack([A, A]);
      const B3 = tf.stack([B, B]);
      const got3 = tf.matMul(A3, B3, ta, tb);
      expect(Array.from(got3.dataSync()), 'batched product = two copies').toEqual([...values, ...values]);
      tf.dispose([A, B, got, A3, B3, got3]);
    }
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes, 'temporary transposes are freed').toBe(before.numBytes);
  });
});
