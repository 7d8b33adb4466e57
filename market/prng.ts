/**
 * Small seeded pseudo-random generators for the synthetic market: reproducible
 * across runs and platforms (32-bit integer arithmetic only), no dependency.
 */

/** splitmix32 finaliser: turns (seed, stream) into a well-mixed 32-bit seed. */
export function mixSeed(seed: number, stream: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(stream >>> 0, 0x85ebca6b) + 0x6a09e667) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A stream of uniforms in [0, 1) and standard normals from one 32-bit seed. */
export type Prng = {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  gaussian(): number;
};

/** mulberry32: a 32-bit state generator, fast and good enough for simulation. */
export function mulberry32(seed: number): Prng {
  let state = seed >>> 0;
  let spare: number | undefined;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    gaussian: () => {
      if (spare !== undefined) {
        const z = spare;
        spare = undefined;
        return z;
      }
      // 1 - u keeps the logarithm's argument in (0, 1].
      const r = Math.sqrt(-2 * Math.log(1 - next()));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
  };
}
