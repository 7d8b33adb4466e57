import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarketSync, type MarketSyncHandle } from '../../../actors/ingest/market-sync.ts';
import { mulberry32, type Prng } from '../../../market/index.ts';
import { stateName } from '../../../ops/index.ts';
import { deadLetterSchema, msgIds, type Tick } from '../../../streams/index.ts';
import { eventually, readStream } from '../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../helpers/system.ts';

/**
 * Fuzz: 100,000 malformed messages mixed with 20,000 valid ticks on `md.tick.>`
 * against a real marketSync. Expected: no crash and no degraded state, every
 * malformed message dead-lettered exactly once with the reason its kind calls for,
 * every valid tick stored exactly once. FUZZ_SEED reproduces a run.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_120);
const MALFORMED = Number(process.env.FUZZ_MALFORMED ?? 100_000);
const VALID = Number(process.env.FUZZ_VALID ?? 20_000);
const VENUE = 'fz';
const SYMBOLS = ['S0', 'S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'];
const M0 = Date.UTC(2024, 0, 2);
const MAX_PAYLOAD = 4_096;

type Kind =
  | 'random_bytes'
  | 'not_utf8'
  | 'truncated_json'
  | 'nan_literal'
  | 'wrong_types'
  | 'nan_strings'
  | 'huge_numbers'
  | 'negative_price'
  | 'missing_field'
  | 'extra_field'
  | 'oversized'
  | 'bad_subject'
  | 'subject_mismatch'
  | 'future_ts'
  | 'seconds_ts'
  | 'not_an_object';

/** The dead-letter reasons each kind may produce (random bytes can fail at UTF-8 or at JSON). */
const EXPECTED: Record<Kind, readonly string[]> = {
  random_bytes: ['not_utf8', 'invalid_json', 'schema'],
  not_utf8: ['not_utf8'],
  truncated_json: ['invalid_json'],
  nan_literal: ['invalid_json'],
  wrong_types: ['schema'],
  nan_strings: ['schema'],
  huge_numbers: ['schema'],
  negative_price: ['schema'],
  missing_field: ['schema'],
  extra_field: ['schema'],
  oversized: ['oversized'],
  bad_subject: ['bad_subject'],
  subject_mismatch: ['subject_mismatch'],
  future_ts: ['out_of_window'],
  seconds_ts: ['schema'],
  not_an_object: ['schema'],
};
const KINDS = Object.keys(EXPECTED) as Kind[];

type Outgoing = { subject: string; data: Uint8Array; kind: Kind | 'valid'; msgId?: string };

const enc = new TextEncoder();
const pick = <T>(r: Prng, xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)] as T;

function validTick(r: Prng, i: number): Tick {
  return {
    venue: VENUE,
    symbol: pick(r, SYMBOLS),
    ts: M0 + i * 50,
    price: Math.round(r.uniform(1, 1_000) * 100) / 100,
    size: Math.round(r.uniform(0, 5) * 1_000) / 1_000,
    ...(r.next() < 0.5 ? { side: r.next() < 0.5 ? ('buy' as const) : ('sell' as const) } : {}),
    tradeId: `v${i}`,
  };
}

const tickSubject = (t: { venue: string; symbol: string }) => `md.tick.${t.venue}.${t.symbol}`;

