import { createHash } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { startMarketSync } from '../../../actors/ingest/market-sync.ts';
import { validateTick } from '../../../actors/ingest/tick-validation.ts';
import { stateName } from '../../../ops/index.ts';
import { deadLetterSchema, msgIds } from '../../../streams/index.ts';
import { readStream } from '../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../helpers/system.ts';
import {
  M0,
  REASONS,
  VENUE,
  at,
  baseTick,
  bigArb,
  bigPayload,
  classify,
  conflictArb,
  json,
  mixRecipes,
  nested,
  overflowGroupArb,
  rawFrameRecipes,
  surrogateCollision,
  surrogateRecipes,
  tickSubject,
  utf8,
  withLiteral,
  type Case,
  type Reason,
  type Recipe,
  type TickLike,
} from '../../support/ops/fuzz-cases.ts';

/**
 * Property-based fuzzing of the ingest path (marketSync on a real nats-server and
 * PostgreSQL). fast-check generates the messages (seeded: FUZZ_SEED); each scenario
 * publishes them on `md.tick.>` to a fresh system, then a sentinel tick, and checks:
 *
 *  - alive: the sentinel (published last) is stored within FUZZ_SENTINEL_MS, no stall;
 *  - never degraded longer than FUZZ_MAX_DEGRADED_MS, `running.live` at the end;
 *  - every valid tick stored exactly once with its values (the first copy for a key);
 *    identical copies: no dead letter; different copies: one `conflict` dead letter;
 *  - every malformed message that reached MD_TICKS: exactly one dead letter
 *    (`dlq:MD_TICKS:<seq>`), a documented reason that the contract classifier
 *    (fuzz-cases.ts `classify`, written from the docs) allows, its subject, issues,
 *    its raw payload (or a prefix, when marked truncated), the field named for
 *    lone surrogates; `validateTick` (the system's validation) must agree with the
 *    contract on valid vs invalid;
 *  - no row in `ticks` that no valid message asked for.
 *
 * Scenarios: `mix` (everything but the families of the known defects, so it can find new
 * ones), one scenario per known-defect family (lone surrogates, overflowing sums,
 * conflicting duplicates, ~1 MB payloads at the 4 KiB and at a 1 MiB limit), batches of 7
 * (many batches in flight), raw protocol frames (header blocks and subject bytes no client
 * library writes), an in-process crash and restart of marketSync mid-ingest, and `defaults`
 * (all families together, the shipped settings: startTestSystem with no overrides).
 * A stall is reported with the state, the last error, the ack floor, the kinds of the
 * messages after it and the smallest message of each kind; other failures are grouped by
 * property and kind with the smallest failing message as the counterexample.
 *
 * Knobs: FUZZ_SEED, FUZZ_SCALE (multiplies every count), FUZZ_MESSAGES (mix size),
 * FUZZ_SENTINEL_MS, FUZZ_MAX_DEGRADED_MS, FUZZ_STALL_MS, FUZZ_ONLY (scenario name substring).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const MIX_MESSAGES = Math.round(Number(process.env.FUZZ_MESSAGES ?? 14_000) * SCALE);
const SENTINEL_MS = Number(process.env.FUZZ_SENTINEL_MS ?? 45_000);
const MAX_DEGRADED_MS = Number(process.env.FUZZ_MAX_DEGRADED_MS ?? 1_500);
/** A stall: no acked progress for this long, or degraded this long, with the sentinel not stored. */
const STALL_MS = Number(process.env.FUZZ_STALL_MS ?? 8_000);
const ONLY = process.env.FUZZ_ONLY;
const OLD = { INGEST_BATCH_SIZE: 5_000, MAX_PAYLOAD_BYTES: 4_096, BAR_GRACE_MS: 600_000 } as const;
const n = (x: number) => Math.max(1, Math.round(x * SCALE));

type Overrides = Parameters<typeof startTestSystem>[1];
type Scenario = {
  name: string;
  overrides: Overrides;
  seed: number;
  build(now: number, limit: number, skewMs: number): Case[];
  /** Crash marketSync in-process (actor stopped mid-batch, as a supervisor retires a failed child) once this fraction is acked, then start a new one. */
  crashAt?: number;
};
type Failure = { property: string; kind: string; detail: string; c?: Case; seq?: number };
type Figures = {
  scenario: string;
  seed: number;
  generated: number;
  kinds: number;
  inStream: number;
  refusedByNats: number;
  droppedAsDuplicateMsgId: number;
  deadLetters: Record<string, number>;
  validStored: number;
  sentinelMs: number | 'STALL';
  /** Ack floor when marketSync was crashed (crash scenario). */
  crashedAtSeq?: number;
  maxDegradedMs: number;
  wallS: number;
  failures: number;
  /** Why NATS (client or server) refused messages, by error text. */
  refusals: Record<string, number>;
};

const figures: Figures[] = [];

// ---------------------------------------------------------------- building the scenarios

const sample = <T>(arb: fc.Arbitrary<T>, seed: number, count: number): T[] => (count <= 0 ? [] : fc.sample(arb, { seed, numRuns: count }));

function validTicks(seed: number, count: number, symbolPrefix: string, t0: number): Case[] {
  const arb = fc.record({
    price: fc.oneof(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), fc.integer({ min: 1, max: 1_000_000 })),
    size: fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 1_000 })),
    side: fc.option(fc.constantFrom('buy' as const, 'sell' as const)),
    numericId: fc.boolean(),
  });
  return sample(arb, seed, count).map((r, j) => {
    const t: TickLike = { venue: VENUE, symbol: `${symbolPrefix}${j % 8}`, ts: t0 + j * 50, price: r.price, size: r.size, ...(r.side ? { side: r.side } : {}), tradeId: r.numericId ? 10_000_000 + j : `v${j}` };
    return { kind: 'valid', subject: tickSubject(t), data: utf8(json(t)), msgId: msgIds.tick(t.venue, t.symbol, String(t.tradeId)) };
  });
}

