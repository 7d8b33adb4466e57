import type { Bar, WorkClaims } from '../../streams/index.ts';

/** Prefix of the work-claim keys of predictions (other claims share the bucket). */
const PREDICTION_CLAIM_PREFIX = 'pred.';

/**
 * Scale-out: a process must have been seen alive for this many claim TTLs before symbols are handed
 * over to it (rebalancing onto a process that joined later; a flapping process gets nothing).
 */
export const REBALANCE_STABLE_TTLS = 3;

/** The work-claim key of a symbol's predictions. */
export function predictionClaimKey(venue: string, symbol: string): string {
  return `${PREDICTION_CLAIM_PREFIX}${venue}.${symbol}`;
}

/** What the predictor needs of the work claims (`WorkClaims` fits). */
export type PredictionClaims = Pick<
  WorkClaims,
  'token' | 'knows' | 'owns' | 'preferredOwner' | 'observe' | 'claim' | 'listen' | 'ownedKeys' | 'misplaced' | 'handOff'
>;

/** A symbol just acquired, whose bars since its last stored prediction are predicted before its live ones. */
export type PendingCatchUp = {
  venue: string;
  symbol: string;
  /** Its first bar seen while it was left to another process: the start when no prediction of it is stored. */
  deferredFrom: number | undefined;
  /** Open time of its first live bar in this batch, if any: the catch-up ends before it. */
  firstLiveTs: number | undefined;
};

/** Reads the bars of one catch-up (none when there is nothing to catch up on). */
export type CatchUpReader = (pending: PendingCatchUp) => Promise<readonly Bar[]>;

export type PredictorOwnershipOptions = {
  /** A new symbol is left to its preferred (other) process for this long before this one claims it. */
  claimTtlMs: number;
  now?: () => number;
};

/**
 * Scale-out bookkeeping of one predictor: which symbols it predicts (claiming
 * those seen for the first time, or leaving them to their preferred process for
 * a while), which of those acquired still have to be caught up, and the hand-over
 * of symbols to the processes that should have them.
 */
export class PredictorOwnership {
  /** Claim keys acquired whose bars since the last stored prediction are still to be predicted. */
  private readonly catchUp = new Set<string>();
  /** New symbols left to other processes for a while: when first seen, and their first bar seen. */
  private readonly deferred = new Map<string, { at: number; fromTs: number }>();
  /** Symbols claimed after a deferral: catch up from this bar when no prediction is stored yet. */
  private readonly catchUpFrom = new Map<string, number>();
  /** Symbols being handed over to another process right now: not predicted here any more. */
  private readonly leaving = new Set<string>();
  /** Fast-lane publications not finished yet (a symbol is handed over only when none is in flight). */
  private laneInFlight = 0;
  private readonly now: () => number;

