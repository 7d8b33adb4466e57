import type { Logger } from '../../config/index.ts';
import type { ModelRole } from '../prediction/index.ts';

/**
 * Automatic rollback: the confidence weigher scores every live model version as
 * its predictions are realised (a score in [0, 1], higher = better, e.g. its
 * rolling hit rate or blend weight). When the mean score of the active version
 * over the last `window` scores falls below `threshold`, the monitor asks for a
 * rollback once per version.
 */

/** One realised score of one model version for one symbol. */
export type LiveScore = {
  readonly venue: string;
  readonly symbol: string;
  readonly role: ModelRole;
  readonly version: string;
  /** Open time of the bar whose outcome produced the score. */
  readonly ts: number;
  readonly score: number;
};

/** Where scores come from (the confidence weigher, or a test). Returns an unsubscribe function. */
export interface LiveScoreFeed {
  subscribe(listener: (score: LiveScore) => void): () => void;
}

/** An in-process feed: whoever computes scores pushes them here. */
export class PushScoreFeed implements LiveScoreFeed {
  private readonly listeners = new Set<(s: LiveScore) => void>();
  subscribe(listener: (s: LiveScore) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  push(score: LiveScore): void {
    for (const l of this.listeners) l(score);
  }
}

export type AutoRollbackConfig = {
  /** Scores per version the mean is taken over (the window must be full before it can trigger). */
  window: number;
  /** Mean score below which the version is considered degraded. */
  threshold: number;
};

export const DEFAULT_AUTO_ROLLBACK: AutoRollbackConfig = { window: 50, threshold: 0.4 };

/** A degradation the monitor detected: what to roll back and why. */
export type Degradation = {
  venue: string;
  symbol: string;
  role: ModelRole;
  version: string;
  mean: number;
  window: number;
  threshold: number;
  /** performance.now() / Date.now() when detected: the rollback's "decision" time. */
  detectedAt: number;
};

/**
 * Watches scores and calls `onDegraded` once per degraded version. `isActive`
 * filters out scores of versions that are no longer active (late scores of a
 * replaced model must not roll back its successor).
 */
export class AutoRollbackMonitor {
  private readonly windows = new Map<string, { scores: Float64Array; next: number; count: number; sum: number }>();
  private readonly triggered = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  readonly config: AutoRollbackConfig;

  constructor(
    private readonly opts: {
      feed: LiveScoreFeed;
      config?: Partial<AutoRollbackConfig>;
      isActive?: (s: LiveScore) => boolean;
      onDegraded: (d: Degradation) => Promise<void>;
      log: Logger;
    },
  ) {
    this.config = { ...DEFAULT_AUTO_ROLLBACK, ...opts.config };
    if (!(Number.isInteger(this.config.window) && this.config.window >= 1)) throw new RangeError('auto-rollback window must be an integer >= 1');
  }

  start(): void {
    this.unsubscribe ??= this.opts.feed.subscribe((s) => this.observe(s));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Mean of a version's current window (undefined until it holds a score). */
  mean(venue: string, symbol: string, role: ModelRole, version: string): number | undefined {
    const w = this.windows.get(`${venue}.${symbol}|${role}|${version}`);
    return w && w.count > 0 ? w.sum / w.count : undefined;
  }

  observe(s: LiveScore): void {
    if (!Number.isFinite(s.score)) return;
    if (this.opts.isActive && !this.opts.isActive(s)) return;
    const key = `${s.venue}.${s.symbol}|${s.role}|${s.version}`;
    if (this.triggered.has(key)) return;
    const n = this.config.window;
    let w = this.windows.get(key);
    if (!w) {
      w = { scores: new Float64Array(n), next: 0, count: 0, sum: 0 };
      this.windows.set(key, w);
    }
    if (w.count === n) w.sum -= w.scores[w.next] ?? 0;
    else w.count += 1;
    w.scores[w.next] = s.score;
    w.sum += s.score;
    w.next = (w.next + 1) % n;
    if (w.count < n) return;
    const mean = w.sum / n;
    if (mean >= this.config.threshold) return;
    this.triggered.add(key);
    const d: Degradation = { venue: s.venue, symbol: s.symbol, role: s.role, version: s.version, mean, window: n, threshold: this.config.threshold, detectedAt: Date.now() };
    this.opts.log.warn(d, 'live metrics degraded: rolling back');
    this.opts.onDegraded(d).catch((err: unknown) => {
      // Allow another attempt on the next score.
      this.triggered.delete(key);
      this.opts.log.error({ err, version: s.version }, 'automatic rollback failed');
    });
  }
}
