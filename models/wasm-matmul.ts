import * as tf from '@tensorflow/tfjs';

/** Marks the wrapping kernel: the patch is then known from tfjs's kernel registry, where it lives. */
const PATCHED = Symbol.for('signals.wasmTransposedMatMul');

function isTensorInfo(v: unknown): v is tf.TensorInfo {
  return typeof v === 'object' && v !== null && 'dataId' in v && 'shape' in v && 'dtype' in v;
}

function canDispose(backend: unknown): backend is { disposeData(dataId: tf.DataId): unknown } {
  return typeof backend === 'object' && backend !== null && 'disposeData' in backend && typeof backend.disposeData === 'function';
}

/**
 * Speeds up transposed matrix products on the wasm backend. Its BatchMatMul
 * kernel takes a slow path whenever `transposeA` or `transposeB` is set (measured
 * 3–6× slower than a plain product for LSTM-sized matrices), and every gradient of
 * a matmul is such a product. This wraps the kernel: transpose the operand
 * explicitly (a cheap copy), then run the fast plain product. Same numbers, same
 * kernel name; idempotent. Returns false when the wasm kernels are not registered.
 */
export function patchWasmTransposedMatMul(): boolean {
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!matMul || !transpose) return false;
  if (PATCHED in matMul.kernelFunc) return true;
  const plain = matMul.kernelFunc;
  const flip = transpose.kernelFunc;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs;
    const transposeA = args.attrs?.transposeA === true;
    const transposeB = args.attrs?.transposeB === true;
    const { backend } = args;
    if ((!transposeA && !transposeB) || !isTensorInfo(a) || !isTensorInfo(b) || !canDispose(backend)) return plain(args);
    const temps: tf.TensorInfo[] = [];
    const transposed = (t: tf.TensorInfo): tf.TensorInfo => {
      const rank = t.shape.length;
      const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
      const out = flip({ inputs: { x: t }, backend, attrs: { perm } });
      if (!isTensorInfo(out)) throw new Error('wasm Transpose returned no tensor');
      temps.push(out);
      return out;
    };
    try {
      return plain({
        ...args,
        inputs: { a: transposeA ? transposed(a) : a, b: transposeB ? transposed(b) : b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  Object.defineProperty(kernelFunc, PATCHED, { value: true });
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...matMul, kernelFunc });
  return true;
}
