import { SignalsError } from '../config/index.ts';

/** Exponential backoff with full jitter, capped: attempt 0 -> ~min, doubling up to max. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(minMs / 2 + random() * (ceiling - minMs / 2));
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export type RetryOptions = {
  minMs: number;
  maxMs: number;
  signal?: AbortSignal;
  /** Called before each wait; `attempt` starts at 0. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Called once the operation succeeds after at least one failure. */
  onRecovered?: (attempts: number) => void;
};

/** Thrown when a retry loop is aborted before it succeeded. */
export class AbortedError extends SignalsError {
  override readonly name = 'AbortedError';
  override readonly retryable = true;
}

/**
 * Runs `fn` until it succeeds, waiting with backoff between attempts. Never gives
 * up by itself (an outage is a degraded state, not a reason to drop data); stops
 * only when `signal` aborts, with an AbortedError.
 */
export async function retryForever<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new AbortedError('aborted while retrying');
    try {
      const value = await fn();
      if (attempt > 0) opts.onRecovered?.(attempt);
      return value;
    } catch (err) {
      const delay = backoffDelay(attempt, opts.minMs, opts.maxMs);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

/**
 * The wait between attempts of `publishReliably` (streams/), with this backoff:
 * resolves false once `signal` aborts, so a stopping caller is not held.
 */
export function retryWaiter(opts: Pick<RetryOptions, 'minMs' | 'maxMs' | 'signal'>): (err: unknown, attempt: number) => Promise<boolean> {
  return async (_err, attempt) => {
    if (opts.signal?.aborted) return false;
    await sleep(backoffDelay(attempt, opts.minMs, opts.maxMs), opts.signal);
    return !opts.signal?.aborted;
  };
}
