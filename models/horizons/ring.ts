/** Fixed-capacity FIFO of numbers on a typed array: O(1) push, the oldest value overwritten once full. */
export class Ring {
  private readonly buf: Float64Array;
  private next = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.buf = new Float64Array(capacity);
  }

  /** Adds a value; returns the one it displaced (undefined while not full). */
  push(v: number): number | undefined {
    const old = this.size === this.capacity ? this.buf[this.next] : undefined;
    this.buf[this.next] = v;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.capacity, this.size + 1);
    return old;
  }

  /** Value k of those held, in storage order (not time order: every caller here only sums or sorts). */
  at(k: number): number {
    return this.buf[k] ?? 0;
  }

  /** A copy of the values held (storage order). */
  values(): Float64Array {
    return this.buf.slice(0, this.size);
  }
}