  constructor(
    private readonly claims: PredictionClaims,
    private readonly options: PredictorOwnershipOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Follows the symbols acquired and lost, and marks every symbol owned now for
   * catch-up: after a (re)start each one checks for bars missed while no consumer ran.
   * Returns the function that stops following.
   */
  watch(): () => void {
    const unlisten = this.claims.listen({
      onAcquired: (key) => {
        if (key.startsWith(PREDICTION_CLAIM_PREFIX)) this.catchUp.add(key);
      },
      onLost: (key) => this.catchUp.delete(key),
    });
    for (const key of this.ownedPredictionKeys()) this.catchUp.add(key);
    return unlisten;
  }

  /** True while some symbol acquired has not been caught up yet. */
  get catchUpPending(): boolean {
    return this.catchUp.size > 0;
  }

  /**
   * The bars this process predicts (those of symbols it owns, claiming symbols
   * seen for the first time), preceded by the catch-up bars of symbols just
   * acquired (read by `read`). `caughtUp` goes to `caughtUpDone` once stored.
   */
  async ownedBars(bars: readonly Bar[], read: CatchUpReader): Promise<{ bars: Bar[]; caughtUp: string[] }> {
    const mine = await this.claimOwned(bars);
    const { extra, caughtUp } = await this.catchUps(mine, read);
    return { bars: [...extra, ...mine], caughtUp };
  }

  /** The catch-ups of `keys` are stored. Only then: a retried batch computes its catch-up again. */
  caughtUpDone(keys: readonly string[]): void {
    for (const key of keys) {
      this.catchUp.delete(key);
      this.catchUpFrom.delete(key);
    }
  }

  /** Whether a bar of the symbol may be predicted on the fast lane (owned, caught up, and staying). */
  accepts(venue: string, symbol: string): boolean {
    const key = predictionClaimKey(venue, symbol);
    return this.claims.owns(key) && !this.catchUp.has(key) && !this.leaving.has(key);
  }

  /** Runs a fast-lane publication, so that no symbol is handed over while it is in flight. */
  async lanePublication<T>(publish: () => Promise<T>): Promise<T> {
    this.laneInFlight += 1;
    try {
      return await publish();
    } finally {
      this.laneInFlight -= 1;
    }
  }

  /**
   * Hands the symbols whose preferred owner is another process that has been up
   * for a while over to it, one at a time, while no fast-lane publication is in
   * flight. Returns how many were handed over.
   */
  async rebalance(): Promise<number> {
    const moves = this.claims.misplaced(PREDICTION_CLAIM_PREFIX, REBALANCE_STABLE_TTLS * this.options.claimTtlMs);
    let handed = 0;
    for (const { key, to } of moves) {
      if (this.laneInFlight > 0) break;
      this.leaving.add(key);
      try {
        if (await this.claims.handOff(key, to)) handed += 1;
      } finally {
        this.leaving.delete(key);
      }
    }
    return handed;
  }

  /** The prediction claims this process holds. */
  ownedPredictionKeys(): string[] {
    return this.claims.ownedKeys().filter((k) => k.startsWith(PREDICTION_CLAIM_PREFIX));
  }

  /** The bars of symbols this process owns, after claiming (or deferring) symbols nobody holds yet. */
  private async claimOwned(bars: readonly Bar[]): Promise<Bar[]> {
    const mine: Bar[] = [];
    for (const b of bars) {
      const key = predictionClaimKey(b.venue, b.symbol);
      if (!this.claims.knows(key)) await this.claimOrDefer(key, b);
      if (this.claims.owns(key)) mine.push(b);
    }
    return mine;
  }

  private async claimOrDefer(key: string, bar: Bar): Promise<void> {
    const d = this.deferred.get(key);
    if (!d && this.claims.preferredOwner(key) !== this.claims.token) {
      // A new symbol that hashes to another live process (rendezvous hashing over the presence claims) is
      // left to it for up to the claim TTL (then this process claims it and catches up on the bars in between),
      // unless one has it already (then it is watched).
      if (await this.claims.observe(key)) this.deferred.set(key, { at: this.now(), fromTs: bar.ts });
    } else if (!d || this.now() - d.at >= this.options.claimTtlMs) {
      this.deferred.delete(key);
      if (d) this.catchUpFrom.set(key, d.fromTs);
      if (!(await this.claims.claim(key))) this.catchUpFrom.delete(key);
    }
  }

  /** The catch-up bars of the symbols acquired and still owned (a symbol lost meanwhile is forgotten). */
  private async catchUps(mine: readonly Bar[], read: CatchUpReader): Promise<{ extra: Bar[]; caughtUp: string[] }> {
    const extra: Bar[] = [];
    const caughtUp: string[] = [];
    for (const key of [...this.catchUp]) {
      if (!this.claims.owns(key)) {
        this.catchUp.delete(key);
        continue;
      }
      const [, venue = '', symbol = ''] = key.split('.');
      caughtUp.push(key);
      const firstLive = mine.find((b) => b.venue === venue && b.symbol === symbol);
      extra.push(...(await read({ venue, symbol, deferredFrom: this.catchUpFrom.get(key), firstLiveTs: firstLive?.ts })));
    }
    return { extra, caughtUp };
  }
}
