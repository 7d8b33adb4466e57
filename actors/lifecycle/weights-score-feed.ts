import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../config/index.ts';
import { blendWeightsSchema } from '../prediction/index.ts';
import { decodeJson } from '../../streams/index.ts';
import type { LiveScore, LiveScoreFeed } from './auto-rollback.ts';

/** `signal.weights.>` (the confidence weigher's output). */
export const WEIGHTS_WILDCARD = 'signal.weights.>';

/**
 * Live scores from the confidence weigher: every `signal.weights.<venue>.<symbol>`
 * message carries each component's decayed mean pUp log loss; the score is
 * exp(-meanLogLoss), the (geometric mean) probability the model gave the
 * direction that happened: 0.5 for a coin flip, lower when the model is
 * confidently wrong. Components not scored yet are skipped.
 */
export class WeightsScoreFeed implements LiveScoreFeed {
  private readonly listeners = new Set<(s: LiveScore) => void>();
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {}

  subscribe(listener: (s: LiveScore) => void): () => void {
    this.listeners.add(listener);
    this.sub ??= this.nc.subscribe(WEIGHTS_WILDCARD, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err }, 'weights subscription error');
          return;
        }
        const r = decodeJson(blendWeightsSchema, msg.data, 1_048_576);
        if (!r.ok) return;
        const w = r.value;
        for (const c of w.components) {
          if (c.meanLogLoss === null || (c.role !== 'pretrained' && c.role !== 'online')) continue;
          const score: LiveScore = { venue: w.venue, symbol: w.symbol, role: c.role, version: c.version, ts: w.ts, score: Math.exp(-c.meanLogLoss) };
          for (const l of this.listeners) l(score);
        }
      },
    });
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        this.sub?.unsubscribe();
        this.sub = undefined;
      }
    };
  }
}
