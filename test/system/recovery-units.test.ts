import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPoisonSuspect } from '../../streams/batch-consumer.ts';
import { AbortedError } from '../../streams/backoff.ts';
import { ensureDurable, ensureTopology, publishPipelined, PullPump, resumeFromAckFloor, subjects, type PulledMsg } from '../../streams/index.ts';
import { NatsServer } from '../helpers/nats-server.ts';
import { eventually } from '../helpers/stream-reader.ts';
import { connectNats } from '../../streams/index.ts';
import { loadSettings } from '../../config/index.ts';

describe('isPoisonSuspect: which handler failures are blamed on the message', () => {
  const pgError = (code: string, message = 'pg') => Object.assign(new Error(message), { code });
  it.each([
    ['a TypeError from the handler', new TypeError('x is undefined'), true],
    ['a PostgreSQL data exception (22021, NUL byte)', pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'), true],
    ['a PostgreSQL integrity violation (23514)', pgError('23514'), true],
    ['a typed error that says it is not retryable', Object.assign(new Error('bad model input'), { retryable: false }), true],
    ['a cut connection (57P01)', pgError('57P01', 'terminating connection due to administrator command'), false],
    ['a database that refuses connections (55000)', pgError('55000', 'database "x" is not currently accepting connections'), false],
    ['ECONNREFUSED', new Error('connect ECONNREFUSED 127.0.0.1:5432'), false],
    ['a NATS timeout', Object.assign(new Error('timeout'), { name: 'TimeoutError' }), false],
    ['no JetStream responders', Object.assign(new Error("no responders: 'md.bar.1m.v.s'"), { name: 'NoRespondersError' }), false],
    ['an aborted retry', new AbortedError('aborted'), false],
    ['a thrown string', 'boom', false],
  ])('%s', (_what, err, expected) => {
    expect(isPoisonSuspect(err)).toBe(expected);
  });
});

describe('resumeFromAckFloor', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await NatsServer.start();
  });
  afterAll(async () => {
    await nats?.dispose();
  });

  it('restarts a durable right after its ack floor, and again at the same place when nothing was acked since', async () => {
    const nc = await connectNats(loadSettings({}, { NATS_URL: nats.url }), 'resume-test');
    try {
      const jsm = await ensureTopology(nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
      await ensureDurable(jsm, { stream: 'MD_BARS', durable: 'resume', ackWaitMs: 30_000, maxAckPending: 100 });
      await publishPipelined(jetstream(nc), Array.from({ length: 10 }, (_, i) => ({ subject: subjects.bar1m('v', 'S'), payload: { i }, msgId: `m${i}` })));
      // A reader that acks the first 5 and dies holding the rest.
      const got: PulledMsg[] = [];
      const pump = new PullPump(nc, { stream: 'MD_BARS', durable: 'resume', batch: 10, wantsMore: () => got.length < 10, onMessage: (m) => got.push(m) });
      pump.start();
      await eventually(() => got.length === 10, 5_000, '10 messages delivered');
      for (const m of got.slice(0, 5)) m.ack();
      await nc.flush();
      await pump.close();
      await eventually(async () => (await jsm.consumers.info('MD_BARS', 'resume')).ack_floor.stream_seq === 5, 5_000, 'ack floor at 5');
      expect(await resumeFromAckFloor(jsm, 'MD_BARS', 'resume'), 'unacked messages: re-created after the floor').toEqual({ startSeq: 6, unacked: 5 });
      // The re-created durable delivers 6.. again; a second crash before any ack must not go back to 1.
      const again: PulledMsg[] = [];
      const pump2 = new PullPump(nc, { stream: 'MD_BARS', durable: 'resume', batch: 10, wantsMore: () => again.length < 5, onMessage: (m) => again.push(m) });
      pump2.start();
      await eventually(() => again.length === 5, 5_000, 'redelivery after the floor');
      await pump2.close();
      expect(again.map((m) => m.info.streamSequence), 'in order, from the floor').toEqual([6, 7, 8, 9, 10]);
      expect(await resumeFromAckFloor(jsm, 'MD_BARS', 'resume'), 'a re-created durable with nothing acked keeps its start').toEqual({ startSeq: 6, unacked: 5 });
      const info = await jsmInfo(nc);
      expect(info.num_pending, 'messages 6..10 are pending again').toBe(5);
    } finally {
      await nc.close();
    }
  });
});

async function jsmInfo(nc: Parameters<typeof jetstreamManager>[0]) {
  const jsm = await jetstreamManager(nc);
  return jsm.consumers.info('MD_BARS', 'resume');
}
