import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Event-loop delay of the last full window (ms). */
export type EventLoopDelay = { p50Ms: number; p99Ms: number; maxMs: number; windowMs: number; at: number };

/**
 * Watches the event loop of this process (perf_hooks.monitorEventLoopDelay) in
 * rolling windows: `last()` is the delay of the most recent full window, so a
 * long stall shows for one window and then goes, instead of being averaged into
 * the whole run. Ticks, bars and predictions share this loop: its p99 is what a
 * bar close waits for before its prediction can be computed.
 */
export class EventLoopWatch {
  private readonly histogram: IntervalHistogram;
  private timer: NodeJS.Timeout | undefined;
  private lastWindow: EventLoopDelay | undefined;
  private windowStart = Date.now();

  constructor(private readonly windowMs = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
  }

  start(): this {
    if (this.timer) return this;
    this.histogram.enable();
    this.windowStart = Date.now();
    this.timer = setInterval(() => this.rotate(), this.windowMs);
    this.timer.unref();
    return this;
  }

  /** Closes the current window (also what the interval does). */
  rotate(): EventLoopDelay {
    const h = this.histogram;
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    const now = Date.now();
    this.lastWindow = { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), windowMs: now - this.windowStart, at: now };
    h.reset();
    this.windowStart = now;
    return this.lastWindow;
  }

  /** The last full window, or the current partial one before the first window closed. */
  last(): EventLoopDelay {
    if (this.lastWindow) return this.lastWindow;
    const h = this.histogram;
    const ms = (ns: number) => (Number.isFinite(ns) && h.count > 0 ? ns / 1e6 : 0);
    return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), windowMs: Date.now() - this.windowStart, at: Date.now() };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.histogram.disable();
  }
}
