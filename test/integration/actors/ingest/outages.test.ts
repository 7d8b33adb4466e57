import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarketSync } from '../../../../actors/ingest/market-sync.ts';
import { barToTicks, type BarRow } from '../../../../market/index.ts';
import { adminQuery } from '../../../helpers/postgres.ts';
import { countTicks, readBars } from '../../../../sql/index.ts';
import { connectNats, msgIds, publishPipelined, subjects, type Tick } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { marketBars } from '../../../support/models/fixtures.ts';


function ticksOf(bars: readonly BarRow[], venue: string): Tick[] {
  const out: Tick[] = [];
  let prevClose: number | undefined;
  for (const b of bars) {
    out.push(...barToTicks(b, prevClose === undefined ? { venue, symbol: 'BTCUSDT' } : { venue, symbol: 'BTCUSDT', prevClose }));
    prevClose = b.close;
  }
  return out;
}

describe('marketSync through outages (degraded, retries, recovers, drops nothing)', () => {
  let sys: TestSystem;
  let bars: BarRow[];
  beforeAll(async () => {
    sys = await startTestSystem('outage', { BAR_GRACE_MS: 300, INGEST_BATCH_SIZE: 500, RETRY_MIN_MS: 50, RETRY_MAX_MS: 500 });
    bars = marketBars(8_000, 0);
  });
  afterAll(async () => {
    await adminQuery(`ALTER DATABASE ${sys.database.name} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await sys?.dispose();
  });

  it('a PostgreSQL outage mid-replay: degraded while down, then every tick stored once and every bar right', async () => {
    const slice = bars.slice(0, 3_000);
    const ticks = ticksOf(slice, 'pgdown');
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await sync.ready();
    const js = jetstream(sys.nc);
    const publishing = publishPipelined(js, ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) })), 256);
    await eventually(async () => (await countTicks(sys.db, 'pgdown')) > 2_000, 30_000, 'ingest under way');
    // The outage: no new connections to this database, and the existing ones are cut.
    await adminQuery(`ALTER DATABASE ${sys.database.name} ALLOW_CONNECTIONS false`);
    await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${sys.database.name}'`);
    await eventually(() => sync.actor.getSnapshot().matches({ running: 'degraded' }), 15_000, 'degraded state');
    await new Promise((r) => setTimeout(r, 1_500));
    await adminQuery(`ALTER DATABASE ${sys.database.name} ALLOW_CONNECTIONS true`);
    await publishing;
    await eventually(async () => (await readBars(sys.db, 'pgdown', 'BTCUSDT')).length === slice.length, 60_000, 'all bars after recovery');
    expect(sync.actor.getSnapshot().matches('running'), 'recovered without a restart of its own').toBe(true);
    await sync.stop();
    expect(await countTicks(sys.db, 'pgdown'), 'no lost or duplicate ticks').toBe(ticks.length);
    const stored = await readBars(sys.db, 'pgdown', 'BTCUSDT');
    expect(stored.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]), 'bars equal the source').toEqual(slice.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]));
    const msgs = await readStream<{ ts: number }>(sys.nc, 'MD_BARS', 'md.bar.1m.pgdown.BTCUSDT');
    expect(msgs.map((m) => m.data.ts), 'each bar published once').toEqual(slice.map((b) => b.ts));
  }, 120_000);

  it('a nats-server restart mid-replay: reconnects, resumes, and ends with exactly the rows of an uninterrupted run', async () => {
    const slice = bars.slice(5_000, 8_000);
    const ticks = ticksOf(slice, 'natsdown');
    const publisher = await connectNats(sys.settings, 'outage-publisher');
    await publishPipelined(jetstream(publisher), ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) })), 256);
    await publisher.close();
    const settings = { ...sys.settings, INGEST_DURABLE: 'natsdown' };
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings, log: sys.log });
    await sync.ready();
    await eventually(async () => (await countTicks(sys.db, 'natsdown')) > 1_000, 30_000, 'ingest under way');
    await sys.nats.restart(500);
    // Generous: on a loaded 2-core machine reconnecting and working off 3,000 bars of ticks has taken over 90 s.
    await eventually(async () => (await readBars(sys.db, 'natsdown', 'BTCUSDT')).length === slice.length, 150_000, 'all bars after the restart');
    await sync.stop();
    expect(await countTicks(sys.db, 'natsdown'), 'no lost or duplicate ticks').toBe(ticks.length);
    const stored = await readBars(sys.db, 'natsdown', 'BTCUSDT');
    expect(stored.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume])).toEqual(slice.map((b) => [b.ts, b.open, b.high, b.low, b.close, b.volume]));
    const msgs = await readStream<{ ts: number }>(sys.nc, 'MD_BARS', 'md.bar.1m.natsdown.BTCUSDT');
    expect(new Set(msgs.map((m) => m.data.ts)).size, 'every bar published').toBe(slice.length);
    expect(msgs.length, 'no bar published twice').toBe(slice.length);
  }, 210_000);
});
