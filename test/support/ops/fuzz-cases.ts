import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';

/**
 * Generators and an independent contract classifier for the property-based ingest
 * fuzz suite (fuzz-property.test.ts). The classifier is written from the contract
 * (README "Subjects, streams and KV" and "Dead letters"), NOT from the system's code:
 * the test compares it with `validateTick`, and the system's dead-letter reasons with it.
 */

export const REASONS = ['invalid_json', 'not_utf8', 'oversized', 'schema', 'subject_mismatch', 'bad_subject', 'out_of_window', 'poison', 'conflict'] as const;
export type Reason = (typeof REASONS)[number];

/** One message to publish on MD_TICKS. */
export type Case = {
  /** The generator that made it (reported per kind). */
  kind: string;
  subject: string;
  data: Uint8Array;
  msgId?: string;
  headers?: readonly (readonly [string, string])[];
  /** Overflow group: the ticks whose sizes share one minute (see the overflow scenario). */
  group?: string;
  /** The field a schema issue must name (lone surrogates). */
  field?: string;
  /** Published over a raw NATS protocol socket: this header block (HPUB) and/or these subject bytes. */
  raw?: { headerBlock?: Uint8Array; subjectBytes?: Uint8Array };
};

/** A generator's output before it is given its index (unique ts / tradeId). */
export type Recipe = { kind: string; make(i: number): Case };

export type TickLike = { venue: string; symbol: string; ts: number; price: number; size: number; side?: 'buy' | 'sell'; tradeId: string | number };

const enc = new TextEncoder();
export const utf8 = (s: string): Uint8Array => enc.encode(s);
export const VENUE = 'fz';
export const M0 = Date.UTC(2024, 0, 2);
const TOKEN = /^[A-Za-z0-9_-]{1,32}$/;
const FIELDS = ['venue', 'symbol', 'ts', 'price', 'size', 'side', 'tradeId'] as const;
const REQUIRED = ['venue', 'symbol', 'ts', 'price', 'size', 'tradeId'] as const;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const tickSubject = (t: { venue: string; symbol: string }): string => `md.tick.${t.venue}.${t.symbol}`;
const json = (o: unknown): string => JSON.stringify(o) ?? 'null';

/** The base tick of generated case `i`: its own minute, so no two generated ticks share a bar. */
export function baseTick(i: number): TickLike {
  return { venue: VENUE, symbol: `S${i % 8}`, ts: M0 + i * 60_000 + 17, price: 100 + (i % 400) / 4, size: 1 + (i % 7) / 8, side: i % 2 ? 'buy' : 'sell', tradeId: `m${i}` };
}

const at = (t: TickLike, data: string | Uint8Array, kind: string, extra: Partial<Case> = {}): Case => ({
  kind,
  subject: tickSubject(t),
  data: typeof data === 'string' ? utf8(data) : data,
  ...extra,
});

/** Replaces the JSON value of `field` (serialised as the placeholder string) by a raw literal. */
function withLiteral(t: TickLike, field: string, literal: string): string {
  return json({ ...t, [field]: '\u0001PLACEHOLDER\u0001' }).replace('"\\u0001PLACEHOLDER\\u0001"', literal);
}

// ---------------------------------------------------------------- contract classifier

export type Expectation =
  | { valid: true; tick: TickLike & { tradeId: string } }
  | { valid: false; reasons: Reason[]; why: string; field?: string };

export type ClassifyOptions = { maxPayloadBytes: number; maxSkewMs: number; acceptPast: boolean; now: number };

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * What the contract says of one message, independently of the system's code:
 * the reasons it may be dead-lettered with (several when more than one check fails
 * and the contract orders none), or the tick it must store.
 */
