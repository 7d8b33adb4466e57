import { fromCallback } from 'xstate';

/** The event a ticker sends: the current time, for silence checks and window flushes. */
export type ClockTickEvent = { type: 'clock.tick'; now: number };

/**
 * Callback actor logic that sends its parent `clock.tick` every `everyMs`. Machines
 * take time from these events rather than reading the clock, so tests drive time
 * by sending ticks.
 */
export function createTicker(everyMs: number, now: () => number = Date.now) {
  return fromCallback<{ type: 'ticker.stop' }>(({ sendBack }) => {
    const timer = setInterval(() => sendBack({ type: 'clock.tick', now: now() } satisfies ClockTickEvent), everyMs);
    return () => clearInterval(timer);
  });
}
