/**
 * Which symbols of a scope a challenger serves in canary: the `fraction` of them
 * with the smallest stable hash of `<venue>.<symbol>`, at least one. The hash
 * does not depend on the process or the order the symbols were seen in, so the
 * same symbols are chosen again after a restart and a symbol in the canary of a
 * smaller set stays in it when more symbols are known.
 */

/** FNV-1a (32 bit) of a string, as a number in [0, 1). */
export function stableHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x1_0000_0000;
}

/** The canary symbols (`<venue>.<symbol>` keys) among `symbols`: round(fraction·n), at least one, by ascending hash. */
export function chooseCanary(symbols: readonly string[], fraction: number): string[] {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`canary fraction must be in (0, 1] (got ${fraction})`);
  const unique = [...new Set(symbols)];
  if (unique.length === 0) return [];
  const n = Math.min(unique.length, Math.max(1, Math.round(fraction * unique.length)));
  return unique
    .map((key) => ({ key, h: stableHash(key) }))
    .sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : 1))
    .slice(0, n)
    .map((x) => x.key)
    .sort();
}