export function classify(subject: string, data: Uint8Array, o: ClassifyOptions): Expectation {
  const reasons: Reason[] = [];
  const parts = subject.split('.');
  const subjectOk = parts.length === 4 && parts[0] === 'md' && parts[1] === 'tick' && TOKEN.test(parts[2] ?? '') && TOKEN.test(parts[3] ?? '');
  if (!subjectOk) reasons.push('bad_subject');
  if (data.byteLength > o.maxPayloadBytes) return { valid: false, reasons: [...reasons, 'oversized'], why: `${data.byteLength} bytes > ${o.maxPayloadBytes}` };
  const bad = (r: Reason, why: string, field?: string): Expectation => ({ valid: false, reasons: [...reasons, r], why, ...(field ? { field } : {}) });
  if (!isUtf8(data)) return bad('not_utf8', 'not UTF-8');
  let text = Buffer.from(data).toString('utf8');
  if (text.startsWith('\uFEFF')) text = text.slice(1); // a BOM may be ignored (RFC 8259 §8.1)
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return bad('invalid_json', (err as Error).message);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return bad('schema', 'not an object');
  const obj = v as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!(FIELDS as readonly string[]).includes(k)) return bad('schema', `unknown field ${JSON.stringify(k)}`, k);
  for (const k of REQUIRED) if (!Object.hasOwn(obj, k)) return bad('schema', `missing ${k}`, k);
  for (const k of ['venue', 'symbol'] as const) if (typeof obj[k] !== 'string' || !TOKEN.test(obj[k])) return bad('schema', `${k} not a token`, k);
  const ts = obj.ts;
  if (!isNum(ts) || !Number.isInteger(ts) || ts < 1e11 || ts > 32_503_680_000_000) return bad('schema', 'ts not epoch ms', 'ts');
  // Bounds of the schema (streams/messages.schema.ts MAX_PRICE, MAX_SIZE): sums of sizes in a minute stay finite.
  if (!isNum(obj.price) || !(obj.price > 0) || obj.price > 1e15) return bad('schema', 'price not in (0, 1e15]', 'price');
  if (!isNum(obj.size) || !(obj.size >= 0) || obj.size > 1e18) return bad('schema', 'size not in [0, 1e18]', 'size');
  if (Object.hasOwn(obj, 'side') && obj.side !== 'buy' && obj.side !== 'sell') return bad('schema', 'side', 'side');
  const id = obj.tradeId;
  let tradeId: string;
  if (typeof id === 'string') {
    const chars = [...id].length; // characters (code points), as PostgreSQL text and zod 4 count them
    if (chars < 1 || chars > 128) return bad('schema', 'tradeId length', 'tradeId');
    if (id.includes('\u0000')) return bad('schema', 'tradeId NUL', 'tradeId');
    if (LONE_SURROGATE.test(id)) return bad('schema', 'tradeId lone surrogate (not representable in UTF-8 / PostgreSQL text)', 'tradeId');
    tradeId = id;
  } else if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) {
    tradeId = String(id);
  } else {
    return bad('schema', 'tradeId not a string or a non-negative safe integer', 'tradeId');
  }
  if (!subjectOk) return { valid: false, reasons, why: 'bad subject' };
  if (obj.venue !== parts[2] || obj.symbol !== parts[3]) return bad('subject_mismatch', 'payload venue/symbol differ from the subject');
  if (ts > o.now + o.maxSkewMs || (!o.acceptPast && ts < o.now - o.maxSkewMs)) return bad('out_of_window', 'ts outside the window');
  const side = obj.side as 'buy' | 'sell' | undefined;
  return { valid: true, tick: { venue: obj.venue as string, symbol: obj.symbol as string, ts, price: obj.price, size: obj.size, ...(side ? { side } : {}), tradeId } };
}

// ---------------------------------------------------------------- arbitraries

const recipe = (kind: string, make: (i: number) => Case): Recipe => ({ kind, make });
const noCrLf = (s: string): boolean => !/[\r\n]/.test(s);

