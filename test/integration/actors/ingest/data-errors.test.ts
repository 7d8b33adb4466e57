import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestPipeline } from '../../../../actors/ingest/ingest-pipeline.ts';
import { startMarketSync, type MarketSyncHandle } from '../../../../actors/ingest/market-sync.ts';
import { bindMarketSync, createOpsMetrics } from '../../../../ops/index.ts';
import { checkout, countTicks, insertTicks, readBars, withTransaction } from '../../../../sql/index.ts';
import { ackPublisher, publishPipelined, subjects, type DeadLetter, type Tick } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const M0 = Date.UTC(2024, 2, 1, 0, 0);
const tick = (symbol: string, minute: number, sec: number, price: number, size: number, tradeId: string): Tick => ({
  venue: 'derr',
  symbol,
  ts: M0 + minute * 60_000 + sec * 1000,
  price,
  size,
  tradeId,
});

/** Rejects after `ms`: a store that retries a data error forever shows up as a timeout, not a hung test. */
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms).unref())]);

/**
 * Data errors on the ingest path, found from outside with default settings: none
 * may stop ingest, none may lose or merge ticks without a trace.
 */
describe('data errors on the ingest path (real nats-server and PostgreSQL)', () => {
  let sys: TestSystem;
  let sync: MarketSyncHandle;

  beforeAll(async () => {
    // Small batches, so a burst is stored as several batches in flight together.
    sys = await startTestSystem('data_errors', { BAR_GRACE_MS: 1_000, INGEST_BATCH_SIZE: 16 });
    sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await sync.ready();
  });
  afterAll(async () => {
    await sync?.stop();
    await sys?.dispose();
  });

  const state = () => {
    const snap = sync.actor.getSnapshot();
    return `; marketSync ${JSON.stringify(snap.value)} ${JSON.stringify(snap.context.stats)}`;
  };
  const publish = (ticks: readonly Tick[], msgId?: (t: Tick) => string) =>
    publishPipelined(
      ackPublisher(sys.nc),
      ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, ...(msgId ? { msgId: msgId(t) } : {}) })),
      1_000,
    );
  const letters = (symbol: string) => readStream<DeadLetter>(sys.nc, 'MD_DLQ', `md.invalid.derr.${symbol}`);
  /** A tick published last is stored: the actor is still ingesting, not degraded. */
  const sentinelStored = async (symbol: string, minute: number) => {
    await publish([tick(symbol, minute, 0, 1, 1, `sentinel-${minute}`)]);
    await eventually(
      async () => (await sys.db.query('SELECT 1 FROM ticks WHERE symbol = $1 AND trade_id = $2', [symbol, `sentinel-${minute}`])).rowCount === 1,
      10_000,
      () => `sentinel of ${symbol} stored${state()}`,
    );
    expect(sync.actor.getSnapshot().matches({ running: 'degraded' }), 'not degraded').toBe(false);
  };

  it('dead-letters ticks whose bar volume would overflow (schema bounds) and keeps ingesting', async () => {
    await publish([tick('OVF', 0, 0, 100, 1, 'ok-1'), tick('OVF', 0, 1, 100, 1.5e308, 'huge-1'), tick('OVF', 0, 2, 100, 1.5e308, 'huge-2'), tick('OVF', 1, 0, 100, 1, 'ok-2')]);
    await eventually(async () => (await letters('OVF')).length === 2, 10_000, () => 'two dead letters' + state());
    const dead = await letters('OVF');
    expect(dead.map((l) => l.data.reason)).toEqual(['schema', 'schema']);
    for (const l of dead) expect(l.data.issues).toContain('size: must be <= 1e18');
    await eventually(async () => (await readBars(sys.db, 'derr', 'OVF')).length === 1, 10_000, () => 'bar of minute 0' + state());
    expect((await readBars(sys.db, 'derr', 'OVF'))[0]).toMatchObject({ ts: M0, volume: 1, trades: 1 });
    await sentinelStored('OVF', 2);
  });

  it('isolates a bar PostgreSQL refuses: this batch\'s ticks of that minute are taken back, everything else is stored', async () => {
    // Ticks that bypass the schema (as if its bounds were lifted): two sizes of 1.5e308 overflow the bar's float8 volume.
    const pipeline = new IngestPipeline({
      js: jetstream(sys.nc), db: sys.db, log: sys.log, validation: { maxPayloadBytes: 4096, maxSkewMs: 60_000, acceptPast: true },
    });
    const storeBatch = async (ticks: Tick[]) => {
      const claim = pipeline.claimTicks(ticks);
      const { plan } = pipeline.planBatch(claim.ticks);
      try {
        return await within(pipeline.store(claim.ticks, plan), 10_000, 'store');
      } finally {
        claim.release();
      }
    };
    const first = await storeBatch([tick('ISO', 0, 0, 10, 1.5e308, 'a')]);
    expect(first).toMatchObject({ stored: 1, refused: [], conflicts: 0 });

    const second = await storeBatch([
      tick('ISO', 0, 10, 11, 1.5e308, 'b'), // overflows the bar together with a (committed before)
      tick('ISO', 0, 20, 12, 1, 'c'), // same minute, same batch: taken back with b
      tick('ISO2', 0, 0, 5, 2, 'x'), // another series: its bar closes as usual
      tick('ISO', 1, 0, 13, 1, 'd'), // closes minute 0
      tick('ISO2', 1, 0, 6, 3, 'y'),
    ]);
    expect(second.stored, 'd, x, y').toBe(3);
    expect(second.refused.map((r) => [r.tick.tradeId, r.reason])).toEqual([['b', 'poison'], ['c', 'poison']]);
    expect(second.refused[0]?.issue).toMatch(/^PostgreSQL refused the bar 2024-03-01T00:00:00\.000Z closed from this tick: .*out of range/);
    expect(second.bars.map((b) => [b.symbol, b.ts, b.volume, b.trades])).toEqual([['ISO', M0, 1.5e308, 1], ['ISO2', M0, 2, 1]]);
    const stored = await sys.db.query<{ trade_id: string }>(`SELECT trade_id FROM ticks WHERE venue = 'derr' AND symbol LIKE 'ISO%' ORDER BY trade_id`);
    expect(stored.rows.map((r) => r.trade_id)).toEqual(['a', 'd', 'x', 'y']);

    // A refused bar no tick of the batch caused (both committed before): left as it was, logged, never retried.
    await withTransaction(sys.db, (c) => insertTicks(c, [tick('ISO3', 5, 0, 1, 1.5e308, 'p'), tick('ISO3', 5, 1, 1, 1.5e308, 'q'), tick('ISO3', 6, 0, 1, 4, 'r')]));
    const minutes = [{ venue: 'derr', symbol: 'ISO3', ts: M0 + 5 * 60_000 }, { venue: 'derr', symbol: 'ISO3', ts: M0 + 6 * 60_000 }];
    const third = await within(pipeline.store([], { close: minutes, late: [], next: [] }), 10_000, 'store of a grace closure');
    expect(third.bars.map((b) => [b.ts, b.volume]), 'the other minute closes').toEqual([[M0 + 6 * 60_000, 4]]);
    expect(third.refused).toEqual([]);
    expect(await readBars(sys.db, 'derr', 'ISO3')).toHaveLength(1);
    // The connection went back to the pool in a usable state.
    const client = await checkout(sys.db);
    client.done();
  });

  it('dead-letters trade ids with lone surrogates (schema), stores every valid tick once, and does not stall', async () => {
    // 42 pairs of ids that differ only by a lone surrogate: encoded for PostgreSQL both would be "s<i>\uFFFD".
    // The two halves of each pair are far apart, so they land in different batches in flight together.
    const pairs = 42;
    const bad = [
      ...Array.from({ length: pairs }, (_, i) => tick('SURR', 0, i % 60, 10, 1, `s${i}\ud800`)),
      ...Array.from({ length: pairs }, (_, i) => tick('SURR', 0, i % 60, 10, 1, `s${i}\udbff`)),
    ];
    const good = Array.from({ length: pairs }, (_, i) => tick('SURR', 0, i % 60, 20, 1, `g${i}`));
    // Valid ticks in between: one after every second bad one.
    const burst = bad.flatMap((t, i) => (i % 2 === 1 ? [t, good[(i - 1) / 2]!] : [t]));
    const goodIds = new Set(good.map((t) => t.tradeId));
    await publish(burst); // no msg id: JetStream keeps every one
    await eventually(async () => (await letters('SURR')).length === bad.length, 15_000, () => `${bad.length} dead letters${state()}`);
    await eventually(async () => (await countTicks(sys.db, 'derr', 'SURR')) >= goodIds.size, 15_000, () => 'valid ticks stored' + state());
    const dead = await letters('SURR');
    expect(new Set(dead.map((l) => l.data.reason))).toEqual(new Set(['schema']));
    for (const l of dead) expect(l.data.issues.join(' ')).toMatch(/^tradeId: must be well-formed Unicode \(lone surrogate at index \d+\)$/);
    const rows = await sys.db.query<{ trade_id: string; n: number }>(
      `SELECT trade_id, count(*)::int AS n FROM ticks WHERE venue = 'derr' AND symbol = 'SURR' GROUP BY trade_id ORDER BY trade_id`,
    );
    expect(rows.rows.map((r) => r.trade_id).sort()).toEqual([...goodIds].sort());
    expect(rows.rows.every((r) => r.n === 1)).toBe(true);
    await sentinelStored('SURR', 1);
  });

  it('dead-letters a conflicting duplicate (reason conflict), keeps the stored tick, counts it; an identical copy is a plain duplicate', async () => {
    const metrics = createOpsMetrics({ defaultMetrics: false });
    const unbind = bindMarketSync(sync.actor, metrics);
    try {
      const original = { ...tick('CONF', 0, 5, 101.2, 1, 't1'), side: 'buy' as const };
      await publish([original], () => 'conf-original');
      await eventually(async () => (await countTicks(sys.db, 'derr', 'CONF')) === 1, 10_000, () => 'original stored' + state());
      const conflictsBefore = sync.actor.getSnapshot().context.stats.conflicts;

      // The venue corrects the price: another msg id, so JetStream does not drop it.
      await publish([{ ...original, price: 101.5 }], () => 'conf-correction');
      await eventually(async () => (await letters('CONF')).length === 1, 10_000, () => 'conflict dead letter' + state());
      const [letter] = await letters('CONF');
      expect(letter?.data.reason).toBe('conflict');
      expect(letter?.data.issues.join(' ')).toContain('price 101.5 != stored 101.2');
      expect(JSON.parse(letter?.data.raw ?? '{}')).toMatchObject({ tradeId: 't1', price: 101.5 });
      const row = await sys.db.query<{ price: number; side: string }>(`SELECT price, side FROM ticks WHERE symbol = 'CONF' AND trade_id = 't1'`);
      expect(row.rows, 'the stored tick is kept').toEqual([{ price: 101.2, side: 'buy' }]);
      await eventually(() => sync.actor.getSnapshot().context.stats.conflicts === conflictsBefore + 1, 5_000, () => 'conflict counted' + state());

      // An identical copy (a redelivery, or a re-publish outside the dedup window): no dead letter.
      const duplicatesBefore = sync.actor.getSnapshot().context.stats.duplicates;
      await publish([original]);
      await eventually(() => sync.actor.getSnapshot().context.stats.duplicates > duplicatesBefore, 10_000, () => 'duplicate counted' + state());

      // Original and correction in one burst (one batch, or two in flight): the copy is compared too.
      const burstOriginal = { ...tick('CONF', 0, 6, 50, 2, 't2') };
      await publish([burstOriginal, { ...burstOriginal, size: 3, side: 'sell' }]);
      await eventually(async () => (await letters('CONF')).length === 2, 10_000, () => 'second conflict dead letter' + state());
      const second = (await letters('CONF'))[1];
      expect(second?.data.issues.join(' ')).toMatch(/size 3 != stored 2, side sell != stored \(none\)/);
      expect(await countTicks(sys.db, 'derr', 'CONF')).toBe(2);
      await eventually(() => sync.actor.getSnapshot().context.stats.conflicts === conflictsBefore + 2, 5_000, () => 'both conflicts counted' + state());
      expect(await metrics.text()).toMatch(/^signals_ticks_conflict_total 2$/m);
      await sentinelStored('CONF', 1);
    } finally {
      unbind();
    }
  });
});