/** Interleaves `extra` into `base` at positions drawn from `seed` (stable order within each list). */
function interleave(base: Case[], extra: Case[], seed: number): Case[] {
  const at = sample(fc.nat({ max: 1_000_000 }), seed, extra.length)
    .map((p) => p % (base.length + 1))
    .sort((a, b) => a - b);
  const out: Case[] = [];
  let e = 0;
  for (let b = 0; b <= base.length; b++) {
    while (e < extra.length && at[e] === b) out.push(extra[e++]!);
    if (b < base.length) out.push(base[b]!);
  }
  return out;
}

const fromRecipes = (arbs: fc.Arbitrary<Recipe>[], seed: number, count: number, firstIndex: number): Case[] =>
  sample(fc.oneof(...arbs), seed, count).map((r, k) => r.make(firstIndex + k));

function surrogateCases(seed: number, count: number, first: number): Case[] {
  const single = fromRecipes(surrogateRecipes(), seed, count, first);
  const pairs: Case[] = [];
  const late: Case[] = [];
  for (let k = 0; k < Math.max(1, Math.floor(count / 12)); k++) {
    const [a, b] = surrogateCollision(first + count + k);
    pairs.push(a);
    late.push(b);
  }
  return [...interleave(single, pairs, seed + 1), ...late];
}

function overflowCases(seed: number, groups: number, first: number): Case[] {
  const out: Case[] = [];
  const late: Case[] = [];
  sample(overflowGroupArb, seed, groups).forEach((g, k) => {
    const i = first + k;
    const symbol = `O${k % 4}`;
    const minute = M0 + 1_000_000_000 + i * 120_000;
    g.sizes.forEach((size, j) => {
      const t: TickLike = { venue: VENUE, symbol, ts: minute + j * 1_000, price: g.price, size, tradeId: `o${i}_${j}` };
      (g.split && j > 0 ? late : out).push(at(t, json(t), 'overflow_group', { group: `g${i}` }));
    });
    const closer: TickLike = { venue: VENUE, symbol, ts: minute + 60_005, price: 100, size: 1, tradeId: `o${i}_close` };
    out.push(at(closer, json(closer), 'overflow_closer'));
  });
  return [...out, ...late];
}

function conflictCases(seed: number, count: number, first: number): Case[] {
  const originals: Case[] = [];
  const copies: { c: Case; far: boolean; after: number }[] = [];
  sample(conflictArb, seed, count).forEach((v, k) => {
    const i = first + k;
    const numeric = v.variant === 'identical_numeric_tradeId';
    const o: TickLike = {
      venue: VENUE,
      symbol: `C${k % 4}`,
      ts: M0 + 2_000_000_000 + i * 1_000,
      price: v.price,
      size: v.variant === 'identical_negzero_size' ? 0 : v.size,
      side: k % 2 ? 'buy' : 'sell',
      tradeId: numeric ? `${5_000_000 + i}` : `c${i}`,
    };
    const sameId = v.variant.includes('same_msgid') ? { msgId: msgIds.tick(o.venue, o.symbol, String(o.tradeId)) } : {};
    originals.push(at(o, json(o), 'conflict_original', sameId));
    const add = (t: TickLike | string, kind: string, extra: Partial<Case> = {}) =>
      copies.push({ c: at(o, typeof t === 'string' ? t : json(t), kind, extra), far: v.far, after: originals.length - 1 });
    switch (v.variant) {
      case 'identical':
        add(o, v.variant);
        break;
      case 'identical_reformatted':
        add(`{ "tradeId" : ${JSON.stringify(o.tradeId)},\n "side":"${o.side}", "size": ${o.size === 0 ? '0.0e0' : o.size.toExponential()}, "price" : ${o.price.toExponential()}, "ts":${o.ts}.0,"symbol":"${o.symbol}","venue":"${o.venue}" }`, v.variant);
        break;
      case 'identical_numeric_tradeId':
        add({ ...o, tradeId: Number(o.tradeId) }, v.variant);
        break;
      case 'identical_same_msgid':
        add(o, v.variant, sameId);
        break;
      case 'identical_negzero_size':
        add(withLiteral(o, 'size', '-0'), v.variant);
        break;
      case 'conflict_price':
        add({ ...o, price: o.price * 1.5 + 0.01 }, v.variant);
        break;
      case 'conflict_size':
        add({ ...o, size: o.size + 1 }, v.variant);
        break;
      case 'conflict_side':
        add({ ...o, side: o.side === 'buy' ? 'sell' : 'buy' }, v.variant);
        break;
      case 'conflict_side_missing': {
        const { side: _s, ...rest } = o;
        add(rest, v.variant);
        break;
      }
      case 'conflict_price_same_msgid':
        add({ ...o, price: o.price + 1 }, v.variant, sameId);
        break;
      case 'conflict_price_new_msgid':
        add({ ...o, price: o.price + 1 }, v.variant, { msgId: `other:${i}` });
        break;
      case 'conflict_then_identical':
        add({ ...o, price: o.price + 2 }, 'conflict_price');
        add(o, 'identical');
        break;
    }
  });
  // Adjacent copies follow their original at once (same batch); far ones go to a random later place.
  const out: Case[] = [];
  const far = copies.filter((x) => x.far);
  const pos = sample(fc.nat({ max: 1_000_000 }), seed + 1, far.length);
  const lateAt = new Map<number, Case[]>();
  far.forEach((x, k) => {
    const slot = x.after + 1 + ((pos[k] ?? 0) % Math.max(1, originals.length - x.after));
    lateAt.set(slot, [...(lateAt.get(slot) ?? []), x.c]);
  });
  originals.forEach((o, k) => {
    out.push(...(lateAt.get(k) ?? []), o, ...copies.filter((x) => !x.far && x.after === k).map((x) => x.c));
  });
  out.push(...(lateAt.get(originals.length) ?? []));
  return out;
}

