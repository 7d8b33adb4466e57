import { msgIds, subjects, type Bar } from '../streams/index.ts';
import type { TimedMessage } from '../streams/index.ts';
import { barToTicks } from './bar-to-ticks.ts';
import { synthBars, type SynthBar, type SynthOptions } from './synth.ts';
import type { BarRow } from './types.ts';

/** The four ticks of each bar on `md.tick.<venue>.<symbol>`, msg id `<venue>:<symbol>:<tradeId>`. */
export function tickMessages(venue: string, symbol: string, bar: BarRow, prevClose: number | undefined): TimedMessage[] {
  const subject = subjects.tick(venue, symbol);
  const ctx = prevClose === undefined ? { venue, symbol } : { venue, symbol, prevClose };
  return barToTicks(bar, ctx).map((tick) => ({
    subject,
    payload: tick,
    msgId: msgIds.tick(venue, symbol, tick.tradeId),
    ts: tick.ts,
  }));
}

/** One closed bar on `md.bar.1m.<venue>.<symbol>` with source 'replay', msg id `<venue>:<symbol>:<ts>`. */
export function barMessage(venue: string, symbol: string, bar: BarRow): TimedMessage {
  const payload: Bar = {
    venue,
    symbol,
    interval: '1m',
    ts: bar.ts,
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
    volume: bar.volume,
    source: 'replay',
  };
  if (bar.trades !== undefined) payload.trades = bar.trades;
  return { subject: subjects.bar1m(venue, symbol), payload, msgId: msgIds.bar(venue, symbol, bar.ts), ts: bar.ts };
}


/**
 * Every symbol's ticks in time order: per minute, the open ticks of all symbols,
 * then the second ticks of all, and so on (ticks are 15 s apart inside the minute).
 */
export function* interleavedSynthTicks(venue: string, opts: SynthOptions): Generator<TimedMessage> {
  const prevClose = new Map<string, number>();
  let minute: SynthBar[] = [];
  const flush = function* (): Generator<TimedMessage> {
    const perBar = minute.map((b) => tickMessages(venue, b.symbol, b, prevClose.get(b.symbol)));
    for (let k = 0; k < 4; k++) {
      for (const ticks of perBar) {
        const tick = ticks[k];
        if (tick) yield tick;
      }
    }
    for (const b of minute) prevClose.set(b.symbol, b.close);
    minute = [];
  };
  for (const bar of synthBars(opts)) {
    minute.push(bar);
    if (minute.length === opts.symbols) yield* flush();
  }
}

