import { describe, expect, it } from 'vitest';
import { barsOnlyOutcome, batchOutcome, messageOfTick, type ScreenedBatch } from '../../../../actors/ingest/batch-outcome.ts';
import type { PulledMsg, Tick } from '../../../../streams/index.ts';

const tick = (tradeId: string): Tick => ({ venue: 'v', symbol: 'S', ts: 1_700_000_000_000, price: 100, size: 1, tradeId });

const msg = (streamSequence: number, pending: number): PulledMsg => ({
  subject: 'md.tick.v.S',
  data: new Uint8Array(),
  headers: undefined,
  info: { stream: 'MD_TICKS', consumer: 'c', deliveryCount: 1, streamSequence, deliverySequence: streamSequence, pending },
  ack: () => undefined,
  term: () => undefined,
  working: () => undefined,
  nak: () => undefined,
});

/** A batch of three messages of which the second was malformed: two valid ticks, one dead letter. */
function batchWithOneMalformed() {
  const batch = [msg(11, 9), msg(12, 8), msg(13, 7)];
  const ticks = [tick('a'), tick('c')];
  const screened: ScreenedBatch = { ticks, valid: [batch[0]!, batch[2]!], invalid: 1 };
  return { batch, ticks, screened };
}

describe('messageOfTick (the message a set-aside tick is dead-lettered with)', () => {
  it('finds the message of each valid tick, skipping the malformed one between them', () => {
    const { batch, ticks, screened } = batchWithOneMalformed();
    const msgOf = messageOfTick(screened);
    expect(msgOf(ticks[0]!), 'first valid tick -> first message').toBe(batch[0]);
    expect(msgOf(ticks[1]!), 'second valid tick -> third message: the malformed second one has no tick').toBe(batch[2]);
  });

  it('matches by identity: an equal tick of another batch has no message here', () => {
    const { screened } = batchWithOneMalformed();
    expect(messageOfTick(screened)(tick('a'))).toBeUndefined();
  });
});

describe('batchOutcome (what a settled batch reports)', () => {
  it('counts every message once: stored, duplicates, and invalid from screening plus those the store set aside', () => {
    const { batch, screened } = batchWithOneMalformed();
    expect(batchOutcome(batch, screened, { stored: 2, barsPublished: 3, refused: 0, conflicts: 0 }, 1, 5)).toEqual({
      received: 3, stored: 2, duplicates: 0, invalid: 1, conflicts: 0, barsPublished: 3, lateBars: 1,
      pending: 7, lastStreamSeq: 13, durationMs: 5,
    });
    const out = batchOutcome(batch, screened, { stored: 0, barsPublished: 0, refused: 1, conflicts: 1 }, 0, 5);
    expect(out.invalid, 'the malformed message and the conflicting duplicate').toBe(2);
    expect(out.duplicates, 'the valid tick neither stored nor set aside was a plain duplicate').toBe(1);
    expect(out.conflicts).toBe(1);
    expect(out.received, 'received = stored + duplicates + invalid').toBe(out.stored + out.duplicates + out.invalid);
  });

  it('takes pending and the stream sequence from the last message, the one whose ack settles the batch', () => {
    const { screened } = batchWithOneMalformed();
    const out = batchOutcome([msg(40, 2), msg(41, 0)], screened, { stored: 2, barsPublished: 0, refused: 0, conflicts: 0 }, 0, 1);
    expect(out.lastStreamSeq).toBe(41);
    expect(out.pending, 'caught up').toBe(0);
  });

  it('reports an empty batch as zeros rather than failing', () => {
    const out = batchOutcome([], { ticks: [], valid: [], invalid: 0 }, { stored: 0, barsPublished: 0, refused: 0, conflicts: 0 }, 0, 1);
    expect(out).toMatchObject({ received: 0, pending: 0, lastStreamSeq: 0 });
  });
});

describe('barsOnlyOutcome (grace closures and outbox drains)', () => {
  it('reports only the bars published and the time taken, with no conflicts field', () => {
    const out = barsOnlyOutcome(4, 12);
    expect(out).toEqual({
      received: 0, stored: 0, duplicates: 0, invalid: 0, barsPublished: 4, lateBars: 0, pending: 0, lastStreamSeq: 0, durationMs: 12,
    });
    expect('conflicts' in out, 'absent means 0 (exactOptionalPropertyTypes)').toBe(false);
  });
});