/** Values a field can be replaced by: any JSON, extreme doubles, long and odd strings. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.double(),
  fc.integer(),
  fc.string({ unit: 'binary', maxLength: 140 }),
  fc.constantFrom(0, -0, -1, 5e-324, Number.MAX_VALUE, 1e308, 2 ** 53, 2 ** 53 + 2, 1.5, '', 'buy', 'sell', 'BUY', 'fz', 'S0', M0, M0 / 1000, true, false, null, [], {}),
);

export const NUM_LITERALS = [
  '-0', '0', '-0.0', '0e0', '5e-324', '4.9e-324', '2.2250738585072014e-308', '1.7976931348623157e308', '1.7976931348623158e308',
  '1.8e308', '1e308', '1.5e308', '1e-400', '-1e-400', '1e400', '-1e400', '9007199254740991', '9007199254740992', '9007199254740993',
  '18446744073709551616', '1E2', '1e+2', '100.000', '0.1e1', '1704153600000.0', '1704153600000.5', '1.7041536e12', '1e11',
  '99999999999', '32503680000000', '32503680000001', `1${'0'.repeat(400)}`, `0.${'0'.repeat(400)}1`, '123456789012345678901234567890',
  '0x10', '01', '.5', '5.', '+1', '-', '1e', 'NaN', 'Infinity', 'true', 'null', '"1"', '[]', '{}', '1_000', '１',
] as const;

/** Invalid UTF-8 sequences (and a few valid look-alikes as controls). */
export const BYTE_SEQS: readonly (readonly number[])[] = [
  [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], // overlongs
  [0x80], [0xbf], [0x80, 0x80, 0x80], // lone continuation bytes
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9], // UTF-16 surrogates encoded in UTF-8 (CESU-8)
  [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3], // truncated sequences
  [0xf5, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff], [0xfe], [0xfe, 0xff], // out of range
  [0xef, 0xbf, 0xbe], [0xf4, 0x8f, 0xbf, 0xbf], [0xef, 0xbb, 0xbf], [0xe2, 0x80, 0xa8], // valid: U+FFFE, U+10FFFF, BOM, U+2028
];

const insertBytes = (text: string, pos: number, seq: readonly number[]): Uint8Array => {
  const b = utf8(text);
  const p = pos % (b.length + 1);
  return new Uint8Array([...b.subarray(0, p), ...seq, ...b.subarray(p)]);
};

function nested(depth: number, shape: 'array' | 'object' | 'mixed'): string {
  const open: string[] = [];
  for (let d = 0; d < depth; d++) open.push(shape === 'array' || (shape === 'mixed' && d % 2) ? '[' : '{"a":');
  const close = open.map((o) => (o === '[' ? ']' : '}')).reverse();
  return `${open.join('')}1${close.join('')}`;
}

const validToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/);
const badToken = fc.oneof(
  fc.constantFrom('*', '>', '$x', '%41', 'ü', 'a\u0000b', 'a'.repeat(33), '💥', 'a/b', 'a#b', 'a:b', 'a\u007fb', 'a\u00a0b', 'A'.repeat(200)),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
);

/** Nats-Msg-Id values: empty, blank, huge, unicode, look-alikes of the system's own ids. */
const msgIdArb = fc.oneof(
  fc.constant(''),
  fc.constant(' '),
  fc.string({ unit: 'binary', maxLength: 64 }).filter(noCrLf),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 100, max: 6_000 }).map((n) => '✓'.repeat(n)),
  fc.constantFrom('dlq:MD_TICKS:1', 'fz:S0:m1', '\u0000', '\t', 'ünïcödé-😀'),
);
const headerName = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,24}$/),
  fc.constantFrom('Nats-Expected-Stream', 'Nats-Expected-Last-Sequence', 'Nats-Rollup', 'Nats-Expected-Last-Msg-Id', 'Signals-Origin', 'Signals-Revision', 'Status', 'Description', 'Nats-Pending-Messages', 'Content-Type', 'nats-msg-id', 'Nats-Msg-Size'),
);
const headerValue = fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }).filter(noCrLf), fc.constantFrom('market-sync', '408', 'all', 'sub', '', '0', '-1'));

type Mix = { limit: number; now: number; skewMs: number };

