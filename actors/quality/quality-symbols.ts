import { waitFor } from 'xstate';
import { barRevision, type PulledMsg } from '../../streams/index.ts';
import type { FeedBar } from './bar-feed.ts';
import { validateBar } from './bar-validation.ts';
import type { QualityBoard } from './quality-board.ts';
import {
  backfillSettled,
  consistencyIdle,
  startSymbolQuality,
  symbolStatus,
  takeBars,
  tickSymbol,
  type SymbolQuality,
  type SymbolQualityEnv,
  type SymbolQualityStatus,
} from './symbol-quality.ts';

/** One symbol's bars of a batch, in arrival order. */
export type SymbolBars = { venue: string; symbol: string; bars: FeedBar[] };

/**
 * Validates a batch of MD_BARS messages and groups its bars by `venue.symbol`, in
 * order of each symbol's first bar. `invalid` counts the messages that failed
 * validation: the bar consumers of the ingest path dead-letter them; here they are
 * only skipped.
 */
export function groupBarsBySymbol(
  batch: readonly Pick<PulledMsg, 'subject' | 'data' | 'headers'>[],
  maxPayloadBytes: number,
): { groups: Map<string, SymbolBars>; invalid: number } {
  const groups = new Map<string, SymbolBars>();
  let invalid = 0;
  for (const msg of batch) {
    const r = validateBar(msg.subject, msg.data, maxPayloadBytes);
    if (!r.ok) {
      invalid += 1;
      continue;
    }
    const b = r.value;
    const key = `${b.venue}.${b.symbol}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { venue: b.venue, symbol: b.symbol, bars: [] }));
    const bar: FeedBar = {
      ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source,
      revision: barRevision(msg) ?? 0,
    };
    if (b.trades !== undefined) bar.trades = b.trades;
    group.bars.push(bar);
  }
  return { groups, invalid };
}

/** The symbols of one quality supervisor: each one's actors, spawned on its first bar. */
export class QualitySymbols {
  private readonly entries = new Map<string, SymbolQuality>();
  /** Messages skipped as invalid bars (see `groupBarsBySymbol`). */
  invalid = 0;

  constructor(
    private readonly env: SymbolQualityEnv,
    private readonly board: QualityBoard,
    private readonly maxPayloadBytes: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Hands a batch's bars to their symbols' actors, starting the actors of a symbol seen for the first time. */
  take(batch: readonly PulledMsg[]): void {
    const { groups, invalid } = groupBarsBySymbol(batch, this.maxPayloadBytes);
    this.invalid += invalid;
    for (const [key, g] of groups) {
      let e = this.entries.get(key);
      if (!e) this.entries.set(key, (e = startSymbolQuality(this.env, g.venue, g.symbol, g.bars[0]?.ts ?? 0)));
      takeBars(e, g.bars);
    }
  }

  tick(now: number): void {
    for (const e of this.entries.values()) tickSymbol(e, this.env.settings, now);
  }

  status(): SymbolQualityStatus[] {
    return [...this.entries.values()].map((e) => symbolStatus(e, this.board));
  }

  scan(venue: string, symbol: string, from: number, to: number): boolean {
    const e = this.entries.get(`${venue}.${symbol}`);
    if (!e) return false;
    e.backfill.send({ type: 'scan.requested', from, to });
    return true;
  }

  /** Resolves once every backfill has nothing left to do and every unfillable gap reached its consistency actor. */
  async settled(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const list = [...this.entries.values()];
      const idle = () => list.every((e) => e.waiting.backfill.length === 0 && backfillSettled(e.backfill));
      if (idle()) {
        await Promise.all(list.map((e) => e.forwarding));
        if (idle()) return;
      }
      if (Date.now() > end) throw new Error(`quality supervisor: backfills not settled after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Closes and reports every open consistency window, whatever its bars' age; failures to do so in time are logged. */
  async flushWindows(timeoutMs: number): Promise<void> {
    const log = this.env.log;
    // A consistency actor still resuming its state ignores clock ticks and has its bars waiting here:
    // let it run and take them before the final tick, or its last windows would never be reported.
    await Promise.all(
      [...this.entries.values()].map((e) =>
        waitFor(e.consistency, (s) => s.status !== 'active' || (s.matches('running') && e.waiting.consistency.length === 0), { timeout: timeoutMs }).catch(
          (err: unknown) => log.warn({ err, venue: e.venue, symbol: e.symbol }, 'consistency actor not running before stop'),
        ),
      ),
    );
    for (const e of this.entries.values()) {
      // Closes the open window now, whatever its bars' age.
      e.consistency.send({ type: 'clock.tick', now: Number.MAX_SAFE_INTEGER });
    }
    await Promise.all(
      [...this.entries.values()].map((e) =>
        waitFor(e.consistency, () => consistencyIdle(e.consistency), { timeout: timeoutMs }).catch((err: unknown) =>
          log.warn({ err, venue: e.venue, symbol: e.symbol }, 'consistency window not flushed before stop'),
        ),
      ),
    );
  }

  /** Stops every symbol's actors. */
  stopActors(): void {
    for (const e of this.entries.values()) {
      e.backfill.send({ type: 'backfill.stop' });
      e.consistency.send({ type: 'consistency.stop' });
    }
  }
}
