import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { fromCallback } from 'xstate';
import type { Logger } from '../../config/index.ts';
import type { BarRow } from '../../market/index.ts';
import { barRevision, followBars, type BarSource } from '../../streams/index.ts';
import { createTicker } from './ticker.ts';

/** A closed bar as the quality actors receive it. `seq` is set only when the feed's sequences are contiguous. */
export type FeedBar = Omit<BarRow, 'symbol'> & {
  source?: BarSource;
  revision?: number;
  seq?: number;
};

/** One batch of closed bars, in arrival order: the event a feed sends its parent machine. */
export type BarsClosedEvent = { type: 'bars.closed'; bars: FeedBar[] };

export type BarFeedOptions = {
  js: JetStreamClient;
  log: Logger;
  /** Where to start: only new bars (default), everything kept, or from a time. */
  start?: 'new' | 'all' | { time: number };
  /**
   * `stream`: pass each message's stream sequence as `seq`, for streams where the
   * subject's sequences are contiguous (a per-symbol bar stream). MD_BARS holds every
   * symbol, so its sequences jump between one symbol's bars: keep `none` (default).
   */
  sequence?: 'none' | 'stream';
  /** Longest wait before a partial batch is sent (ms). */
  batchMs?: number;
  maxBatch?: number;
  maxPayloadBytes?: number;
};

/** Which series a feed follows: the input of the callback actor. */
export type BarFeedInput = { venue: string; symbol: string };

/**
 * Callback actor logic that follows `md.bar.1m.<venue>.<symbol>` in MD_BARS with
 * an ordered consumer and sends its parent one `bars.closed` event per batch.
 * Invalid payloads are logged and skipped (the ingest path owns the dead-letter queue).
 */
export function createBarFeed(opts: BarFeedOptions) {
  return fromCallback<{ type: 'feed.stop' }, BarFeedInput>(({ sendBack, input }) => {
    const start = opts.start ?? 'new';
    // A consumer that ends is opened again from the same start: bars missed meanwhile show up as a time gap on the next bar.
    const follower = followBars<FeedBar>({
      js: opts.js,
      log: opts.log,
      venue: input.venue,
      symbol: input.symbol,
      start: () =>
        start === 'new'
          ? { deliver_policy: DeliverPolicy.New }
          : start === 'all'
            ? { deliver_policy: DeliverPolicy.All }
            : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.time).toISOString() },
      map: (b, m) => {
        const bar: FeedBar = { ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source };
        if (b.trades !== undefined) bar.trades = b.trades;
        // The ingest path numbers corrections in this header: without it a correction looks like a duplicate.
        const revision = barRevision(m);
        if (revision !== undefined) bar.revision = revision;
        if (opts.sequence === 'stream') bar.seq = m.info.streamSequence;
        return bar;
      },
      onBatch: (bars) => sendBack({ type: 'bars.closed', bars } satisfies BarsClosedEvent),
      batchMs: opts.batchMs ?? 50,
      maxBatch: opts.maxBatch ?? 1_000,
      maxPayloadBytes: opts.maxPayloadBytes ?? 4_096,
    });
    return () => follower.stop();
  });
}

/** How a quality actor receives bars and time (its deps' `feed`, `tickEveryMs`, `now`). */
export type BarInputOptions = {
  /** Follow `md.bar.1m.<venue>.<symbol>` (default: from new bars on). `false`: bars arrive as events only. */
  feed?: Omit<BarFeedOptions, 'js' | 'log'> | false;
  /** Send the machine `clock.tick` this often; 0 or unset = never (tests send ticks). */
  tickEveryMs?: number;
  now?: () => number;
};

/**
 * The `barFeed` and `ticker` actors of a quality machine. Switched off, each is a
 * callback that does nothing, so tests can send `bars.closed` and `clock.tick` by hand.
 */
export function createBarInputs(js: JetStreamClient, log: Logger, opts: BarInputOptions) {
  const barFeed = opts.feed === false ? fromCallback<{ type: 'feed.stop' }, BarFeedInput>(() => undefined) : createBarFeed({ js, log, ...opts.feed });
  const ticker =
    opts.tickEveryMs !== undefined && opts.tickEveryMs > 0 ? createTicker(opts.tickEveryMs, opts.now) : fromCallback<{ type: 'ticker.stop' }>(() => undefined);
  return { barFeed, ticker };
}