/** The generated mix of the main scenario: everything but the families of the known defects. */
export function mixRecipes({ limit, now, skewMs }: Mix): fc.Arbitrary<Recipe>[] {
  return [
    fc.jsonValue({ maxDepth: 4 }).map((v) => recipe('json_value', (i) => at(baseTick(i), json(v), 'json_value'))),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => recipe('json_text', (i) => at(baseTick(i), s, 'json_text'))),
    fc.uint8Array({ maxLength: 300 }).map((b) => recipe('random_bytes', (i) => at(baseTick(i), b, 'random_bytes'))),
    fc.tuple(fc.constantFrom(...FIELDS), anyValue).map(([f, v]) => recipe('mutate_field', (i) => at(baseTick(i), json({ ...baseTick(i), [f]: v }), 'mutate_field'))),
    fc.dictionary(fc.constantFrom(...FIELDS), anyValue, { maxKeys: 4 }).map((d) => recipe('mutate_fields', (i) => at(baseTick(i), json({ ...baseTick(i), ...d }), 'mutate_fields'))),
    fc
      .tuple(fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'PRICE', 'Price', ' price', 'price ', 'side', '')), anyValue)
      .map(([k, v]) => recipe('extra_field', (i) => at(baseTick(i), json({ ...baseTick(i), [k]: v }), 'extra_field'))),
    fc.subarray([...FIELDS], { minLength: 1 }).map((drop) =>
      recipe('missing_fields', (i) => at(baseTick(i), json(Object.fromEntries(Object.entries(baseTick(i)).filter(([k]) => !(drop as string[]).includes(k)))), 'missing_fields')),
    ),
    fc.tuple(fc.constantFrom('price', 'size', 'ts', 'tradeId'), fc.constantFrom(...NUM_LITERALS)).map(([f, lit]) => recipe('numeric_literal', (i) => at(baseTick(i), withLiteral(baseTick(i), f, lit), 'numeric_literal'))),
    fc.tuple(fc.constantFrom(...BYTE_SEQS), fc.nat()).map(([seq, pos]) => recipe('utf8_bytes', (i) => at(baseTick(i), insertBytes(json(baseTick(i)), pos, seq), 'utf8_bytes'))),
    fc.tuple(fc.constantFrom('raw_in_string', 'escape_tradeId', 'escape_venue', 'escape_side', 'escape_key', 'raw_outside', 'raw_end'), fc.nat()).map(([where, pos]) =>
      recipe('nul', (i) => {
        const t = baseTick(i);
        const s = json(t);
        switch (where) {
          case 'raw_in_string': return at(t, s.replace(`"m${i}"`, `"m\u0000${i}"`), 'nul');
          case 'escape_tradeId': return at(t, json({ ...t, tradeId: `m${i}\u0000` }), 'nul');
          case 'escape_venue': return at(t, json({ ...t, venue: `${VENUE}\u0000` }), 'nul');
          case 'escape_side': return at(t, json({ ...t, side: 'buy\u0000' }), 'nul');
          case 'escape_key': return at(t, json({ ...t, ['tradeId\u0000']: 1 }), 'nul');
          case 'raw_outside': return at(t, insertBytes(s, (pos % 3) * Math.floor(s.length / 2), [0]), 'nul');
          case 'raw_end': return at(t, insertBytes(s, s.length, [0]), 'nul');
        }
      }),
    ),
    fc.tuple(fc.integer({ min: 1, max: 2_100 }), fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>, fc.constantFrom('top', 'price', 'tradeId', 'extra')).map(([d, shape, where]) =>
      recipe('nesting', (i) => {
        const t = baseTick(i);
        const n = nested(d, shape);
        return at(t, where === 'top' ? n : withLiteral(t, where === 'extra' ? 'deep' : where, n), 'nesting');
      }),
    ),
    fc.tuple(fc.integer({ min: -3, max: 3 }), fc.constantFrom('valid', 'invalid_json', 'schema', 'multibyte')).map(([delta, what]) =>
      recipe('size_limit', (i) => {
        const t = baseTick(i);
        const body = what === 'invalid_json' ? `${json(t).slice(0, -1)},` : what === 'schema' ? json({ ...t, price: -1 }) : what === 'multibyte' ? json({ ...t, tradeId: `é${i}` }) : json(t);
        const pad = Math.max(0, limit + delta - utf8(body).byteLength);
        return at(t, `${' '.repeat(pad)}${body}`, 'size_limit');
      }),
    ),
    fc
      .record({ msgId: fc.option(msgIdArb), extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }), valid: fc.boolean() })
      .map(({ msgId, extra, valid }) =>
        recipe('headers', (i) => {
          const t = baseTick(i);
          return at(t, valid ? json(t) : json({ ...t, price: 'x' }), 'headers', { headers: [...(msgId === null ? [] : [['Nats-Msg-Id', msgId] as const]), ...extra] });
        }),
      ),
    fc.record({ venue: fc.oneof(validToken, badToken), symbol: fc.oneof(validToken, badToken), shape: fc.constantFrom('4', '3', '5', 'prefix'), match: fc.boolean() }).map(({ venue, symbol, shape, match }) =>
      recipe('subject', (i) => {
        const t = { ...baseTick(i), ...(match ? { venue, symbol } : {}) };
        const subject = shape === '3' ? `md.tick.${venue}` : shape === '5' ? `md.tick.${venue}.${symbol}.x` : shape === 'prefix' ? `md.tick.${venue}.${symbol}` : `md.tick.${venue}.${symbol}`;
        return { kind: 'subject', subject: shape === 'prefix' ? subject.replace('md.tick.', 'md.tick.md.') : subject, data: utf8(json(t)) };
      }),
    ),
    fc.constantFrom('future_beyond', 'future_within', 'past_recent', 'year3000', 'year3000_plus1', 'seconds', 'min_1e11', 'below_1e11', 'epoch0').map((w) =>
      recipe('ts_window', (i) => {
        const t = baseTick(i);
        const ts = {
          future_beyond: now + skewMs + 120_000 + i,
          future_within: now + Math.min(60_000, skewMs / 4) + (i % 1_000),
          past_recent: now - 3_600_000 - i,
          year3000: 32_503_680_000_000,
          year3000_plus1: 32_503_680_000_001,
          seconds: Math.floor(t.ts / 1_000),
          min_1e11: 100_000_000_000 + i,
          below_1e11: 99_999_999_999,
          epoch0: 0,
        }[w];
        return at(t, json({ ...t, ts }), 'ts_window');
      }),
    ),
    fc.tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom('short', 'long', 'unicode')).map(([count, style]) =>
      recipe('many_unknown_fields', (i) => {
        const t = baseTick(i);
        const key = (k: number) => (style === 'short' ? `k${k}` : style === 'long' ? `${'K'.repeat(30)}${k}` : `ключ${k}😀`);
        return at(t, json({ ...t, ...Object.fromEntries(Array.from({ length: count }, (_, k) => [key(k), k])) }), 'many_unknown_fields');
      }),
    ),
    fc
      .oneof(
        fc.string({ unit: 'binary', maxLength: 130 }),
        fc.constantFrom('', 'a'.repeat(128), 'a'.repeat(129), '😀'.repeat(64), '😀'.repeat(65), '"', '\\', '{}', '{a,b}', 'NULL', 'null', ' ', 'a,b', "'", '\t', '\u2028', '\uFEFF', 'é'.repeat(128), '\\N'),
        fc.constantFrom(0, 1, -1, 1.5, 9_007_199_254_740_991, 2 ** 53, 1e21, -0),
      )
      .map((id) => recipe('tradeId_edge', (i) => at(baseTick(i), json({ ...baseTick(i), tradeId: id }), 'tradeId_edge'))),
  ];
}

