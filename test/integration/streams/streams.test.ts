import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, ensureDurable, ensureTopology, InvalidTokenError, parseAckSubject, subjects, STREAMS, KV_BUCKETS } from '../../../streams/index.ts';
import { loadSettings } from '../../../config/index.ts';
import { NatsServer } from '../../helpers/nats-server.ts';

describe('subject builders', () => {
  it('build the contract subjects', () => {
    expect(subjects.tick('binance', 'BTC-USDT_1')).toBe('md.tick.binance.BTC-USDT_1');
    expect(subjects.bar1m('b', 's')).toBe('md.bar.1m.b.s');
    expect(subjects.prediction('b', 's')).toBe('signal.pred.b.s');
    expect(subjects.modelEvent('rolledback')).toBe('model.events.rolledback');
  });
  it.each(['BTC.USDT', 'BTC*', '>', 'BTC USDT', '', 'x'.repeat(33), 'BTC/USDT', 'ÄÖ'])('reject the token %j before it reaches a subject', (bad) => {
    expect(() => subjects.tick(bad, 'BTC')).toThrow(InvalidTokenError);
    expect(() => subjects.tick('binance', bad)).toThrow(/invalid symbol/);
  });
  it('parse JetStream ack subjects (v1 and v2 forms)', () => {
    expect(parseAckSubject('$JS.ACK.MD_TICKS.market_sync.1.42.40.1700000000000000000.7')).toMatchObject({ stream: 'MD_TICKS', consumer: 'market_sync', streamSequence: 42, deliverySequence: 40, pending: 7 });
    expect(parseAckSubject('$JS.ACK.hub.ACC.MD_TICKS.c.2.9.8.1700000000000000000.0.abc')).toMatchObject({ stream: 'MD_TICKS', deliveryCount: 2, streamSequence: 9 });
    expect(parseAckSubject('md.tick.a.b')).toBeUndefined();
  });
});

describe('topology on a real nats-server', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => server?.dispose());

  it('creates every stream, consumer and KV bucket, and is idempotent', async () => {
    const nc = await connectNats(loadSettings({}, { NATS_URL: server.url }), 'topology-test');
    try {
      const limits = { maxAgeDays: 7, maxBytesMb: 64, duplicateWindowS: 120 };
      await ensureTopology(nc, limits);
      await ensureTopology(nc, limits);
      const jsm = await jetstreamManager(nc);
      const names: string[] = [];
      for await (const s of jsm.streams.list()) names.push(s.config.name);
      expect(names.sort()).toEqual([...Object.keys(STREAMS), `KV_${KV_BUCKETS.modelActive}`, `KV_${KV_BUCKETS.workClaims}`].sort());
      const ticks = await jsm.streams.info('MD_TICKS');
      expect(ticks.config.duplicate_window, 'duplicate window in ns').toBe(120 * 1e9);
      expect(ticks.config.max_bytes).toBe(64 * 1024 * 1024);
      // A changed limit is applied by an update.
      await ensureTopology(nc, { ...limits, duplicateWindowS: 300 });
      expect((await jsm.streams.info('MD_TICKS')).config.duplicate_window).toBe(300 * 1e9);
      const spec = { stream: 'MD_TICKS' as const, durable: 'x', ackWaitMs: 5_000, maxAckPending: 100 };
      await ensureDurable(jsm, spec);
      await ensureDurable(jsm, { ...spec, maxAckPending: 200 });
      expect((await jsm.consumers.info('MD_TICKS', 'x')).config.max_ack_pending).toBe(200);
    } finally {
      await nc.close();
    }
  });
});
