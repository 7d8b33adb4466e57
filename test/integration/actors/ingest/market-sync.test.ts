import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarketSync, type MarketSyncHandle } from '../../../../actors/ingest/market-sync.ts';
import { readBars, countTicks } from '../../../../sql/index.ts';
import { ackPublisher, encodeJson, msgIds, publishPipelined, subjects, type Bar, type DeadLetter, type Tick } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const M0 = Date.UTC(2024, 2, 1, 0, 0);
const tick = (minute: number, sec: number, price: number, size: number, id: string, symbol = 'BTCUSDT'): Tick => ({
  venue: 'binance',
  symbol,
  ts: M0 + minute * 60_000 + sec * 1000,
  price,
  size,
  tradeId: id,
});

describe('marketSync on real nats-server and PostgreSQL', () => {
  let sys: TestSystem;
  let sync: MarketSyncHandle;

  beforeAll(async () => {
    sys = await startTestSystem('ingest', { BAR_GRACE_MS: 1_000 });
    sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await sync.ready();
  });
  afterAll(async () => {
    await sync?.stop();
    await sys?.dispose();
  });

  /** What the actor was doing, for a timeout's message. */
  const state = () => {
    const snap = sync.actor.getSnapshot();
    return `; marketSync ${JSON.stringify(snap.value)} ${JSON.stringify(snap.context.stats)}`;
  };

  const publish = async (ticks: Tick[], withMsgId = true) => {
    const js = jetstream(sys.nc);
    for (const t of ticks) {
      await js.publish(subjects.tick(t.venue, t.symbol), encodeJson(t), withMsgId ? { msgID: msgIds.tick(t.venue, t.symbol, t.tradeId) } : undefined);
    }
  };

  it('aggregates ticks into bars closed by event time, stores and publishes each once', async () => {
    await publish([
      tick(0, 0, 100, 1, 'a1'),
      tick(0, 10, 99, 0.5, 'a2'),
      tick(0, 20, 103, 0.25, 'a3'),
      tick(0, 50, 101, 0.1, 'a4'),
      tick(1, 5, 102, 2, 'b1'),
      tick(1, 30, 104.5, 0.3, 'b2'),
      tick(2, 0, 104, 1, 'c1'),
    ]);
    await eventually(async () => (await readBars(sys.db, 'binance', 'BTCUSDT')).length === 2, 10_000, () => 'two closed bars' + state());
    const bars = await readBars(sys.db, 'binance', 'BTCUSDT');
    expect(bars[0], 'bar 0 = first/max/min/last price, decimal sum of sizes').toMatchObject({
      ts: M0, open: 100, high: 103, low: 99, close: 101, volume: 1.85, trades: 4, revision: 0,
    });
    expect(bars[1]).toMatchObject({ ts: M0 + 60_000, open: 102, high: 104.5, low: 102, close: 104.5, volume: 2.3, trades: 2 });
    // The third minute closes after the grace period with no ticks.
    await eventually(async () => (await readBars(sys.db, 'binance', 'BTCUSDT')).length === 3, 10_000, () => 'grace closure' + state());
    const msgs = await readStream<Bar>(sys.nc, 'MD_BARS', 'md.bar.1m.binance.BTCUSDT');
    expect(msgs.map((m) => m.data.ts), 'each bar published exactly once, in order').toEqual([M0, M0 + 60_000, M0 + 120_000]);
    expect(msgs[0]?.msgId).toBe(`binance:BTCUSDT:${M0}`);
  });

  it('stores a tick published twice once (JetStream dedup and database key)', async () => {
    const t = [tick(10, 0, 50, 1, 'd1', 'ETHUSDT'), tick(10, 1, 51, 1, 'd2', 'ETHUSDT')];
    await publish(t);
    await publish(t); // same Nats-Msg-Id: dropped by the stream
    await publish(t, false); // no msg id: reaches the consumer, the key makes it harmless
    await eventually(async () => sync.actor.getSnapshot().context.stats.duplicates >= 2, 10_000, () => 'duplicates seen' + state());
    expect(await countTicks(sys.db, 'binance', 'ETHUSDT'), 'no duplicate rows').toBe(2);
  });

  it('stores a burst of ticks each published twice without msg id once, with batches in flight together', async () => {
    // Copies land in overlapping batches: they must not wait on each other's row locks (see IngestPipeline.claimTicks).
    const burst = Array.from({ length: 400 }, (_, i) => tick(40 + Math.floor(i / 100), i % 60, 20 + (i % 7), 1, `s${i}`, 'ADAUSDT'));
    const before = sync.actor.getSnapshot().context.stats.duplicates;
    const messages = burst.flatMap((t) => [t, t]).map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t }));
    await publishPipelined(ackPublisher(sys.nc), messages, 1_000);
    await eventually(async () => (await countTicks(sys.db, 'binance', 'ADAUSDT')) === burst.length, 20_000, () => 'burst stored' + state());
    await eventually(() => sync.actor.getSnapshot().context.stats.duplicates - before === burst.length, 10_000, () => 'copies counted as duplicates' + state());
    expect(await countTicks(sys.db, 'binance', 'ADAUSDT'), 'no duplicate rows').toBe(burst.length);
  });

  it('corrects a closed bar when a late tick arrives, and publishes the correction', async () => {
    await publish([tick(20, 0, 10, 1, 'e1', 'SOLUSDT'), tick(21, 0, 11, 1, 'e2', 'SOLUSDT'), tick(22, 0, 12, 1, 'e3', 'SOLUSDT')]);
    await eventually(async () => (await readBars(sys.db, 'binance', 'SOLUSDT')).length === 2, 10_000, () => 'bars 20, 21' + state());
    await publish([tick(20, 30, 9, 2, 'e-late', 'SOLUSDT')]);
    await eventually(async () => (await readBars(sys.db, 'binance', 'SOLUSDT'))[0]?.revision === 1, 10_000, () => 'bar 20 corrected' + state());
    const [bar20] = await readBars(sys.db, 'binance', 'SOLUSDT', M0 + 20 * 60_000, M0 + 20 * 60_000);
    expect(bar20, 'late tick lowers the low and adds volume').toMatchObject({ low: 9, close: 9, volume: 3, trades: 2 });
    const msgs = await readStream<Bar>(sys.nc, 'MD_BARS', 'md.bar.1m.binance.SOLUSDT');
    const ids = msgs.map((m) => m.msgId);
    expect(ids, 'the correction is a new message with a revision id').toContain(`binance:SOLUSDT:${M0 + 20 * 60_000}:r1`);
  });

  it('dead-letters every kind of bad input with a reason and keeps the valid ticks around them', async () => {
    const js = jetstream(sys.nc);
    const good = (i: number): Tick => tick(30, i, 100 + i, 1, `g${i}`, 'XRPUSDT');
    const raw = (s: string) => new TextEncoder().encode(s);
    const bad: [string, Uint8Array, string][] = [
      ['md.tick.binance.XRPUSDT', raw('{"venue": "binance", '), 'invalid_json'],
      ['md.tick.binance.XRPUSDT', encodeJson({ venue: 'binance', symbol: 'XRPUSDT', ts: M0 }), 'schema'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(50), price: '100' }), 'schema'],
      ['md.tick.binance.XRPUSDT', raw(JSON.stringify(good(51)).replace('"price":151', '"price":NaN')), 'invalid_json'],
      ['md.tick.binance.XRPUSDT', raw(JSON.stringify(good(52)).replace('"price":152', '"price":1e999')), 'schema'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(53), price: -5 }), 'schema'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(54), ts: Math.floor(M0 / 1000) }), 'schema'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(55), symbol: 'XRP/USDT' }), 'schema'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(56), symbol: 'DOGEUSDT' }), 'subject_mismatch'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(57), pad: 'x'.repeat(10_000) }), 'oversized'],
      ['md.tick.binance.XRPUSDT', new Uint8Array([0xff, 0xfe, 0x00]), 'not_utf8'],
      ['md.tick.binance.XRPUSDT', encodeJson({ ...good(58), ts: Date.now() + 86_400_000 }), 'out_of_window'],
      ['md.tick.bad.venue.XRPUSDT', encodeJson(good(59)), 'bad_subject'],
    ];
    for (let i = 0; i < bad.length; i++) {
      await js.publish(subjects.tick('binance', 'XRPUSDT'), encodeJson(good(i)), { msgID: `g${i}` });
      const [subject, data] = bad[i]!;
      await js.publish(subject, data);
    }
    await eventually(async () => (await countTicks(sys.db, 'binance', 'XRPUSDT')) === bad.length, 10_000, () => 'valid ticks stored' + state());
    await eventually(async () => (await readStream(sys.nc, 'MD_DLQ', 'md.invalid.>')).length === bad.length, 10_000, () => 'dead letters' + state());
    const letters = await readStream<DeadLetter>(sys.nc, 'MD_DLQ', 'md.invalid.>');
    expect(letters.map((l) => l.data.reason), 'one dead letter per bad message, with its reason').toEqual(bad.map((b) => b[2]));
    for (const l of letters) expect(l.data.issues.length, `issues for ${l.data.reason}`).toBeGreaterThan(0);
    expect(letters[10]?.data.rawEncoding, 'non-UTF-8 raw payload kept as base64').toBe('base64');
    expect(letters[0]?.data.raw).toBe('{"venue": "binance", ');
    expect(letters[0]?.subject).toBe('md.invalid.binance.XRPUSDT');
    expect(sync.actor.getSnapshot().value, 'the actor keeps running').toHaveProperty('running');
  });

  it('dead-letters a tick PostgreSQL refuses (reason poison), stores the others and keeps going', async () => {
    // A tick the schema accepts but the database refuses: simulated with a constraint on this test database.
    await sys.db.query(`ALTER TABLE ticks ADD CONSTRAINT refuse_poison CHECK (trade_id NOT LIKE 'poison%')`);
    try {
      const ticks = [tick(50, 0, 7, 1, 'p1', 'DOTUSDT'), tick(50, 1, 7.1, 1, 'poison-1', 'DOTUSDT'), tick(50, 2, 7.2, 1, 'p2', 'DOTUSDT')];
      await publishPipelined(ackPublisher(sys.nc), ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: t.tradeId })));
      await eventually(async () => (await countTicks(sys.db, 'binance', 'DOTUSDT')) === 2, 10_000, () => 'the two others stored' + state());
      await eventually(async () => (await readStream(sys.nc, 'MD_DLQ', 'md.invalid.binance.DOTUSDT')).length === 1, 10_000, () => 'poison dead letter' + state());
      const [letter] = await readStream<DeadLetter>(sys.nc, 'MD_DLQ', 'md.invalid.binance.DOTUSDT');
      expect(letter?.data.reason).toBe('poison');
      expect(letter?.data.issues.join(' '), 'the database error, with the constraint').toMatch(/refuse_poison/);
      expect(JSON.parse(letter?.data.raw ?? '{}')).toMatchObject({ tradeId: 'poison-1' });
    } finally {
      await sys.db.query('ALTER TABLE ticks DROP CONSTRAINT refuse_poison');
    }
    // Ingest goes on.
    await publish([tick(50, 3, 7.3, 1, 'p3', 'DOTUSDT')]);
    await eventually(async () => (await countTicks(sys.db, 'binance', 'DOTUSDT')) === 3, 10_000, () => 'a later tick stored' + state());
    expect(sync.actor.getSnapshot().matches({ running: 'degraded' }), 'not degraded').toBe(false);
  });
});