/** A few keys published many times (no msg id), identical or not, spread over batches in flight. */
function conflictStorm(seed: number, keys: number, first: number): Case[] {
  const arb = fc.record({ copies: fc.array(fc.record({ same: fc.boolean(), dPrice: fc.integer({ min: 1, max: 50 }), dSize: fc.nat({ max: 3 }) }), { minLength: 20, maxLength: 150 }) });
  const out: Case[] = [];
  sample(arb, seed, keys).forEach((g, k) => {
    const i = first + k;
    const o: TickLike = { venue: VENUE, symbol: `K${k % 4}`, ts: M0 + 3_000_000_000 + i * 1_000, price: 10, size: 1, side: 'buy', tradeId: `k${i}` };
    out.push(at(o, json(o), 'storm_original'));
    for (const c of g.copies) out.push(c.same ? at(o, json(o), 'storm_identical') : at(o, json({ ...o, price: o.price + c.dPrice, size: o.size + c.dSize }), 'storm_conflict'));
  });
  return out;
}

function bigCases(seed: number, first: number, limit: number): Case[] {
  const rnd = fc.sample(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { seed, numRuns: 1_000 });
  let r = 0;
  const next = () => rnd[r++ % rnd.length] ?? 0.5;
  const whats = ['ascii_padding', 'random_bytes', 'escape_heavy', 'quotes', 'multibyte', 'invalid_json'];
  const sizes = sample(bigArb, seed, whats.length).map((b) => b.bytes);
  const out = whats.map((w, k) => bigPayload(w, k === 0 ? 1_048_576 : (sizes[k] ?? 800_000), first + k, next));
  if (limit >= 1_000_000) {
    const i = first + whats.length;
    const t = baseTick(i);
    out.push(at(t, nested(500_000, 'array'), 'big_deep_array'));
    out.push(at(baseTick(i + 1), withLiteral(baseTick(i + 1), 'price', nested(400_000, 'array')), 'big_deep_in_price'));
    out.push(at(baseTick(i + 2), nested(170_000, 'object'), 'big_deep_object'));
    const v = baseTick(i + 3);
    out.push(at(v, `${' '.repeat(1_048_576 - utf8(json(v)).byteLength - 1)}${json(v)}\n`, 'big_valid_whitespace'));
    const w = baseTick(i + 4);
    out.push(at(w, json({ ...w, ...Object.fromEntries(Array.from({ length: 45_000 }, (_, k) => [`unknown${k}`, k])) }), 'big_many_unknown_fields'));
  }
  return out;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'mix: generated payloads, headers, subjects, sizes, encodings, numbers (4 KiB limit, batch 5000)',
    overrides: OLD,
    seed: SEED,
    build: (now, limit, skewMs) =>
      interleave(fromRecipes(mixRecipes({ limit, now, skewMs }), SEED, MIX_MESSAGES, 0), validTicks(SEED + 100, Math.round(MIX_MESSAGES / 4), 'V', M0 + 86_400_000 * 400), SEED + 200),
  },
  {
    name: 'lone UTF-16 surrogates in tradeId/venue/symbol/side',
    overrides: OLD,
    seed: SEED + 1,
    build: () => interleave(surrogateCases(SEED + 1, n(480), 100_000), validTicks(SEED + 101, n(300), 'V', M0 + 86_400_000 * 400), SEED + 201),
  },
  {
    name: 'sizes whose sum in one minute overflows a double',
    overrides: OLD,
    seed: SEED + 2,
    build: () => interleave(overflowCases(SEED + 2, n(120), 200_000), validTicks(SEED + 102, n(300), 'V', M0 + 86_400_000 * 400), SEED + 202),
  },
  {
    name: 'conflicting and identical duplicates without msg id',
    overrides: OLD,
    seed: SEED + 3,
    build: () =>
      interleave(
        interleave(conflictCases(SEED + 3, n(600), 300_000), conflictStorm(SEED + 13, n(6), 310_000), SEED + 213),
        validTicks(SEED + 103, n(300), 'V', M0 + 86_400_000 * 400),
        SEED + 203,
      ),
  },
  {
    name: 'batches of 7 (many batches in flight at once): conflicts and the mix',
    overrides: { ...OLD, INGEST_BATCH_SIZE: 7 },
    seed: SEED + 16,
    build: (now, limit, skewMs) =>
      interleave(
        interleave(
          [...conflictCases(SEED + 16, n(300), 900_000), ...fromRecipes(mixRecipes({ limit, now, skewMs }), SEED + 18, n(1_500), 920_000)],
          conflictStorm(SEED + 17, n(4), 910_000),
          SEED + 216,
        ),
        validTicks(SEED + 116, n(200), 'V', M0 + 86_400_000 * 400),
        SEED + 217,
      ),
  },
  {
    name: 'payloads of 0.6-1 MiB at the 4 KiB limit (oversized dead letters must fit)',
    overrides: OLD,
    seed: SEED + 4,
    build: (_now, limit) => interleave(bigCases(SEED + 4, 400_000, limit), validTicks(SEED + 104, n(200), 'V', M0 + 86_400_000 * 400), SEED + 204),
  },
  {
    name: 'payloads of 0.6-1 MiB and 500k-deep nesting at a 1 MiB limit',
    overrides: { ...OLD, MAX_PAYLOAD_BYTES: 1_048_576 },
    seed: SEED + 5,
    build: (_now, limit) => interleave(bigCases(SEED + 5, 500_000, limit), validTicks(SEED + 105, n(200), 'V', M0 + 86_400_000 * 400), SEED + 205),
  },
  {
    name: 'raw protocol frames: odd header blocks (status lines, keys clients refuse, non-UTF-8), non-UTF-8 subjects',
    overrides: OLD,
    seed: SEED + 15,
    build: () => interleave(fromRecipes(rawFrameRecipes(), SEED + 15, n(300), 800_000), validTicks(SEED + 115, n(300), 'V', M0 + 86_400_000 * 400), SEED + 215),
  },
  {
    name: 'in-process crash and restart of marketSync mid-ingest (mix, conflicts)',
    overrides: OLD,
    seed: SEED + 11,
    crashAt: 0.25,
    build: (now, limit, skewMs) =>
      interleave(
        [...fromRecipes(mixRecipes({ limit, now, skewMs }), SEED + 11, n(3_000), 700_000), ...conflictCases(SEED + 12, n(200), 710_000), ...conflictStorm(SEED + 14, n(2), 720_000)],
        validTicks(SEED + 111, n(1_500), 'R', M0 + 86_400_000 * 500),
        SEED + 211,
      ),
  },
  {
    name: 'shipped defaults: every family together (startTestSystem with no overrides)',
    overrides: {},
    seed: SEED + 6,
    build: (now, limit, skewMs) =>
      interleave(
        [
          ...fromRecipes(mixRecipes({ limit, now, skewMs }), SEED + 6, n(3_000), 600_000),
          ...surrogateCases(SEED + 7, n(60), 610_000),
          ...overflowCases(SEED + 8, n(10), 620_000),
          ...conflictCases(SEED + 9, n(80), 630_000),
          ...bigCases(SEED + 10, 640_000, limit).slice(0, 2),
        ],
        validTicks(SEED + 106, n(1_000), 'D', now - 3_600_000),
        SEED + 206,
      ),
  },
];

