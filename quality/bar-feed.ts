import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { fromCallback } from 'xstate';
import type { Logger } from '../config/index.ts';
import type { BarRow } from '../market/index.ts';
import { barSchema, decodeJson, subjects, type BarSource } from '../streams/index.ts';

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
    const { venue, symbol } = input;
    const subject = subjects.bar1m(venue, symbol);
    const log = opts.log.child({ feed: subject });
    const batchMs = opts.batchMs ?? 50;
    const maxBatch = opts.maxBatch ?? 1_000;
    let batch: FeedBar[] = [];
    let timer: NodeJS.Timeout | undefined;
    let messages: ConsumerMessages | undefined;
    let stopped = false;

    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (batch.length === 0 || stopped) return;
      const bars = batch;
      batch = [];
      sendBack({ type: 'bars.closed', bars } satisfies BarsClosedEvent);
    };

    const run = async () => {
      const start = opts.start ?? 'new';
      const consumer = await opts.js.consumers.get('MD_BARS', {
        filter_subjects: subject,
        ...(start === 'new'
          ? { deliver_policy: DeliverPolicy.New }
          : start === 'all'
            ? { deliver_policy: DeliverPolicy.All }
            : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.time).toISOString() }),
      });
      if (stopped) return;
      messages = await consumer.consume({ max_messages: maxBatch });
      for await (const m of messages) {
        const decoded = decodeJson(barSchema, m.data, opts.maxPayloadBytes ?? 4_096);
        if (!decoded.ok) {
          log.warn({ reason: decoded.reason, issues: decoded.issues, seq: m.info.streamSequence }, 'invalid bar skipped');
          continue;
        }
        const b = decoded.value;
        if (b.venue !== venue || b.symbol !== symbol) continue;
        const bar: FeedBar = { ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source };
        if (b.trades !== undefined) bar.trades = b.trades;
        // The ingest path numbers corrections in this header: without it a correction looks like a duplicate.
        const revision = m.headers?.get('Signals-Revision');
        if (revision && /^\d{1,9}$/.test(revision)) bar.revision = Number(revision);
        if (opts.sequence === 'stream') bar.seq = m.info.streamSequence;
        batch.push(bar);
        if (batch.length >= maxBatch) flush();
        else timer ??= setTimeout(flush, batchMs);
      }
    };
    // The consumer can end (stream deleted, server gone for long): start it again
    // after a pause. Bars missed meanwhile show up as a time gap on the next bar.
    const loop = async () => {
      for (let attempt = 0; !stopped; attempt += 1) {
        try {
          await run();
          attempt = 0;
        } catch (err) {
          if (!stopped) log.warn({ err, attempt }, 'bar feed failed; restarting');
        }
        if (!stopped) await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** Math.min(attempt, 6))));
      }
    };
    void loop();

    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      void messages?.close();
    };
  });
}
