import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../config/index.ts';
import { AckPublisher, connectNats, encodeJson, publishPipelined, PublishRejectedError, PublishTimeoutError } from '../../../streams/index.ts';
import { NatsServer } from '../../helpers/nats-server.ts';

describe('AckPublisher on a real nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connectNats(loadSettings({}, { NATS_URL: server.url }), 'ack-publisher-test');
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'T', subjects: ['t.>'], duplicate_window: 60_000_000_000, max_msg_size: 1_024 });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it('resolves with the stream sequence, and reports a msgId seen before as a duplicate', async () => {
    const p = new AckPublisher(nc);
    try {
      const before = (await jsm.streams.info('T')).state.last_seq;
      const a = await p.publish('t.a', encodeJson({ n: 1 }), { msgID: 'id-1' });
      expect(a).toMatchObject({ stream: 'T', seq: before + 1, duplicate: false });
      const again = await p.publish('t.a', encodeJson({ n: 1 }), { msgID: 'id-1' });
      expect(again.duplicate).toBe(true);
      const msg = await jsm.streams.getMessage('T', { seq: a.seq });
      expect(msg?.json()).toEqual({ n: 1 });
      expect(msg?.header.get('Nats-Msg-Id')).toBe('id-1');
      expect(p.inFlight).toBe(0);
    } finally {
      p.close();
    }
  });

  it('keeps order and confirms every message of a pipelined burst', async () => {
    const p = new AckPublisher(nc);
    try {
      const before = (await jsm.streams.info('T')).state.last_seq;
      const r = await publishPipelined(p, Array.from({ length: 2_000 }, (_, i) => ({ subject: 't.burst', payload: { i }, headers: { 'X-I': String(i) } })), 512);
      expect(r).toEqual({ published: 2_000, duplicates: 0 });
      const first = await jsm.streams.getMessage('T', { seq: before + 1 });
      const last = await jsm.streams.getMessage('T', { seq: before + 2_000 });
      expect(first?.json()).toEqual({ i: 0 });
      expect(last?.json()).toEqual({ i: 1_999 });
      expect(last?.header.get('X-I')).toBe('1999');
    } finally {
      p.close();
    }
  });

  it('rejects what the stream refuses, and a subject no stream captures', async () => {
    const p = new AckPublisher(nc);
    try {
      const big = await p.publish('t.big', new Uint8Array(4_096)).catch((e: unknown) => e);
      expect(big).toBeInstanceOf(PublishRejectedError);
      expect((big as PublishRejectedError).message).toMatch(/size exceeds maximum/i);
      const nobody = await p.publish('nostream.x', encodeJson({})).catch((e: unknown) => e);
      expect(nobody).toBeInstanceOf(PublishRejectedError);
      expect((nobody as PublishRejectedError).code).toBe(503);
    } finally {
      p.close();
    }
  });

  it('times out when no PubAck comes, and rejects what is in flight when closed', async () => {
    const p = new AckPublisher(nc, 300);
    // A core subscriber that never answers: no 503, no PubAck.
    const silent = nc.subscribe('silent.x', { callback: () => undefined });
    try {
      const started = Date.now();
      const err = await p.publish('silent.x', encodeJson({})).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PublishTimeoutError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      const pending = p.publish('silent.x', encodeJson({})).catch((e: unknown) => e);
      expect(p.inFlight).toBe(1);
      p.close();
      expect(await pending).toBeInstanceOf(Error);
      await expect(p.publish('t.a', encodeJson({}))).rejects.toThrow(/closed/);
    } finally {
      silent.unsubscribe();
    }
  });
});