// ---------------------------------------------------------------- publishing

type Published = { c: Case; seq?: number; dupOf?: number; error?: string };

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** A bare NATS protocol client: sends frames no library would write (HPUB with odd header blocks, non-UTF-8 subjects). */
class RawPublisher {
  private sock: Socket | undefined;
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  constructor(private readonly port: number) {}

  private async open(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return this.sock;
    this.buf = '';
    const sock = tcpConnect(this.port, '127.0.0.1');
    sock.setNoDelay(true);
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      for (let k = this.buf.indexOf('\r\n'); k >= 0; k = this.buf.indexOf('\r\n')) {
        const line = this.buf.slice(0, k);
        this.buf = this.buf.slice(k + 2);
        if (line.startsWith('PING')) sock.write('PONG\r\n');
        else if (line.startsWith('PONG') || line.startsWith('-ERR')) this.waiters.shift()?.(line);
      }
    });
    sock.on('close', () => {
      for (const w of this.waiters.splice(0)) w('-ERR connection closed');
    });
    await new Promise<void>((res, rej) => {
      sock.once('connect', () => res());
      sock.once('error', rej);
    });
    sock.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1,"lang":"fuzz","version":"0"}\r\n');
    this.sock = sock;
    return sock;
  }

  /** One frame, then PING: resolves undefined once the server answered PONG, or with its -ERR line. */
  async publish(subject: Uint8Array, reply: string, header: Uint8Array | undefined, payload: Uint8Array): Promise<string | undefined> {
    const sock = await this.open();
    const sizes = header ? `${header.length} ${header.length + payload.length}` : `${payload.length}`;
    const frame = Buffer.concat([Buffer.from(header ? 'HPUB ' : 'PUB ', 'latin1'), subject, Buffer.from(` ${reply} ${sizes}\r\n`, 'latin1'), header ?? Buffer.alloc(0), payload, Buffer.from('\r\nPING\r\n', 'latin1')]);
    const answered = new Promise<string>((res) => this.waiters.push(res));
    sock.write(frame);
    const line = await Promise.race([answered, sleep(5_000).then(() => '-ERR no answer in 5 s')]);
    if (line.includes('no answer')) {
      this.waiters = [];
      sock.destroy();
    }
    return line.startsWith('-ERR') ? line : undefined;
  }

  close(): void {
    this.sock?.destroy();
  }
}

