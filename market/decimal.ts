/**
 * Exact decimal arithmetic for quantities that arrive as decimals (volumes, sizes):
 * a value is `units / 10^scale` with integer `units`, so splitting and summing are
 * exact, unlike float arithmetic.
 */
export type DecimalUnits = { units: bigint; scale: number };

/**
 * The decimal a JS number stands for: its shortest round-trip representation
 * (`String(n)`, e.g. `121.02208`), which is the decimal written in the source file
 * whenever that had at most 15 significant digits.
 */
export function toDecimalUnits(value: number): DecimalUnits {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const text = String(value);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(text);
  if (!m) throw new RangeError(`unexpected number format: ${text}`);
  const [, sign = '', whole = '0', frac = '', exp = '0'] = m;
  const digits = BigInt(`${whole}${frac}`);
  let scale = frac.length - Number(exp);
  let units = digits;
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: sign === '-' ? -units : units, scale };
}

/** `units / 10^scale` as a plain decimal string (no exponent). */
export function formatUnits(units: bigint, scale: number): string {
  const negative = units < 0n;
  const abs = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = abs.slice(0, abs.length - scale);
  const frac = scale > 0 ? abs.slice(abs.length - scale).replace(/0+$/, '') : '';
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Splits `total` into `parts` whole numbers that differ by at most one and sum to `total` exactly. */
export function splitUnits(total: bigint, parts: number): bigint[] {
  const n = BigInt(parts);
  const base = total / n;
  const rest = total % n;
  return Array.from({ length: parts }, (_, i) => base + (BigInt(i) < rest ? 1n : 0n));
}

/** Exact sum of decimals given as numbers (each read as its shortest representation). */
export function sumDecimal(values: Iterable<number>): DecimalUnits {
  let units = 0n;
  let scale = 0;
  for (const v of values) {
    const d = toDecimalUnits(v);
    if (d.scale > scale) {
      units *= 10n ** BigInt(d.scale - scale);
      scale = d.scale;
    }
    units += d.units * 10n ** BigInt(scale - d.scale);
  }
  return { units, scale };
}

/** Whether two decimals are equal in value (scales may differ). */
export function decimalEquals(a: DecimalUnits, b: DecimalUnits): boolean {
  const scale = Math.max(a.scale, b.scale);
  return a.units * 10n ** BigInt(scale - a.scale) === b.units * 10n ** BigInt(scale - b.scale);
}
