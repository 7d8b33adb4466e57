import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarketSync, type MarketSyncHandle } from '../../../../actors/ingest/market-sync.ts';
import { createAlerter, stateName } from '../../../../ops/index.ts';
import { countTicks } from '../../../../sql/index.ts';
import { deadLetterSchema, msgIds, type DeadLetter, type Tick } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const M0 = Date.UTC(2024, 2, 1);
const enc = new TextEncoder();
type AlertMsg = { kind: string; severity: string; message: string; details?: Record<string, unknown> };

/**
 * One bad message, or a stuck database, must never stop ingest for good: a dead
 * letter always fits (or is settled with an alert when NATS refuses it), and a
 * stalled ack floor is reported. Each scenario ends with a sentinel tick that must
 * be stored. Shipped defaults throughout (MAX_PAYLOAD_BYTES 4096).
 */
describe('ingest keeps going after a message it cannot dead-letter whole', () => {
  let sys: TestSystem;
  let sync: MarketSyncHandle;
  let seq = 0;
  const tick = (symbol: string, over: Partial<Tick> = {}): Tick => {
    seq += 1;
    return { venue: 'rs', symbol, ts: M0 + seq * 1_000, price: 100 + seq / 100, size: 1, tradeId: `t${seq}`, ...over };
  };
  const publish = async (t: Tick | { subject: string; data: Uint8Array }) => {
    const js = jetstream(sys.nc);
    if ('data' in t) return js.publish(t.subject, t.data);
    return js.publish(`md.tick.${t.venue}.${t.symbol}`, enc.encode(JSON.stringify(t)), { msgID: msgIds.tick(t.venue, t.symbol, t.tradeId) });
  };
  const stored = async (symbol: string, tradeId: string) =>
    Number((await sys.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ticks WHERE symbol = $1 AND trade_id = $2', [symbol, tradeId])).rows[0]?.n);
  const sentinel = async (symbol: string) => {
    const s = tick(symbol);
    await publish(s);
    await eventually(async () => (await stored(symbol, s.tradeId)) === 1, 20_000, () => `the sentinel tick of ${symbol}; marketSync ${stateName(sync.actor.getSnapshot().value)}`);
  };
  const alerts = async (kind: string) => (await readStream<AlertMsg>(sys.nc, 'OPS_EVENTS', `ops.alert.${kind}`)).map((m) => m.data);

  beforeAll(async () => {
    sys = await startTestSystem('resilience', { INGEST_STALL_MS: 1_500, BAR_GRACE_MS: 600_000 });
    sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, alert: createAlerter(jetstream(sys.nc), { log: sys.log }) });
    await sync.ready();
  });
  afterAll(async () => {
    await sync?.stop();
    await sys?.dispose();
  });

  it('an oversized tick near the server max_payload: its dead letter is truncated to fit, the ticks after it are stored', async () => {
    const big = tick('BIG');
    const body = enc.encode(JSON.stringify({ ...big, note: 'x'.repeat(900_000) + '"\\'.repeat(20_000) }));
    expect(body.byteLength).toBeLessThan(1_048_576); // the stream accepts it
    const ack = await publish({ subject: 'md.tick.rs.BIG', data: body });
    const after = [tick('BIG'), tick('BIG'), tick('BIG'), tick('BIG'), tick('BIG')];
    for (const t of after) await publish(t);
    await eventually(async () => (await countTicks(sys.db, 'rs', 'BIG')) === 5, 20_000, 'the five ticks published after the oversized one');
    const letters = (await readStream<DeadLetter>(sys.nc, 'MD_DLQ', 'md.invalid.rs.BIG')).map((m) => m.data);
    expect(letters).toHaveLength(1);
    const letter = deadLetterSchema.parse(letters[0]);
    expect(letter.reason).toBe('oversized');
    expect(letter.streamSeq).toBe(ack.seq);
    expect(letter.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(letter)), 'an oversized letter keeps at most 64 KiB').toBeLessThanOrEqual(65_536);
    expect(letter.rawBytes).toBe(body.byteLength);
    expect(letter.rawSha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(Buffer.from(body.subarray(0, Buffer.byteLength(letter.raw))).toString()).toBe(letter.raw);
    await sentinel('BIG');
  });

  it('a dead letter NATS refuses for good: the message is settled, an alert raised, the ticks after it stored', async () => {
    const jsm = await jetstreamManager(sys.nc);
    const cfg = (await jsm.streams.info('MD_DLQ')).config;
    await jsm.streams.update('MD_DLQ', { ...cfg, max_msg_size: 600 });
    try {
      const bad = { subject: 'md.tick.rs.REFUSED', data: enc.encode(JSON.stringify({ ...tick('REFUSED'), price: -1, note: 'y'.repeat(1_000) })) };
      const ack = await publish(bad);
      const good = [tick('REFUSED'), tick('REFUSED')];
      for (const t of good) await publish(t);
      await eventually(async () => (await countTicks(sys.db, 'rs', 'REFUSED')) === 2, 20_000, 'the ticks after the refused dead letter');
      await eventually(async () => (await alerts('dead_letter_failed')).length === 1, 10_000, 'a dead_letter_failed alert');
      const [alert] = await alerts('dead_letter_failed');
      expect(alert?.details).toMatchObject({ subject: 'md.tick.rs.REFUSED', streamSeq: ack.seq, reason: 'schema' });
      await sentinel('REFUSED');
      const consumer = await jsm.consumers.info('MD_TICKS', sys.settings.INGEST_DURABLE);
      expect(consumer.ack_floor.stream_seq).toBeGreaterThan(ack.seq);
    } finally {
      await jsm.streams.update('MD_DLQ', { ...cfg, max_msg_size: -1 });
    }
  });

  it('a stuck database: work pending and nothing settled raises ingest_stalled and shows in the status, then recovers', async () => {
    const locker = new pg.Client({ connectionString: sys.settings.DATABASE_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ticks IN ACCESS EXCLUSIVE MODE');
      const t = tick('STALL');
      await publish(t);
      await eventually(() => sync.actor.getSnapshot().context.stalled !== undefined, 15_000, 'the stall to be seen');
      await eventually(async () => (await alerts('ingest_stalled')).length === 1, 10_000, 'an ingest_stalled alert');
      const [alert] = await alerts('ingest_stalled');
      expect(alert?.severity).toBe('critical');
      expect(alert?.details).toMatchObject({ batchesInFlight: 1 });
      await locker.query('ROLLBACK');
      await eventually(async () => (await stored('STALL', t.tradeId)) === 1, 15_000, 'the stalled tick');
      await eventually(() => sync.actor.getSnapshot().context.stalled === undefined, 5_000, 'the stall to clear');
      expect((await alerts('recovered')).some((a) => /after a stall/.test(a.message))).toBe(true);
      await sentinel('STALL');
    } finally {
      await locker.end();
    }
  });
});