async function publishAll(js: JetStreamClient, cases: readonly Case[], raw?: { publisher: RawPublisher; nc: TestSystem['nc'] }, window = 1_024): Promise<Published[]> {
  const out: Published[] = cases.map((c) => ({ c }));
  const inFlight = new Set<Promise<void>>();
  // Acks of raw frames come back on their reply subjects.
  const rawAcks = new Map<string, Published>();
  const ackSub = raw?.nc.subscribe('fuzzraw.ack.>', {
    callback: (_err, m) => {
      const p = rawAcks.get(m.subject);
      if (!p) return;
      rawAcks.delete(m.subject);
      const a = m.json<{ seq?: number; duplicate?: boolean; error?: { description?: string } }>();
      if (a.error) p.error = `server: ${a.error.description ?? 'error'}`;
      else if (a.duplicate) p.dupOf = a.seq ?? 0;
      else if (a.seq !== undefined) p.seq = a.seq;
    },
  });
  if (raw) await raw.nc.flush();
  for (const [k, p] of out.entries()) {
    if (p.c.raw && raw) {
      const reply = `fuzzraw.ack.${k}`;
      rawAcks.set(reply, p);
      const err = await raw.publisher.publish(p.c.raw.subjectBytes ?? utf8(p.c.subject), reply, p.c.raw.headerBlock, p.c.data);
      if (err !== undefined) {
        rawAcks.delete(reply);
        p.error = `server: ${err}`;
      }
      continue;
    }
    let h: ReturnType<typeof natsHeaders> | undefined;
    try {
      if (p.c.headers?.length) {
        h = natsHeaders();
        for (const [k, v] of p.c.headers) h.append(k, v);
      }
    } catch (err) {
      p.error = `client refused headers: ${(err as Error).message}`;
      continue;
    }
    const opts = { ...(p.c.msgId !== undefined ? { msgID: p.c.msgId } : {}), ...(h ? { headers: h } : {}) };
    const tracked: Promise<void> = (async () => {
      try {
        const ack = await js.publish(p.c.subject, p.c.data, opts);
        if (ack.duplicate) p.dupOf = ack.seq;
        else p.seq = ack.seq;
      } catch (err) {
        p.error = (err as Error).message;
      }
    })().finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  for (let k = 0; k < 100 && rawAcks.size > 0; k++) await sleep(30);
  for (const p of rawAcks.values()) p.error = 'server: no JetStream ack';
  ackSub?.unsubscribe();
  return out;
}

// ---------------------------------------------------------------- checking

type Row = { price: number; size: number; side: string | null };
type Letter = { seq: number; subject: string; msgId: string | undefined; data: Record<string, unknown> };
const keyOf = (t: { venue: string; symbol: string; ts: number; tradeId: string }) => `${t.venue}\u0000${t.symbol}\u0000${t.ts}\u0000${t.tradeId}`;
const sameTick = (a: TickLike, b: TickLike) => a.price === b.price && a.size === b.size && (a.side ?? null) === (b.side ?? null);

function preview(c: Case | undefined): string {
  if (!c) return '';
  const d = c.data;
  const text = Buffer.from(d.subarray(0, 200)).toString('utf8');
  const shown = /[\uFFFD]/.test(text) ? `hex ${Buffer.from(d.subarray(0, 60)).toString('hex')}` : JSON.stringify(text.length > 160 ? `${text.slice(0, 160)}…` : text);
  const hdr = c.headers?.length ? ` headers=${JSON.stringify(c.headers.map(([k, v]) => [k, v.length > 40 ? `${v.slice(0, 40)}…(${v.length})` : v]))}` : '';
  const id = c.msgId !== undefined ? ` msgId=${JSON.stringify(c.msgId.length > 40 ? `${c.msgId.slice(0, 40)}…` : c.msgId)}` : '';
  return `subject=${JSON.stringify(c.subject.length > 80 ? `${c.subject.slice(0, 80)}…` : c.subject)} ${d.byteLength} B${id}${hdr} payload=${shown}`;
}

/** Groups failures by property and kind, keeping the smallest message of each as the counterexample. */
function summarize(scenario: string, failures: Failure[]): string[] {
  const groups = new Map<string, { f: Failure; count: number }>();
  for (const f of failures) {
    const k = `${f.property}\u0000${f.kind}`;
    const g = groups.get(k);
    if (!g) groups.set(k, { f, count: 1 });
    else {
      g.count++;
      if ((f.c?.data.byteLength ?? Infinity) < (g.f.c?.data.byteLength ?? Infinity)) g.f = f;
    }
  }
  return [...groups.values()].map(({ f, count }) => `[${scenario}] ${f.property} — kind ${f.kind} (${count}×): ${f.detail}${f.seq !== undefined ? ` (seq ${f.seq})` : ''}${f.c ? ` | minimal: ${preview(f.c)}` : ''}`);
}

function decodeRaw(l: Record<string, unknown>): Buffer {
  return l.rawEncoding === 'base64' ? Buffer.from(String(l.raw), 'base64') : Buffer.from(String(l.raw), 'utf8');
}

async function runScenario(s: Scenario): Promise<{ failures: Failure[]; fig: Figures }> {
  const started = performance.now();
  const failures: Failure[] = [];
  const fail = (property: string, kind: string, detail: string, c?: Case, seq?: number) => failures.push({ property, kind, detail, ...(c ? { c } : {}), ...(seq !== undefined ? { seq } : {}) });
  const sys: TestSystem = await startTestSystem(`fuzzprop${s.seed}`, s.overrides);
  const st = sys.settings;
  let degradedSince: number | undefined;
  let maxDegraded = 0;
  const start = () => {
    const handle = startMarketSync({ nc: sys.nc, db: sys.db, settings: st, log: sys.log });
    const subscription = handle.actor.subscribe((snap) => {
      const t = performance.now();
      if (stateName(snap.value).includes('degraded')) degradedSince ??= t;
      else if (degradedSince !== undefined) {
        maxDegraded = Math.max(maxDegraded, t - degradedSince);
        degradedSince = undefined;
      }
    });
    return { handle, subscription };
  };
  let { handle: sync, subscription: sub } = start();
  let crashedAtSeq: number | undefined;
  const degradedFor = () => Math.max(maxDegraded, degradedSince === undefined ? 0 : performance.now() - degradedSince);
  let stalled = false;
  const fig: Figures = {
    scenario: s.name.split(':')[0] ?? s.name, seed: s.seed, generated: 0, kinds: 0, inStream: 0, refusedByNats: 0, droppedAsDuplicateMsgId: 0,
    deadLetters: {}, validStored: 0, sentinelMs: 'STALL', maxDegradedMs: 0, wallS: 0, failures: 0, refusals: {},
  };
  try {
    await sync.ready();
    const now = Date.now();
    const cases = s.build(now, st.MAX_PAYLOAD_BYTES, st.TICK_MAX_SKEW_MS);
    fig.generated = cases.length;
    fig.kinds = new Set(cases.map((c) => c.kind)).size;
    const js = jetstream(sys.nc);
    const crash =
      s.crashAt === undefined
        ? Promise.resolve()
        : (async () => {
            const jsm0 = await jetstreamManager(sys.nc);
            const target = Math.floor(cases.length * s.crashAt!);
            for (let k = 0; k < 1_000; k++) {
              const floor = (await jsm0.consumers.info('MD_TICKS', st.INGEST_DURABLE)).ack_floor.stream_seq;
              if (floor >= target) break;
              await new Promise((res) => setTimeout(res, 10));
            }
            crashedAtSeq = (await jsm0.consumers.info('MD_TICKS', st.INGEST_DURABLE)).ack_floor.stream_seq;
            sub.unsubscribe();
            sync.actor.stop(); // in-process crash: the consume loop is aborted with batches in flight
            degradedSince = undefined;
            await new Promise((res) => setTimeout(res, st.RETRY_MIN_MS));
            ({ handle: sync, subscription: sub } = start());
            await sync.ready();
          })();
    const rawPublisher = cases.some((c) => c.raw) ? new RawPublisher(sys.nats.port) : undefined;
    const published = await publishAll(js, cases, rawPublisher ? { publisher: rawPublisher, nc: sys.nc } : undefined);
    rawPublisher?.close();
    await crash;
    const sentinel: TickLike & { tradeId: string } = { venue: VENUE, symbol: 'SENTINEL', ts: Date.now(), price: 1, size: 1, tradeId: `sentinel-${s.seed}` };
    const t0 = performance.now();
    const sentinelAck = await js.publish(tickSubject(sentinel), utf8(json(sentinel)));
    const inStream = published.filter((p) => p.seq !== undefined).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    fig.inStream = inStream.length;
    fig.refusedByNats = published.filter((p) => p.error !== undefined).length;
    for (const p of published) {
      if (p.error === undefined) continue;
      const e = p.error.replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N').slice(0, 70);
      fig.refusals[e] = (fig.refusals[e] ?? 0) + 1;
    }
    fig.droppedAsDuplicateMsgId = published.filter((p) => p.dupOf !== undefined).length;

    // Alive: the sentinel is stored, and its batch (with every dead letter before it) acked.
    const jsm = await jetstreamManager(sys.nc);
    let lastFloor = -1;
    let lastProgress = performance.now();
    let sentinelMs: number | undefined;
    for (;;) {
      if (sentinelMs === undefined) {
        const r = await sys.db.query(`SELECT 1 FROM ticks WHERE venue = $1 AND symbol = 'SENTINEL' AND trade_id = $2`, [VENUE, sentinel.tradeId]);
        if (r.rowCount) sentinelMs = performance.now() - t0;
      }
      const floor = (await jsm.consumers.info('MD_TICKS', st.INGEST_DURABLE)).ack_floor.stream_seq;
      if (sentinelMs !== undefined && floor >= sentinelAck.seq) break;
      const t = performance.now();
      if (floor !== lastFloor) {
        lastFloor = floor;
        lastProgress = t;
      }
      const degradedNow = degradedSince === undefined ? 0 : t - degradedSince;
      if (t - lastProgress > STALL_MS || degradedNow > STALL_MS || t - t0 > SENTINEL_MS) {
        stalled = true;
        const snap = sync.actor.getSnapshot();
        const window = inStream.filter((p) => (p.seq ?? 0) > floor && (p.seq ?? 0) <= floor + st.INGEST_BATCH_SIZE * 4);
        const byKind = new Map<string, Published[]>();
        for (const p of window) byKind.set(p.c.kind, [...(byKind.get(p.c.kind) ?? []), p]);
        const kinds = [...byKind.entries()].map(([k, ps]) => `${k}×${ps.length}`).join(', ');
        const suspects = [...byKind.entries()]
          .filter(([k]) => k !== 'valid')
          .map(([k, ps]) => {
            const smallest = ps.reduce((a, b) => (b.c.data.byteLength < a.c.data.byteLength ? b : a));
            return `${k} seq ${smallest.seq}: ${preview(smallest.c)}`;
          })
          .slice(0, 8);
        fail(
          'ingest stays alive (sentinel stored)',
          'STALL',
          `sentinel not stored after ${Math.round(t - t0)} ms; state ${stateName(snap.value)}, last error ${JSON.stringify(snap.context.lastError)}; ` +
            `ack floor ${floor} of ${sentinelAck.seq}, degraded for ${Math.round(degradedNow)} ms; messages after the ack floor: ${kinds || 'none'}; suspects: ${suspects.join(' || ')}`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (stalled) return { failures, fig };
    fig.sentinelMs = Math.round(sentinelMs ?? 0);

    // Expectations, in stream order: the contract classifier, cross-checked with validateTick.
    type Verdict =
      | { type: 'store'; key: string; tick: TickLike }
      | { type: 'duplicate' }
      | { type: 'conflict' }
      | { type: 'overflow'; key: string; tick: TickLike }
      | { type: 'reject'; reasons: Reason[] };
    const opts = { maxPayloadBytes: st.MAX_PAYLOAD_BYTES, maxSkewMs: st.TICK_MAX_SKEW_MS, acceptPast: st.ACCEPT_PAST_TICKS, now };
    const first = new Map<string, TickLike>();
    const verdicts = new Map<number, { p: Published; v: Verdict }>();
    for (const p of inStream) {
      const c = classify(p.c.subject, p.c.data, opts);
      const o = validateTick(p.c.subject, p.c.data, opts, now);
      if (c.valid !== o.ok) {
        fail(
          'validateTick agrees with the contract on valid vs invalid',
          p.c.kind,
          `contract: ${c.valid ? 'valid' : `${c.reasons.join('|')} (${c.why})`}; validateTick: ${o.ok ? 'valid' : `${o.reason} (${o.issues[0] ?? ''})`}`,
          p.c,
          p.seq,
        );
      }
      let v: Verdict;
      if (c.valid && o.ok) {
        const key = keyOf(c.tick);
        const earlier = first.get(key);
        if (p.c.group) v = { type: 'overflow', key, tick: c.tick };
        else if (!earlier) v = { type: 'store', key, tick: c.tick };
        else v = sameTick(earlier, c.tick) ? { type: 'duplicate' } : { type: 'conflict' };
        if (!earlier) first.set(key, c.tick);
      } else {
        v = { type: 'reject', reasons: !c.valid ? c.reasons : o.ok ? [] : [o.reason] };
      }
      verdicts.set(p.seq ?? -1, { p, v });
    }

    const rows = new Map<string, Row>();
    const r = await sys.db.query<{ venue: string; symbol: string; ms: string; trade_id: string; price: number; size: number; side: string | null }>(
      `SELECT venue, symbol, (extract(epoch FROM ts) * 1000)::bigint AS ms, trade_id, price, size, side FROM ticks`,
    );
    for (const row of r.rows) rows.set(keyOf({ venue: row.venue, symbol: row.symbol, ts: Number(row.ms), tradeId: row.trade_id }), { price: row.price, size: row.size, side: row.side });
    const letters = new Map<number, Letter[]>();
    for (const l of await readStream<Record<string, unknown>>(sys.nc, 'MD_DLQ', 'md.invalid.>')) {
      const seq = typeof l.data.streamSeq === 'number' ? l.data.streamSeq : -1;
      letters.set(seq, [...(letters.get(seq) ?? []), { seq: l.seq, subject: l.subject, msgId: l.msgId, data: l.data }]);
      const reason = String(l.data.reason);
      fig.deadLetters[reason] = (fig.deadLetters[reason] ?? 0) + 1;
    }

    const checkLetter = (p: Published, l: Letter) => {
      const kind = p.c.kind;
      if (!(REASONS as readonly string[]).includes(String(l.data.reason))) fail('dead-letter reason is documented', kind, `reason ${String(l.data.reason)}`, p.c, p.seq);
      const parsed = deadLetterSchema.safeParse(l.data);
      if (!parsed.success) fail('dead letter matches deadLetterSchema', kind, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), p.c, p.seq);
      if (l.msgId !== `dlq:MD_TICKS:${p.seq}`) fail('dead letter msg id is dlq:<stream>:<seq>', kind, `msg id ${l.msgId}`, p.c, p.seq);
      if (l.data.subject !== p.c.subject) fail('dead letter keeps the subject', kind, `subject ${JSON.stringify(l.data.subject)}`, p.c, p.seq);
      const tokens = p.c.subject.split('.');
      const scoped = tokens.length === 4 && /^[A-Za-z0-9_-]{1,32}$/.test(tokens[2] ?? '') && /^[A-Za-z0-9_-]{1,32}$/.test(tokens[3] ?? '');
      const want = scoped ? `md.invalid.${tokens[2]}.${tokens[3]}` : 'md.invalid._._';
      if (l.subject !== want) fail('dead letter published on md.invalid.<venue>.<symbol> (_._ without usable tokens)', kind, `on ${l.subject}, expected ${want}`, p.c, p.seq);
      const issues = l.data.issues;
      if (!Array.isArray(issues) || issues.length === 0 || issues.some((i) => typeof i !== 'string' || i.length === 0)) fail('dead letter has issues', kind, JSON.stringify(issues), p.c, p.seq);
      const raw = decodeRaw(l.data);
      const data = Buffer.from(p.c.data);
      if (l.data.truncated === true) {
        if (!data.subarray(0, raw.length).equals(raw)) fail('truncated raw is a prefix of the payload', kind, `${raw.length} raw bytes`, p.c, p.seq);
        if (l.data.rawBytes !== data.length) fail('truncated letter gives the payload length', kind, `rawBytes ${String(l.data.rawBytes)}`, p.c, p.seq);
        if (l.data.rawSha256 !== createHash('sha256').update(data).digest('hex')) fail('truncated letter gives the payload sha256', kind, String(l.data.rawSha256), p.c, p.seq);
      } else if (!raw.equals(data)) {
        fail('dead letter raw reproduces the payload', kind, `raw ${raw.length} B (${String(l.data.rawEncoding)}) vs payload ${data.length} B`, p.c, p.seq);
      }
    };

    const expectedRows = new Set<string>([keyOf(sentinel)]);
    const groupStored = new Map<string, number>();
    for (const [seq, { p, v }] of verdicts) {
      const ls = letters.get(seq) ?? [];
      letters.delete(seq);
      const kind = p.c.kind;
      for (const l of ls) checkLetter(p, l);
      const reasonsOf = ls.map((l) => String(l.data.reason)).join(',');
      switch (v.type) {
        case 'store': {
          expectedRows.add(v.key);
          if (ls.length > 0) fail('valid tick is not dead-lettered', kind, `dead-lettered as ${reasonsOf}: ${JSON.stringify(ls[0]?.data.issues)}`, p.c, seq);
          const row = rows.get(v.key);
          if (!row) fail('valid tick stored exactly once', kind, 'not stored', p.c, seq);
          else if (row.price !== v.tick.price || row.size !== v.tick.size || row.side !== (v.tick.side ?? null)) {
            fail('stored row has the values of the first copy', kind, `row ${JSON.stringify(row)} vs tick ${JSON.stringify(v.tick)}`, p.c, seq);
          }
          break;
        }
        case 'duplicate':
          if (ls.length > 0) fail('identical duplicate: no dead letter', kind, `dead-lettered as ${reasonsOf}`, p.c, seq);
          break;
        case 'conflict':
          if (ls.length !== 1 || ls[0]?.data.reason !== 'conflict') fail('conflicting duplicate: one `conflict` dead letter, row unchanged', kind, ls.length ? `dead-lettered as ${reasonsOf}` : 'no dead letter (silently dropped)', p.c, seq);
          break;
        case 'overflow': {
          const row = rows.get(v.key);
          if (row) {
            expectedRows.add(v.key);
            const g = p.c.group ?? '';
            groupStored.set(g, (groupStored.get(g) ?? 0) + v.tick.size);
          }
          if ((row ? 1 : 0) + ls.length !== 1) fail('overflow-group tick: stored or dead-lettered, exactly once', kind, `${row ? 'stored' : 'not stored'}, ${ls.length} dead letters`, p.c, seq);
          break;
        }
        case 'reject': {
          if (ls.length === 0) fail('malformed message dead-lettered', kind, `no dead letter (expected ${v.reasons.join('|')})`, p.c, seq);
          else if (ls.length > 1) fail('malformed message dead-lettered exactly once', kind, `${ls.length} dead letters`, p.c, seq);
          const got = String(ls[0]?.data.reason ?? '');
          if (ls.length > 0 && !v.reasons.includes(got as Reason)) fail('dead-letter reason is the one the contract expects', kind, `got ${got}, expected ${v.reasons.join('|')}: ${JSON.stringify(ls[0]?.data.issues)}`, p.c, seq);
          if (ls.length > 0 && p.c.field && got === 'schema') {
            const issues = (ls[0]?.data.issues as unknown[] | undefined) ?? [];
            if (!issues.some((i) => typeof i === 'string' && i.startsWith(p.c.field ?? '?'))) fail('schema dead letter names the field', kind, `field ${p.c.field}, issues ${JSON.stringify(issues)}`, p.c, seq);
          }
          break;
        }
      }
    }
    for (const [g, sum] of groupStored) if (!Number.isFinite(sum)) fail('an overflowing minute is not stored whole (its volume would overflow)', 'overflow_group', `group ${g}: stored sizes sum to ${sum}`);
    for (const [seq, ls] of letters) {
      const p = inStream.find((x) => x.seq === seq);
      fail('no dead letter without a malformed message', p?.c.kind ?? 'unknown', `${ls.length} dead letter(s) ${ls.map((l) => String(l.data.reason)).join(',')} for seq ${seq}${seq === sentinelAck.seq ? ' (the sentinel)' : ''}`, p?.c, seq);
    }
    for (const [key, row] of rows) if (!expectedRows.has(key)) fail('no row that no valid message asked for', 'row', `${JSON.stringify(key.split('\u0000'))} ${JSON.stringify(row)}`);
    fig.validStored = rows.size;

    // Live at the end, never degraded for more than a moment.
    const end = Date.now() + 5_000;
    while (stateName(sync.actor.getSnapshot().value) !== 'running.live' && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    const snap = sync.actor.getSnapshot();
    if (snap.status !== 'active' || stateName(snap.value) !== 'running.live') fail('marketSync is live at the end', 'state', `${snap.status} ${stateName(snap.value)}, last error ${snap.context.lastError}`);
    return { failures, fig };
  } finally {
    fig.maxDegradedMs = Math.round(degradedFor());
    if (fig.maxDegradedMs > MAX_DEGRADED_MS) fail('never degraded longer than a moment', 'state', `degraded for ${fig.maxDegradedMs} ms (last error ${sync.actor.getSnapshot().context.lastError})`);
    fig.failures = failures.length;
    if (crashedAtSeq !== undefined) fig.crashedAtSeq = crashedAtSeq;
    fig.wallS = Math.round((performance.now() - started) / 100) / 10;
    figures.push(fig);
    sub.unsubscribe();
    if (stalled) sync.actor.stop();
    else await Promise.race([sync.stop(), new Promise((res) => setTimeout(res, 10_000))]).catch(() => sync.actor.stop());
    await dispose(sys);
  }
}

/** Disposes a test system even when a stalled store still holds a pooled connection. */
async function dispose(sys: TestSystem): Promise<void> {
  const timedOut = await Promise.race([sys.dispose().then(() => false), new Promise<boolean>((res) => setTimeout(() => res(true), 8_000))]);
  if (timedOut) await Promise.all([sys.nats.dispose(), sys.database.dispose()]).catch(() => undefined);
}

describe(`fuzz-property: generated messages through a real marketSync (FUZZ_SEED=${SEED})`, () => {
  afterAll(() => {
    if (figures.length === 0) return;
    const total = (f: (x: Figures) => number) => figures.reduce((a, x) => a + f(x), 0);
    const reasons: Record<string, number> = {};
    for (const f of figures) for (const [k, v] of Object.entries(f.deadLetters)) reasons[k] = (reasons[k] ?? 0) + v;
    console.log(
      [
        `fuzz-property FUZZ_SEED=${SEED} FUZZ_SCALE=${SCALE}: ${total((x) => x.generated)} generated messages, ${total((x) => x.inStream)} in MD_TICKS, ` +
          `${total((x) => x.refusedByNats)} refused by NATS, ${total((x) => x.droppedAsDuplicateMsgId)} dropped as duplicate msg ids; dead letters ${JSON.stringify(reasons)}`,
        '| scenario | seed | generated | kinds | in stream | refused by NATS | dup msg id | dead letters by reason | rows stored | sentinel ms | max degraded ms | wall s | failures |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
        ...figures.map(
          (f) =>
            `| ${f.scenario} | ${f.seed} | ${f.generated} | ${f.kinds} | ${f.inStream} | ${f.refusedByNats} | ${f.droppedAsDuplicateMsgId} | ${Object.entries(f.deadLetters).map(([k, v]) => `${k} ${v}`).join(', ')} | ${f.validStored} | ${f.sentinelMs} | ${f.maxDegradedMs} | ${f.wallS} | ${f.failures} |`,
        ),
        ...figures.filter((f) => f.crashedAtSeq !== undefined).map((f) => `${f.scenario}: crashed at ack floor ${f.crashedAtSeq} of ${f.inStream}`),
        ...figures.filter((f) => Object.keys(f.refusals).length > 0).map((f) => `${f.scenario}: refused by NATS ${JSON.stringify(f.refusals)}`),
      ].join('\n'),
    );
  });

  for (const s of SCENARIOS) {
    if (ONLY && !s.name.includes(ONLY)) continue;
    it(`${s.name} [seed ${s.seed}]`, { timeout: SENTINEL_MS + 60_000 }, async () => {
      const { failures } = await runScenario(s);
      const lines = summarize(s.name.split(':')[0] ?? s.name, failures);
      if (lines.length) console.log(lines.join('\n'));
      expect(lines, `${failures.length} property failures (FUZZ_SEED=${SEED} reproduces them)`).toEqual([]);
    });
  }
});