// ---------------------------------------------------------------- families of the known defects

/** Lone UTF-16 surrogates (as JSON escapes) in a string field; valid pairs as controls. */
export function surrogateRecipes(): fc.Arbitrary<Recipe>[] {
  const field = fc.constantFrom('tradeId', 'venue', 'symbol', 'side');
  const lone = fc.constantFrom('\\ud800', '\\udbff', '\\udc00', '\\udfff', '\\udc00\\ud800', '\\ud83d', '\\ude00x');
  return [
    fc.record({ field, sur: lone, where: fc.constantFrom('whole', 'prefix', 'suffix', 'middle') }).map(({ field: f, sur, where }) =>
      recipe(`lone_surrogate_${f}`, (i) => {
        const t = baseTick(i);
        const value = String(t[f as keyof TickLike] ?? 'buy');
        const s = where === 'whole' ? sur : where === 'prefix' ? `${sur}${value}` : where === 'suffix' ? `${value}${sur}` : `${value.slice(0, 1)}${sur}${value.slice(1)}`;
        return at(t, withLiteral(t, f, `"${s}"`), `lone_surrogate_${f}`, { field: f });
      }),
    ),
    fc.constantFrom('\\ud83d\\ude00', '\\u00e9', '\\uffff').map((pair) => recipe('surrogate_pair_ok', (i) => at(baseTick(i), withLiteral(baseTick(i), 'tradeId', `"p${i}${pair}"`), 'surrogate_pair_ok'))),
    fc.constantFrom('\\ud800', '\\udc00').map((sur) => recipe('lone_surrogate_extra_key', (i) => at(baseTick(i), `${json(baseTick(i)).slice(0, -1)},"${sur}":1}`, 'lone_surrogate_extra_key'))),
  ];
}

