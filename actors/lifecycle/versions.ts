/**
 * Model version names: `v<major>.<yymm>.<dd>-<n>`, e.g. `v1.2611.20-3` = the third
 * version registered on 2026-11-20 (UTC) in major line 1. The very first model
 * ever registered (trained or imported from files) is `v1.0.0`. Names are unique
 * across scopes (they are the registry's primary key) and sort by `compareVersions`
 * in registration order; plain string order is wrong once `n` reaches 10.
 */
export const FIRST_VERSION = 'v1.0.0';

const VERSION_PATTERN = /^v(\d{1,4})\.(\d{4})\.(\d{2})-(\d{1,6})$/;

export type ParsedVersion = { major: number; yymm: number; dd: number; n: number };

/** The parts of a version name; undefined for a name that is not in the scheme (e.g. imported run ids). */
export function parseVersion(version: string): ParsedVersion | undefined {
  if (version === FIRST_VERSION) return { major: 1, yymm: 0, dd: 0, n: 0 };
  const m = VERSION_PATTERN.exec(version);
  if (!m) return undefined;
  return { major: Number(m[1]), yymm: Number(m[2]), dd: Number(m[3]), n: Number(m[4]) };
}

/** Registration order: major, then date, then n; names outside the scheme sort first, by string. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) return pa ? 1 : pb ? -1 : a < b ? -1 : a > b ? 1 : 0;
  return pa.major - pb.major || pa.yymm - pb.yymm || pa.dd - pb.dd || pa.n - pb.n;
}

/** The `v<major>.<yymm>.<dd>-` prefix of versions registered at `atMs` (UTC). */
export function dayPrefix(major: number, atMs: number): string {
  const d = new Date(atMs);
  const yymm = `${String(d.getUTCFullYear() % 100).padStart(2, '0')}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  return `v${major}.${yymm}.${String(d.getUTCDate()).padStart(2, '0')}-`;
}

/**
 * The next version name. `existingCount` = versions in the registry (0 means this
 * is the first model ever: `v1.0.0`); `sameDay` = names already taken with this
 * day's prefix (from any scope).
 */
export function nextVersion(args: { major: number; atMs: number; existingCount: number; sameDay: readonly string[] }): string {
  if (args.existingCount === 0) return FIRST_VERSION;
  const prefix = dayPrefix(args.major, args.atMs);
  let max = 0;
  for (const v of args.sameDay) {
    if (!v.startsWith(prefix)) continue;
    const n = parseVersion(v)?.n ?? 0;
    if (n > max) max = n;
  }
  return `${prefix}${max + 1}`;
}

/**
 * Major line of a new version: the parent's, bumped when the architecture or the
 * feature layout changes (a new major cannot be warm-started from the old one).
 */
export function majorFor(parent: { version: string; kind: string; layout: string } | undefined, child: { kind: string; layout: string }): number {
  if (!parent) return 1;
  const major = parseVersion(parent.version)?.major ?? 1;
  return parent.kind === child.kind && parent.layout === child.layout ? major : major + 1;
}

/** Registry scope of a venue/symbol (`<venue>.<symbol>`) or `global`. */
export type Scope = string;
export const GLOBAL_SCOPE = 'global';
/** The KV `model_active` key of a scope: `<venue>.<symbol>`, or `default` for the global scope. */
export const DEFAULT_KEY = 'default';

export function scopeOf(venue: string | undefined, symbol: string | undefined): Scope {
  return venue !== undefined && symbol !== undefined ? `${venue}.${symbol}` : GLOBAL_SCOPE;
}

export function kvKeyOf(scope: Scope): string {
  return scope === GLOBAL_SCOPE ? DEFAULT_KEY : scope;
}

export function scopeOfKvKey(key: string): Scope {
  return key === DEFAULT_KEY ? GLOBAL_SCOPE : key;
}

/** `<venue>.<symbol>` -> its tokens; undefined for `global` or a malformed scope. */
export function splitScope(scope: Scope): { venue: string; symbol: string } | undefined {
  const m = /^([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{1,32})$/.exec(scope);
  return m && m[1] !== undefined && m[2] !== undefined ? { venue: m[1], symbol: m[2] } : undefined;
}

/** A pretrained model serving every regime. */
export const ANY_REGIME = 'any';
