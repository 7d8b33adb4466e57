import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { firstUnseen, sortBatch, takeFromLane, type LaneRecord } from '../../../../actors/prediction/predictor-batch.ts';
import { ORIGIN_HEADER, type Bar, type PulledMsg } from '../../../../streams/index.ts';

const T = 1_700_000_040_000;
const bar = (symbol: string, ts: number, close = 100): Bar => ({ venue: 'v', symbol, interval: '1m', ts, open: 100, high: 101, low: 99, close, volume: 5, source: 'live' });

function msg(subject: string, payload: unknown, origin?: string): PulledMsg {
  const h = origin === undefined ? undefined : headers();
  if (origin !== undefined) h?.set(ORIGIN_HEADER, origin);
  return {
    subject,
    data: new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)),
    headers: h,
    info: { stream: 'MD_BARS', consumer: 'predictor', deliveryCount: 1, streamSequence: 1, deliverySequence: 1, pending: 0 },
    ack: () => undefined,
    term: () => undefined,
    working: () => undefined,
    nak: () => undefined,
  };
}

describe('sortBatch', () => {
  it('keeps valid bars, marks those not from marketSync as external, and rejects the rest with a reason', () => {
    const own = msg('md.bar.1m.v.A', bar('A', T), 'market-sync');
    const feed = msg('md.bar.1m.v.B', bar('B', T));
    const mismatch = msg('md.bar.1m.v.C', bar('A', T), 'market-sync');
    const garbage = msg('md.bar.1m.v.A', '{oops');
    const sorted = sortBatch([own, feed, mismatch, garbage], 1_000_000);
    expect(sorted.valid, 'the messages to ack').toEqual([own, feed]);
    expect(sorted.bars.map((b) => b.symbol)).toEqual(['A', 'B']);
    expect(sorted.external.map((b) => b.symbol), 'only the external feed is stored here').toEqual(['B']);
    expect(sorted.rejected.map((r) => [r.msg, r.failure.reason])).toEqual([
      [mismatch, 'subject_mismatch'],
      [garbage, expect.any(String)],
    ]);
  });

  it('rejects a bar larger than the payload limit', () => {
    const sorted = sortBatch([msg('md.bar.1m.v.A', bar('A', T))], 10);
    expect(sorted.valid).toEqual([]);
    expect(sorted.rejected[0]?.failure.reason).toBe('oversized');
  });
});

describe('firstUnseen', () => {
  it('gives the first bar of each symbol the engine does not know, in order', () => {
    const bars = [bar('A', T), bar('B', T), bar('A', T + 60_000), bar('C', T), bar('B', T + 60_000)];
    const first = firstUnseen(bars, (_venue, symbol) => symbol === 'B');
    expect(first).toEqual([bars[0], bars[3]]);
  });
});

describe('takeFromLane', () => {
  it('steps only the bars the fast lane did not, and reports the lane bars that differ from the stored ones', () => {
    const lane = new Map<number, LaneRecord>();
    const record = (b: Bar): LaneRecord => ({ bar: b, outputs: [], published: Promise.resolve(true) });
    lane.set(T, record(bar('A', T)));
    lane.set(T + 60_000, record(bar('A', T + 60_000, 100.5)));
    const bars = [bar('A', T), bar('A', T + 60_000), bar('A', T + 120_000)];
    const r = takeFromLane(bars, { take: (b) => lane.get(b.ts) });
    expect(r.fresh, 'only the bar the lane never saw').toEqual([bars[2]]);
    expect(r.fromLane.map((h) => h.bar.ts)).toEqual([T, T + 60_000]);
    expect(r.mismatches, 'the close differs').toEqual([{ lane: bar('A', T + 60_000, 100.5), stored: bars[1] }]);
  });

  it('steps every bar without a fast lane', () => {
    const bars = [bar('A', T), bar('B', T)];
    expect(takeFromLane(bars, undefined)).toEqual({ fresh: bars, fromLane: [], mismatches: [] });
  });
});
