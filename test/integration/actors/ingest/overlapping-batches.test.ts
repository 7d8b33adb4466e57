import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestPipeline } from '../../../../actors/ingest/ingest-pipeline.ts';
import { encodeJson, ensureDurable, ensureTopology, subjects, type DeadLetter, type Tick } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const M0 = Date.UTC(2024, 2, 1, 0, 0);
const tick = (sec: number, id: string): Tick => ({ venue: 'acks', symbol: 'XUSDT', ts: M0 + sec * 1000, price: 10 + sec, size: 1, tradeId: id });

/**
 * marketSync stores several batches at once (inserts overlap, commits keep
 * batch order). What that must not break: acks and row locks.
 */
describe('overlapping ingest batches', () => {
  let sys: TestSystem;

  beforeAll(async () => {
    sys = await startTestSystem('dlq_acks');
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
  });
  afterAll(async () => {
    await sys?.dispose();
  });

  // The ingest durable is AckAll: one ack settles a batch and everything before it.
  // A `+TERM` settles everything before it too, so dead-lettering a bad message
  // must not terminate it while the valid ticks before it are not yet stored.
  it('screening a batch dead-letters its bad message and leaves every message of it unsettled', async () => {
    const jsm = await jetstreamManager(sys.nc);
    await ensureDurable(jsm, {
      stream: 'MD_TICKS', durable: 'acks', filterSubject: 'md.tick.acks.>', ackWaitMs: 30_000, maxAckPending: 100, ackPolicy: AckPolicy.All,
    });
    const js = jetstream(sys.nc);
    const subject = subjects.tick('acks', 'XUSDT');
    await js.publish(subject, encodeJson(tick(1, 'a')));
    await js.publish(subject, encodeJson({ ...tick(2, 'b'), price: -1 }));
    await js.publish(subject, encodeJson(tick(3, 'c')));

    const consumer = await js.consumers.get('MD_TICKS', 'acks');
    const batch: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: 3, expires: 2_000 })) batch.push(m);
    expect(batch.length).toBe(3);

    const pipeline = new IngestPipeline({
      js, db: sys.db, log: sys.log, validation: { maxPayloadBytes: 4096, maxSkewMs: 60_000, acceptPast: true },
    });
    // The first message is a batch of its own, not stored yet; the next batch holds the bad one.
    const screened = await pipeline.screen(batch.slice(1));
    expect(screened.ticks.map((t) => t.tradeId)).toEqual(['c']);
    expect(screened.invalid).toBe(1);
    const letters = await readStream<DeadLetter>(sys.nc, 'MD_DLQ', 'md.invalid.acks.XUSDT');
    expect(letters.map((l) => l.data.reason)).toEqual(['schema']);

    await sys.nc.flush();
    const info = await jsm.consumers.info('MD_TICKS', 'acks');
    expect(info.num_ack_pending, 'nothing settled: the unstored first tick would be lost on a crash').toBe(3);
    expect(info.ack_floor.stream_seq).toBe(0);

    // The batch's ack, in batch order, settles all of them.
    batch[2]!.ack();
    await sys.nc.flush();
    await eventually(async () => (await jsm.consumers.info('MD_TICKS', 'acks')).num_ack_pending === 0, 5_000, 'batch settled');
  });

  // A later batch inserts while the earlier one waits to commit. If both insert one
  // key and the later insert comes first, the earlier waits on its row lock while
  // the later waits (in Node, unseen by PostgreSQL) for the earlier commit.
  it('a tick in two batches in flight is inserted by the earlier one only, and neither waits for the other', async () => {
    const pipeline = new IngestPipeline({
      js: jetstream(sys.nc), db: sys.db, log: sys.log, validation: { maxPayloadBytes: 4096, maxSkewMs: 60_000, acceptPast: true },
    });
    const x = { ...tick(10, 'x'), venue: 'lock' };
    const y = { ...tick(11, 'y'), venue: 'lock' };
    const early = pipeline.claimTicks([x]);
    const late = pipeline.claimTicks([x, y, y]);
    expect(late.ticks.map((t) => t.tradeId), 'the later batch leaves x to the earlier one, and y once').toEqual(['y']);

    // The later batch's insert runs first and waits for the earlier commit; then the earlier one stores.
    let earlyCommitted: () => void = () => undefined;
    const afterEarly = new Promise<void>((r) => (earlyCommitted = r));
    const lateStored = pipeline.store(late.ticks, pipeline.tracker.plan(late.ticks, Date.now()), afterEarly);
    await new Promise((r) => setTimeout(r, 300));
    const earlyStored = pipeline.store(early.ticks, pipeline.tracker.plan(early.ticks, Date.now()));
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the batches wait for each other')), 10_000).unref());
    const first = await Promise.race([earlyStored, timeout]);
    early.release();
    earlyCommitted();
    const second = await Promise.race([lateStored, timeout]);
    late.release();
    expect([first.stored, second.stored]).toEqual([1, 1]);
    expect(pipeline.claimTicks([x, y]).ticks.length, 'released keys are free again').toBe(2);
  });
});
