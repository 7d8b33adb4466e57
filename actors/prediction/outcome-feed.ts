/**
 * Realised outcomes of served forecasts, one per symbol and bar: what each
 * component (by role and exact version) forecast for the bar that has now
 * closed, and the log return that happened. The predictor pushes them as it
 * scores its previous forecasts; the model lifecycle judges live skill from them.
 */
export type LiveOutcome = {
  readonly venue: string;
  readonly symbol: string;
  /** Open time of the bar whose close realised the outcome. */
  readonly ts: number;
  /** Realised 1-minute log return. */
  readonly actual: number;
  readonly components: readonly { readonly role: string; readonly version: string; readonly value: number; readonly pUp: number }[];
  /**
   * Forecasts of the same bar that served nothing (a rollout: the challenger in
   * shadow, or the champion beside a canary), scored on the same outcome.
   */
  readonly shadow?: readonly { readonly role: string; readonly version: string; readonly value: number; readonly pUp: number }[];
};

export interface OutcomeFeed {
  /** Returns the unsubscribe function. */
  subscribe(listener: (o: LiveOutcome) => void): () => void;
}

/** The in-process feed: the predictor of this process pushes, the lifecycle of this process listens. */
export class PushOutcomeFeed implements OutcomeFeed {
  private readonly listeners = new Set<(o: LiveOutcome) => void>();

  subscribe(listener: (o: LiveOutcome) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  push(o: LiveOutcome): void {
    for (const l of this.listeners) l(o);
  }
}
