import { describe, expect, it } from 'vitest';
import { BatchChain, type BatchChainDeps } from '../../../../actors/ingest/batch-chain.ts';
import type { SettledBatch } from '../../../../actors/ingest/batch-outcome.ts';
import type { SetAsideTick, StoreResult, TickClaim } from '../../../../actors/ingest/ingest-pipeline.ts';
import type { BatchPlan } from '../../../../actors/ingest/minute-tracker.ts';
import type { PulledMsg, Tick } from '../../../../streams/index.ts';

const PLAN: BatchPlan = { close: [], late: [], next: [] };
const tick = (tradeId: string): Tick => ({ venue: 'v', symbol: 'S', ts: 1_700_000_000_000, price: 100, size: 1, tradeId });

const msg = (streamSequence: number): PulledMsg => ({
  subject: 'md.tick.v.S',
  data: new Uint8Array(),
  headers: undefined,
  info: { stream: 'MD_TICKS', consumer: 'c', deliveryCount: 1, streamSequence, deliverySequence: streamSequence, pending: 0 },
  ack: () => undefined,
  term: () => undefined,
  working: () => undefined,
  nak: () => undefined,
});

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A stand-in for the pipeline's store, dead letters and publish (the real ones need
 * PostgreSQL and NATS, and are tested on real servers): each batch's store waits for
 * its own gate, so a test decides in which order PostgreSQL answers.
 */
function fakePipeline() {
  const log: string[] = [];
  const gates = new Map<readonly Tick[], Promise<void>>();
  const results = new Map<readonly Tick[], StoreResult>();
  const failuresLeft = new Map<readonly Tick[], number>();
  let letterGate: { promise: Promise<void> } = { promise: Promise.resolve() };
  const pipeline: BatchChainDeps['pipeline'] = {
    async store(ticks, _plan, after = Promise.resolve()) {
      const name = ticks[0]?.tradeId ?? 'closures';
      const left = failuresLeft.get(ticks) ?? 0;
      if (left > 0) {
        failuresLeft.set(ticks, left - 1);
        log.push(`store ${name} failed`);
        throw new Error('connection lost');
      }
      await (gates.get(ticks) ?? Promise.resolve());
      log.push(`insert ${name}`);
      await after;
      log.push(`commit ${name}`);
      return results.get(ticks) ?? { stored: ticks.length, bars: [], refused: [], conflicts: 0 };
    },
    async deadLetterRefused(refused: readonly SetAsideTick[], msgOf) {
      await letterGate.promise;
      for (const r of refused) log.push(`dead-letter ${r.tick.tradeId} (${r.reason}) seq ${msgOf(r.tick)?.info.streamSequence ?? 'none'}`);
    },
    async publishBars(bars) {
      log.push(`publish ${bars.length} bars`);
      return bars.length;
    },
    async drainOutbox() {
      log.push('drain outbox');
      return 2;
    },
  };
  /** Holds every dead letter until the returned function is called (NATS slow to take them). */
  const holdLetters = () => {
    const gate = deferred();
    letterGate = gate;
    return gate.resolve;
  };
  return { pipeline, log, gates, results, failuresLeft, holdLetters };
}

function chainOn(fake: ReturnType<typeof fakePipeline>) {
  const retries: unknown[] = [];
  let settledCount = 0;
  const chain = new BatchChain({
    pipeline: fake.pipeline,
    retry: { minMs: 1, maxMs: 2, onRetry: (err) => retries.push(err) },
    ackWaitMs: 30_000,
    onSettled: () => (settledCount += 1),
  });
  return { chain, retries, settled: () => settledCount };
}

/** A claim that records when its keys are released (at commit). */
function claimOf(ticks: Tick[], log: string[]): TickClaim {
  return { ticks, release: () => log.push(`release ${ticks[0]?.tradeId ?? 'closures'}`) };
}