function malformed(r: Prng, kind: Kind, i: number): Outgoing {
  const base = validTick(r, 1_000_000 + i);
  const subject = tickSubject(base);
  const json = (o: unknown) => enc.encode(JSON.stringify(o));
  const text = (s: string) => enc.encode(s);
  const mutate = (field: string, value: unknown) => json({ ...base, [field]: value });
  switch (kind) {
    case 'random_bytes': {
      const bytes = new Uint8Array(Math.floor(r.next() * 200));
      for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(r.next() * 256);
      return { subject, data: bytes, kind };
    }
    case 'not_utf8': {
      const good = JSON.stringify(base);
      const at = Math.floor(r.next() * good.length);
      return { subject, data: new Uint8Array([...enc.encode(good.slice(0, at)), 0xff, 0xfe, ...enc.encode(good.slice(at))]), kind };
    }
    case 'truncated_json': {
      const good = JSON.stringify(base);
      return { subject, data: text(good.slice(0, Math.floor(r.next() * (good.length - 1)))), kind };
    }
    case 'nan_literal':
      return { subject, data: text(JSON.stringify(base).replace(/"price":[^,}]+/, `"price":${pick(r, ['NaN', 'Infinity', '-Infinity', 'undefined', '0x10'])}`)), kind };
    case 'wrong_types': {
      const field = pick(r, ['price', 'size', 'ts', 'tradeId', 'side', 'venue', 'symbol']);
      const wrong: Record<string, unknown[]> = {
        price: [String(base.price), true, null, [base.price], { v: 1 }],
        size: ['1', false, null],
        ts: [String(base.ts), new Date(base.ts).toISOString(), base.ts + 0.5],
        tradeId: [{ id: 1 }, true, null, '', -3, 1.5],
        side: ['BUY', 'long', 1, null],
        venue: [42, null],
        symbol: [['S0'], 7],
      };
      return { subject, data: mutate(field, pick(r, wrong[field] ?? [null])), kind };
    }
    case 'nan_strings':
      return { subject, data: mutate(pick(r, ['price', 'size', 'ts']), pick(r, ['NaN', 'nan', 'Infinity', '-Infinity', '1e999', 'null', ''])), kind };
    case 'huge_numbers': {
      // Raw text: 1e999 parses to Infinity; the rest are finite but out of every bound.
      const field = pick(r, ['price', 'size', 'ts', 'tradeId']);
      const literal = field === 'ts' ? pick(r, ['1e20', '1e999', '99999999999999999999']) : field === 'tradeId' ? pick(r, ['18446744073709551616', '1e300']) : pick(r, ['1e999', '-1e999']);
      const s = JSON.stringify({ ...base, [field]: 0 }).replace(new RegExp(`"${field}":0`), `"${field}":${literal}`);
      return { subject, data: text(s), kind };
    }
    case 'negative_price':
      return r.next() < 0.7
        ? { subject, data: mutate('price', pick(r, [-1, 0, -0.0001, -1e9])), kind }
        : { subject, data: mutate('size', pick(r, [-1, -0.001])), kind };
    case 'missing_field': {
      const { [pick(r, ['venue', 'symbol', 'ts', 'price', 'size', 'tradeId'] as const)]: _dropped, ...rest } = base;
      return { subject, data: json(rest), kind };
    }
    case 'extra_field':
      return { subject, data: mutate(pick(r, ['note', 'qty', '__proto__x', 'PRICE']), pick(r, [1, 'x', null, { a: 1 }])), kind };
    case 'oversized':
      return { subject, data: json({ ...base, padding: 'x'.repeat(MAX_PAYLOAD + Math.floor(r.next() * 4_000)) }), kind };
    case 'bad_subject': {
      const badToken = pick(r, ['a'.repeat(33), 'f$z', 'bad@venue', 'ünïcode', '%41']);
      const s = pick(r, [`md.tick.${VENUE}`, `md.tick.${VENUE}.${base.symbol}.extra`, `md.tick.${badToken}.${base.symbol}`, `md.tick.${VENUE}.${badToken}`]);
      return { subject: s, data: json(base), kind };
    }
    case 'subject_mismatch':
      return { subject: `md.tick.${VENUE}.OTHER`, data: json(base), kind };
    case 'future_ts':
      return { subject, data: mutate('ts', Date.now() + 86_400_000 + Math.floor(r.next() * 1e9)), kind };
    case 'seconds_ts':
      return { subject, data: mutate('ts', Math.floor(base.ts / 1_000)), kind };
    case 'not_an_object':
      return { subject, data: text(pick(r, ['[]', '"tick"', '42', 'null', 'true', `[${JSON.stringify(base)}]`])), kind };
  }
}