/**
 * Colliding lone surrogates: two ticks with one key but for tradeIds that differ only
 * in a lone surrogate (both turn into U+FFFD if encoded leniently). Returned as pairs.
 */
export function surrogateCollision(i: number): [Case, Case] {
  const t = baseTick(i);
  const mk = (sur: string) => at(t, withLiteral(t, 'tradeId', `"c${i}${sur}"`), 'lone_surrogate_collision', { field: 'tradeId' });
  return [mk('\\ud800'), mk('\\ud801')];
}

/** Sizes whose sums overflow a double, and sizes at the schema's bound (1e18). */
export const BIG_SIZES = [1.5e308, Number.MAX_VALUE, 1e308, 9e307, 8.98e307, 1e291, 1e292, 1e18, 9.999999999999999e17, 1.0000000000000001e18, 1.0000000000000002e18, 5e-324] as const;

/** The sizes of one overflow group (ticks of one minute), from fast-check. */
export const overflowGroupArb = fc.record({
  sizes: fc.array(fc.constantFrom(...BIG_SIZES), { minLength: 2, maxLength: 4 }),
  price: fc.constantFrom(100, Number.MAX_VALUE, 5e-324, 1e-300, 1e15, 1.0000000000000001e15, 1.0000000000000002e15),
  split: fc.boolean(),
});

export const conflictArb = fc.record({
  variant: fc.constantFrom(
    'identical', 'identical_reformatted', 'identical_numeric_tradeId', 'identical_same_msgid', 'identical_negzero_size',
    'conflict_price', 'conflict_size', 'conflict_side', 'conflict_side_missing', 'conflict_price_same_msgid', 'conflict_price_new_msgid', 'conflict_then_identical',
  ),
  far: fc.boolean(),
  price: fc.double({ min: 0.01, max: 1e6, noNaN: true }),
  size: fc.oneof(fc.double({ min: 0, max: 1e3, noNaN: true }), fc.constant(0)),
});

/** Huge messages (0.6–1 MiB), accepted by the server, rejected by the application. */
export const bigArb = fc.record({
  what: fc.constantFrom('ascii_padding', 'random_bytes', 'escape_heavy', 'quotes', 'multibyte', 'invalid_json'),
  bytes: fc.integer({ min: 600_000, max: 1_048_576 }),
});

