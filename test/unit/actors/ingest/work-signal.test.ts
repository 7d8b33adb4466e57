import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkSignal } from '../../../../actors/ingest/work-signal.ts';

describe('WorkSignal (how an idle tick loop sleeps)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Whether a promise has settled, without waiting for it. */
  async function isSettled(p: Promise<void>): Promise<boolean> {
    let settled = false;
    void p.then(() => (settled = true));
    await Promise.resolve();
    await Promise.resolve();
    return settled;
  }

  it('wakes by itself after the time given', async () => {
    const signal = new WorkSignal();
    const waiting = signal.wait(1_000);
    await vi.advanceTimersByTimeAsync(999);
    expect(await isSettled(waiting)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await isSettled(waiting)).toBe(true);
  });

  it('wakes at once when woken, and drops its timer', async () => {
    const signal = new WorkSignal();
    const waiting = signal.wait(60_000);
    signal.wake();
    expect(await isSettled(waiting), 'messages arrived or the loop stops: no need to sleep on').toBe(true);
    expect(vi.getTimerCount(), 'no timer left behind').toBe(0);
  });

  it('forgets a wake nobody waited for: the next wait sleeps its full time', async () => {
    const signal = new WorkSignal();
    signal.wake();
    const waiting = signal.wait(1_000);
    expect(await isSettled(waiting)).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await isSettled(waiting)).toBe(true);
  });
});
