/** A stall of the ingest: since when nothing was settled, and what waits. */
export type IngestStall = { since: number; bufferedMessages: number; batchesInFlight: number };

/** The work a tick loop has in hand, as the watchdog sees it. */
export type WorkInHand = { bufferedMessages: number; batchesInFlight: number; screening: boolean };

export type StallWatchOptions = {
  now: () => number;
  /** No batch settled for this long while work is in hand is a stall. */
  stallMs: number;
  workInHand: () => WorkInHand;
  onStalled?: (stall: IngestStall) => void;
  onUnstalled?: (stalledMs: number) => void;
};

/** How often the stall watchdog looks. */
const STALL_CHECK_MS = 1_000;

/**
 * The stall watchdog of one tick loop: work in hand (buffered, being screened or in
 * flight) and no batch settled for `stallMs` means the ack floor is stuck, whatever
 * the reason; it says so once, and again when a batch settles. Retries already report
 * `degraded`; this also catches a wait nobody retries. Idle time is no stall: while
 * nothing is in hand, the clock of the last settlement moves along.
 */
export class StallWatch {
  private lastSettled: number;
  /** When the current stall began (the last settlement before it); none = moving. */
  private stalledSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StallWatchOptions) {
    this.lastSettled = opts.now();
  }

  /** Looks every second (or every `stallMs`, if shorter) until `stop`; never keeps the process alive. */
  start(): void {
    this.timer = setInterval(() => this.check(), Math.min(STALL_CHECK_MS, this.opts.stallMs));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look: reports a stall when work has waited `stallMs` since the last settlement. */
  check(): void {
    const work = this.opts.workInHand();
    const working = work.bufferedMessages > 0 || work.batchesInFlight > 0 || work.screening;
    if (!working) this.lastSettled = this.opts.now();
    else if (this.stalledSince === undefined && this.opts.now() - this.lastSettled >= this.opts.stallMs) {
      this.stalledSince = this.lastSettled;
      this.opts.onStalled?.({ since: this.lastSettled, bufferedMessages: work.bufferedMessages, batchesInFlight: work.batchesInFlight });
    }
  }

  /** A batch was settled (stored, published, acked): the ack floor moved. */
  settled(): void {
    this.lastSettled = this.opts.now();
    if (this.stalledSince !== undefined) {
      const ms = this.lastSettled - this.stalledSince;
      this.stalledSince = undefined;
      this.opts.onUnstalled?.(ms);
    }
  }
}
