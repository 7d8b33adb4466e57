import { SeededRandom } from './rng.ts';

/**
 * A seeded random matrix with orthonormal rows (rows <= cols) or columns
 * (rows > cols), row-major: the usual recurrent-kernel initialisation. Modified
 * Gram–Schmidt on Gaussian vectors in float64. Replaces tfjs's orthogonal
 * initializer, which runs a slow QR and warns on every LSTM wider than ~22 units.
 */
export function orthogonalMatrix(rows: number, cols: number, seed: number): Float32Array {
  const n = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  const rng = new SeededRandom(seed);
  const gauss = () => {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  const vecs: Float64Array[] = [];
  for (let i = 0; i < n; i += 1) {
    const v = Float64Array.from({ length: len }, gauss);
    for (const q of vecs) {
      let dot = 0;
      for (let k = 0; k < len; k += 1) dot += (v[k] ?? 0) * (q[k] ?? 0);
      for (let k = 0; k < len; k += 1) v[k] = (v[k] ?? 0) - dot * (q[k] ?? 0);
    }
    let norm = 0;
    for (let k = 0; k < len; k += 1) norm += (v[k] ?? 0) ** 2;
    norm = Math.sqrt(norm);
    for (let k = 0; k < len; k += 1) v[k] = (v[k] ?? 0) / norm;
    vecs.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < n; i += 1) {
    const v = vecs[i] ?? new Float64Array(len);
    for (let k = 0; k < len; k += 1) {
      // Short side = rows: vector i is row i; otherwise it is column i.
      if (rows <= cols) out[i * cols + k] = v[k] ?? 0;
      else out[k * cols + i] = v[k] ?? 0;
    }
  }
  return out;
}