export function bigPayload(what: string, bytes: number, i: number, rnd: () => number): Case {
  const t = baseTick(i);
  const head = json(t).slice(0, -1);
  const fill = (ch: string) => {
    const chBytes = utf8(ch).byteLength;
    const room = bytes - utf8(head).byteLength - ',"pad":""}'.length;
    return `${head},"pad":"${ch.repeat(Math.max(0, Math.floor(room / chBytes)))}"}`;
  };
  switch (what) {
    case 'random_bytes': {
      const b = new Uint8Array(bytes);
      for (let k = 0; k < bytes; k++) b[k] = Math.floor(rnd() * 256);
      b[0] = 0xff;
      return at(t, b, `big_${what}`);
    }
    case 'escape_heavy': {
      // Valid UTF-8, but every byte becomes `\u0001` (6 bytes) inside a JSON string.
      const b = new Uint8Array(bytes).fill(1);
      return at(t, b, `big_${what}`);
    }
    case 'quotes':
      return at(t, '"'.repeat(bytes), `big_${what}`);
    case 'multibyte':
      return at(t, fill('é'), `big_${what}`);
    case 'invalid_json':
      return at(t, `${fill('x').slice(0, -2)}`, `big_${what}`);
    default:
      return at(t, fill('x'), `big_${what}`);
  }
}

export { nested, json, withLiteral, at };

// ---------------------------------------------------------------- raw protocol frames

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);

/** Header blocks a library would not write: status lines, keys a client refuses, bytes that are not UTF-8. */
const headerBlockArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'NATS/1.0\r\n\r\n',
    'NATS/1.0 408 Request Timeout\r\n\r\n',
    'NATS/1.0 100 Idle Heartbeat\r\n\r\n',
    'NATS/1.0 503\r\n\r\n',
    'NATS/1.0 409 Consumer Deleted\r\nNats-Pending-Messages: 0\r\n\r\n',
    'NATS/1.0\r\nNo-Colon-Here\r\n\r\n',
    'NATS/1.0\r\n: empty-name\r\n\r\n',
    'NATS/1.0\r\nBad Key: v\r\n\r\n',
    'NATS/1.0\r\nKey\u00ff: v\r\n\r\n',
    'NATS/1.0\r\nKey: \u00ff\u00fe\r\n\r\n',
    'NATS/1.0\r\nNats-Msg-Id:\r\n\r\n',
    'NATS/1.0\r\nNats-Msg-Id: \u00ff\u00fe\r\n\r\n',
    'NATS/1.0\r\nStatus: 408\r\nDescription: x\r\n\r\n',
    'NATS/1.0 abc\r\n\r\n',
    'NATS/1.0\r\n\r\n\r\n',
  ),
  fc
    .array(fc.tuple(fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 12 }), fc.string({ unit: 'binary-ascii', maxLength: 30 })), { maxLength: 6 })
    .map((kv) => `NATS/1.0\r\n${kv.map(([k, v]) => `${k.replace(/[\r\n]/g, '')}:${v.replace(/[\r\n]/g, '')}`).join('\r\n')}\r\n\r\n`),
  fc.integer({ min: 500, max: 3_000 }).map((count) => `NATS/1.0\r\n${Array.from({ length: count }, (_, k) => `H${k}: ${k}`).join('\r\n')}\r\n\r\n`),
);

/** Frames over a raw socket: odd header blocks, subjects with bytes that are not UTF-8, valid or invalid ticks. */
export function rawFrameRecipes(): fc.Arbitrary<Recipe>[] {
  return [
    fc.tuple(headerBlockArb, fc.boolean()).map(([block, valid]) =>
      recipe('raw_headers', (i) => {
        const t = baseTick(i);
        return at(t, valid ? json(t) : json({ ...t, size: -1 }), 'raw_headers', { raw: { headerBlock: latin1(block) } });
      }),
    ),
    fc.constantFrom('\u00ff\u00fe', '\u00c0\u0080', '\u00ed\u00a0\u0080', '\u0080', '\u00e2\u0082').map((bad) =>
      recipe('raw_subject_bytes', (i) => {
        const t = baseTick(i);
        const subjectBytes = new Uint8Array([...latin1('md.tick.'), ...latin1(bad), ...latin1(`.${t.symbol}`)]);
        return { kind: 'raw_subject_bytes', subject: new TextDecoder().decode(subjectBytes), data: utf8(json(t)), raw: { subjectBytes } };
      }),
    ),
  ];
}
