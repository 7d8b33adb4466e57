import { afterEach, describe, expect, it, vi } from 'vitest';
import { StallWatch, type IngestStall, type WorkInHand } from '../../../../actors/ingest/stall-watchdog.ts';

const IDLE: WorkInHand = { bufferedMessages: 0, batchesInFlight: 0, screening: false };

/** A watch on a hand-moved clock, with the work in hand set by the test. */
function watchOn(stallMs = 30_000) {
  const clock = { now: 1_000_000 };
  const state = { work: IDLE };
  const stalls: IngestStall[] = [];
  const unstalls: number[] = [];
  const watch = new StallWatch({
    now: () => clock.now,
    stallMs,
    workInHand: () => state.work,
    onStalled: (s) => stalls.push(s),
    onUnstalled: (ms) => unstalls.push(ms),
  });
  return { watch, clock, state, stalls, unstalls };
}

describe('StallWatch (the ack floor is not moving while work waits)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports a stall once, with what waits, when work has waited stallMs since the last settlement', () => {
    const { watch, clock, state, stalls } = watchOn();
    state.work = { bufferedMessages: 5, batchesInFlight: 2, screening: false };
    clock.now += 29_999;
    watch.check();
    expect(stalls, 'not yet: just under stallMs').toEqual([]);
    clock.now += 1;
    watch.check();
    expect(stalls).toEqual([{ since: 1_000_000, bufferedMessages: 5, batchesInFlight: 2 }]);
    clock.now += 60_000;
    watch.check();
    expect(stalls, 'one report per stall, not one per look').toHaveLength(1);
  });

  it('reports the end of a stall, with its length, when a batch settles', () => {
    const { watch, clock, state, stalls, unstalls } = watchOn(1_000);
    state.work = { ...IDLE, batchesInFlight: 1 };
    clock.now += 1_500;
    watch.check();
    expect(stalls).toHaveLength(1);
    clock.now += 2_500;
    watch.settled();
    expect(unstalls, 'from the last settlement before the stall to this one').toEqual([4_000]);
    watch.settled();
    expect(unstalls, 'a settlement while moving reports nothing').toHaveLength(1);
  });

  it('never counts idle time: a loop with nothing in hand is not stalled however long it waits', () => {
    const { watch, clock, state, stalls } = watchOn(1_000);
    clock.now += 3_600_000;
    watch.check();
    state.work = { ...IDLE, bufferedMessages: 1 };
    clock.now += 999;
    watch.check();
    expect(stalls, 'the clock starts when the work arrives, not at the last settlement an hour ago').toEqual([]);
  });

  it('counts a batch being screened as work in hand', () => {
    const { watch, clock, state, stalls } = watchOn(1_000);
    state.work = { ...IDLE, screening: true };
    clock.now += 1_000;
    watch.check();
    expect(stalls).toHaveLength(1);
  });

  it('looks on its own once started, and no longer once stopped', () => {
    vi.useFakeTimers();
    const { watch, clock, state, stalls } = watchOn(1_000);
    state.work = { ...IDLE, bufferedMessages: 1 };
    watch.start();
    clock.now += 1_000;
    vi.advanceTimersByTime(1_000);
    expect(stalls).toHaveLength(1);
    watch.settled();
    watch.stop();
    clock.now += 10_000;
    vi.advanceTimersByTime(10_000);
    expect(stalls, 'stopped: no second report').toHaveLength(1);
  });
});
