/**
 * How an idle tick loop sleeps: `wait` resolves after `ms`, or sooner when `wake` is
 * called (messages arrived, the loop is stopping). A `wake` while nobody waits is
 * lost on purpose: the loop looks at its buffer and its stop flag before it waits.
 */
export class WorkSignal {
  private resolveWait: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.resolveWait = resolve;
      this.timer = setTimeout(() => this.wake(), ms);
    });
  }

  wake(): void {
    clearTimeout(this.timer);
    const resolve = this.resolveWait;
    this.resolveWait = undefined;
    resolve?.();
  }
}