describe('BatchChain (the store-and-ack step of the tick loop)', () => {
  it('a batch aborted on stop that nobody awaits any more is no unhandled rejection, and still rejects for whoever asks', async () => {
    const fake = fakePipeline();
    const stop = new AbortController();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const chain = new BatchChain({
        pipeline: { ...fake.pipeline, publishBars: () => Promise.reject(new Error('NATS unavailable')) },
        retry: { minMs: 1, maxMs: 2, signal: stop.signal },
        ackWaitMs: 30_000,
        onSettled: () => undefined,
      });
      chain.launchBatch(claimOf([tick('a')], fake.log), PLAN, [], () => undefined, () => undefined);
      await flush();
      stop.abort();
      await new Promise((resolve) => setTimeout(resolve, 30));
      await flush();
      expect(unhandled, 'the process would crash on an unhandled rejection').toEqual([]);
      await expect(chain.finished()).rejects.toThrow(/aborted/);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('commits and settles batches in launch order even when PostgreSQL answers the later one first', async () => {
    const fake = fakePipeline();
    const { chain, settled } = chainOn(fake);
    const first = [tick('a')];
    const second = [tick('b')];
    const gateA = deferred();
    fake.gates.set(first, gateA.promise);
    const done: string[] = [];
    chain.launchBatch(claimOf(first, fake.log), PLAN, [], () => undefined, () => done.push('a'));
    chain.launchBatch(claimOf(second, fake.log), PLAN, [], () => undefined, () => done.push('b'));
    expect(chain.batchesInFlight).toBe(2);
    await flush();
    expect(fake.log, 'the later insert may run first, but it waits for the earlier commit').toEqual(['insert b']);
    expect(done).toEqual([]);
    gateA.resolve();
    await chain.finished();
    expect(fake.log.filter((l) => l.startsWith('commit') || l.startsWith('release')), 'commits in order; keys released at commit').toEqual([
      'commit a', 'release a', 'commit b', 'release b',
    ]);
    expect(done, 'acks in batch order: an AckAll ack settles every earlier message').toEqual(['a', 'b']);
    expect(settled()).toBe(2);
    expect(chain.batchesInFlight).toBe(0);
  });

  it('holds back the settling (the ack) of a later batch while an earlier one still dead-letters', async () => {
    const fake = fakePipeline();
    const { chain } = chainOn(fake);
    const first = [tick('a')];
    const second = [tick('b')];
    fake.results.set(first, { stored: 0, bars: [], refused: [{ tick: first[0]!, reason: 'poison', issue: 'refused' }], conflicts: 0 });
    const releaseLetters = fake.holdLetters();
    const done: string[] = [];
    chain.launchBatch(claimOf(first, fake.log), PLAN, [], () => undefined, () => done.push('a'));
    chain.launchBatch(claimOf(second, fake.log), PLAN, [], () => undefined, () => done.push('b'));
    await flush();
    expect(fake.log, 'both committed').toContain('commit b');
    expect(done, 'b is stored, but acking it would settle a before its dead letter is out').toEqual([]);
    releaseLetters();
    await chain.finished();
    expect(done).toEqual(['a', 'b']);
  });

  it('retries a failed store until it succeeds, and settles the batch exactly once', async () => {
    const fake = fakePipeline();
    const { chain, retries } = chainOn(fake);
    const ticks = [tick('a'), tick('b')];
    fake.failuresLeft.set(ticks, 2);
    const done: SettledBatch[] = [];
    chain.launchBatch(claimOf(ticks, fake.log), PLAN, [], () => undefined, (s) => done.push(s));
    await chain.finished();
    expect(retries, 'two failures, two retries').toHaveLength(2);
    expect(done, 'nothing lost, nothing settled twice').toEqual([{ stored: 2, barsPublished: 0, refused: 0, conflicts: 0 }]);
  });

  it('dead-letters the ticks the store set aside with their own messages, before publishing and settling', async () => {
    const fake = fakePipeline();
    const { chain } = chainOn(fake);
    const ticks = [tick('a'), tick('b'), tick('c')];
    const msgs = [msg(1), msg(2), msg(3)];
    fake.results.set(ticks, {
      stored: 1,
      bars: [],
      refused: [
        { tick: ticks[1]!, reason: 'poison', issue: 'PostgreSQL refused the tick' },
        { tick: ticks[2]!, reason: 'conflict', issue: 'price differs' },
      ],
      conflicts: 1,
    });
    const done: SettledBatch[] = [];
    chain.launchBatch(claimOf(ticks, fake.log), PLAN, msgs, (t) => msgs[ticks.indexOf(t)], (s) => {
      fake.log.push('settled');
      done.push(s);
    });
    await chain.finished();
    expect(fake.log.slice(-4)).toEqual(['dead-letter b (poison) seq 2', 'dead-letter c (conflict) seq 3', 'publish 0 bars', 'settled']);
    expect(done).toEqual([{ stored: 1, barsPublished: 0, refused: 2, conflicts: 1 }]);
  });

  it('throttles the next batch while more than three batches are unsettled', async () => {
    const fake = fakePipeline();
    const { chain } = chainOn(fake);
    const gate = deferred();
    const batches = ['a', 'b', 'c', 'd'].map((id) => [tick(id)]);
    fake.gates.set(batches[0]!, gate.promise);
    for (const ticks of batches) chain.launchBatch(claimOf(ticks, fake.log), PLAN, [], () => undefined, () => undefined);
    let throttled = true;
    const waiting = chain.throttle().then(() => (throttled = false));
    await flush();
    expect(throttled, 'four batches in flight: the loop must not take a fifth').toBe(true);
    gate.resolve();
    await waiting;
    expect(throttled).toBe(false);
    await chain.finished();
  });

  it('does not throttle three batches in flight', async () => {
    const fake = fakePipeline();
    const { chain } = chainOn(fake);
    const gate = deferred();
    const batches = ['a', 'b', 'c'].map((id) => [tick(id)]);
    fake.gates.set(batches[0]!, gate.promise);
    for (const ticks of batches) chain.launchBatch(claimOf(ticks, fake.log), PLAN, [], () => undefined, () => undefined);
    let throttled = true;
    void chain.throttle().then(() => (throttled = false));
    await flush();
    expect(throttled).toBe(false);
    gate.resolve();
    await chain.finished();
  });

  it('publishes outbox bars and grace closures in order behind the batches before them', async () => {
    const fake = fakePipeline();
    const { chain, settled } = chainOn(fake);
    const gate = deferred();
    const ticks = [tick('a')];
    fake.gates.set(ticks, gate.promise);
    chain.launchBatch(claimOf(ticks, fake.log), PLAN, [], () => undefined, () => fake.log.push('settled a'));
    chain.appendOutboxDrain((n) => fake.log.push(`drained ${n}`));
    chain.launchClosures(PLAN, (s) => fake.log.push(`closures settled, ${s.barsPublished} bars`));
    gate.resolve();
    await chain.finished();
    const order = fake.log.filter((l) => l.startsWith('settled') || l.startsWith('drain') || l.startsWith('closures'));
    expect(order).toEqual(['settled a', 'drain outbox', 'drained 2', 'closures settled, 0 bars']);
    expect(settled(), 'the batch and the grace closure; an outbox drain is no batch').toBe(2);
  });
});