/** Publishes with up to `window` acks outstanding, recording each message's stream sequence. */
async function publishAll(js: JetStreamClient, msgs: Outgoing[], window = 2_048): Promise<Map<number, Kind | 'valid'>> {
  const seqKind = new Map<number, Kind | 'valid'>();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (const m of msgs) {
    if (failure !== undefined) break;
    const p: Promise<void> = js.publish(m.subject, m.data, m.msgId ? { msgID: m.msgId } : {}).then(
      (ack) => void seqKind.set(ack.seq, m.kind),
      (err: unknown) => void (failure ??= err),
    );
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  return seqKind;
}

describe('fuzz: malformed ticks mixed with valid ones through a real marketSync', () => {
  let sys: TestSystem;
  let sync: MarketSyncHandle;

  beforeAll(async () => {
    sys = await startTestSystem('fuzz', { INGEST_BATCH_SIZE: 5_000, MAX_PAYLOAD_BYTES: MAX_PAYLOAD, BAR_GRACE_MS: 600_000 });
    sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await sync.ready();
  });
  afterAll(async () => {
    await sync?.stop();
    await sys?.dispose();
  });

  it(`dead-letters every one of ${MALFORMED} malformed messages with its reason and stores every one of ${VALID} valid ticks`, { timeout: 120_000 }, async () => {
    const r = mulberry32(SEED);
    const msgs: Outgoing[] = [];
    let v = 0;
    let bad = 0;
    const kindCount = new Map<Kind, number>();
    while (v < VALID || bad < MALFORMED) {
      const wantValid = bad >= MALFORMED || (v < VALID && r.next() < VALID / (VALID + MALFORMED));
      if (wantValid) {
        const t = validTick(r, v++);
        msgs.push({ subject: tickSubject(t), data: enc.encode(JSON.stringify(t)), kind: 'valid', msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) });
      } else {
        const kind = pick(r, KINDS);
        kindCount.set(kind, (kindCount.get(kind) ?? 0) + 1);
        msgs.push(malformed(r, kind, bad++));
      }
    }
    const started = performance.now();
    const seqKind = await publishAll(jetstream(sys.nc), msgs);
    const publishedS = (performance.now() - started) / 1000;
    expect(seqKind.size, 'every message accepted by MD_TICKS (none lost to dedup)').toBe(VALID + MALFORMED);

    await eventually(() => sync.actor.getSnapshot().context.stats.received >= VALID + MALFORMED, 90_000, 'marketSync to handle every message');
    const ingestS = (performance.now() - started) / 1000;
    const snap = sync.actor.getSnapshot();
    expect(snap.status, 'marketSync is still running').toBe('active');
    expect(stateName(snap.value), `no degraded state (last error: ${snap.context.lastError})`).toBe('running.live');
    expect(snap.context.stats.invalid, 'marketSync counted every malformed message as invalid').toBe(MALFORMED);

    const { rows } = await sys.db.query<{ n: string; ids: string }>(`SELECT count(*) AS n, count(DISTINCT trade_id) AS ids FROM ticks WHERE venue = $1`, [VENUE]);
    expect(Number(rows[0]?.n), 'every valid tick stored').toBe(VALID);
    expect(Number(rows[0]?.ids), 'each valid tick stored once').toBe(VALID);
    const stray = await sys.db.query<{ n: string }>(`SELECT count(*) AS n FROM ticks WHERE trade_id NOT LIKE 'v%'`);
    expect(Number(stray.rows[0]?.n), 'no malformed message became a row').toBe(0);

    const jsm = await jetstreamManager(sys.nc);
    await eventually(async () => (await jsm.streams.info('MD_DLQ')).state.messages >= MALFORMED, 20_000, 'dead letters stored');
    expect((await jsm.streams.info('MD_DLQ')).state.messages, 'exactly one dead letter per malformed message').toBe(MALFORMED);

    const letters = await readStream(sys.nc, 'MD_DLQ', 'md.invalid.>');
    const seen = new Set<number>();
    const reasons = new Map<string, number>();
    const wrong: string[] = [];
    for (const l of letters) {
      const parsed = deadLetterSchema.safeParse(l.data);
      if (!parsed.success) {
        wrong.push(`unparseable dead letter at seq ${l.seq}`);
        continue;
      }
      const d = parsed.data;
      const kind = d.streamSeq === undefined ? undefined : seqKind.get(d.streamSeq);
      if (d.streamSeq === undefined || kind === undefined || kind === 'valid') {
        wrong.push(`dead letter for ${kind ?? 'unknown'} message seq ${d.streamSeq}`);
        continue;
      }
      if (seen.has(d.streamSeq)) wrong.push(`seq ${d.streamSeq} dead-lettered twice`);
      seen.add(d.streamSeq);
      if (!EXPECTED[kind].includes(d.reason)) wrong.push(`${kind} (seq ${d.streamSeq}) dead-lettered as ${d.reason}`);
      if (d.issues.length === 0 || d.issues.some((i) => i.length === 0)) wrong.push(`seq ${d.streamSeq}: no issues given`);
      reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
    }
    expect(wrong.slice(0, 20), `${wrong.length} dead letters are wrong`).toEqual([]);
    expect(seen.size, 'every malformed message has its dead letter').toBe(MALFORMED);

    console.log(
      `fuzz seed ${SEED}: ${MALFORMED} malformed + ${VALID} valid published in ${publishedS.toFixed(1)} s, handled in ${ingestS.toFixed(1)} s;` +
        ` kinds ${JSON.stringify(Object.fromEntries(kindCount))}; dead-letter reasons ${JSON.stringify(Object.fromEntries(reasons))}`,
    );
  });
});
