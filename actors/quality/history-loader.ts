import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../../config/index.ts';
import { readBars, type Db } from '../../sql/index.ts';
import type { CalendarMap } from './calendar.ts';
import { startDataSync } from './data-sync.ts';
import type { HistoryProvider } from './history-provider.ts';

/** One symbol's history load, as `status()` shows it. */
export type HistoryLoad = {
  venue: string;
  symbol: string;
  state: 'queued' | 'loading' | 'done' | 'failed';
  /** First bar time asked for. */
  from: number;
  /** The symbol's first live bar. */
  firstLiveTs: number;
  /** The oldest bar of the joined series (the history found), once done. */
  firstBarTs?: number;
  /** The handoff: the newest bar of the joined series when it went live. */
  watermark?: number;
  /** Bars of the joined series up to the handoff (stored history and the live bars so far). */
  historyBars?: number;
  ms?: number;
  error?: string;
};

export type HistoryLoaderDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  provider: HistoryProvider;
  /** Days of history before a symbol's first bar. */
  days: number;
  calendars?: CalendarMap;
  /** Called once a symbol's history is stored and joined to its live bars. */
  onLoaded?: (load: HistoryLoad) => void;
  /** Longest wait for one symbol's synchroniser to go live (ms). */
  timeoutMs?: number;
};

export type HistoryLoaderHandle = {
  /** Loads the history of a symbol seen for the first time (its first bar's open time). */
  add(venue: string, symbol: string, firstTs: number): void;
  status(): HistoryLoad[];
  /** Resolves when nothing is queued or loading. */
  idle(): Promise<void>;
  stop(): Promise<void>;
};

const DAY_MS = 86_400_000;

/**
 * Phase 2's history-to-live handoff: when a symbol appears, a data synchroniser
 * loads its history (the days before its first bar, from the configured sources,
 * for what the database lacks), stores it in bars_1m and joins it to the live bars
 * with no gap and no duplicate; then it stops, and the symbol goes on live. One
 * symbol at a time, so a burst of new symbols does not flood the sources. What no
 * source has stays a gap (the backfill records it `unfillable`).
 */
export function startHistoryLoader(deps: HistoryLoaderDeps): HistoryLoaderHandle {
  const log = deps.log.child({ actor: 'historyLoader' });
  const loads = new Map<string, HistoryLoad>();
  const queue: HistoryLoad[] = [];
  let running: Promise<void> | undefined;
  let stopped = false;
  let current: { stop(): Promise<void> } | undefined;

  async function loadOne(load: HistoryLoad): Promise<void> {
    load.state = 'loading';
    const started = Date.now();
    const sync = startDataSync({
      nc: deps.nc,
      db: deps.db,
      settings: deps.settings,
      log: deps.log,
      provider: deps.provider,
      venue: load.venue,
      symbol: load.symbol,
      since: load.from,
      storeFetched: true,
      ...(deps.calendars?.[load.venue] ? { calendar: deps.calendars[load.venue] } : {}),
      // The joined series is in bars_1m now; its consumers (the predictor's warm-up) read it from there.
      onBar: () => undefined,
    });
    current = sync;
    try {
      const watermark = await sync.ready(deps.timeoutMs ?? 120_000);
      const st = sync.status();
      load.state = 'done';
      if (watermark !== undefined) load.watermark = watermark;
      load.historyBars = st.stats.historyBars;
      const oldest = (await readBars(deps.db, load.venue, load.symbol, load.from, load.firstLiveTs))[0];
      if (oldest) load.firstBarTs = oldest.ts;
      load.ms = Date.now() - started;
      log.info({ venue: load.venue, symbol: load.symbol, from: new Date(load.from).toISOString(), bars: load.historyBars, ms: load.ms }, 'history joined to the live bars');
    } catch (err) {
      load.state = 'failed';
      load.error = err instanceof Error ? err.message : String(err);
      log.warn({ err, venue: load.venue, symbol: load.symbol }, 'history load failed; the backfill fills what it can');
    } finally {
      current = undefined;
      await sync.stop().catch((err: unknown) => log.warn({ err }, 'synchroniser did not stop cleanly'));
    }
    if (load.state === 'done') {
      try {
        deps.onLoaded?.(load);
      } catch (err) {
        log.error({ err, venue: load.venue, symbol: load.symbol }, 'onLoaded failed');
      }
    }
  }

  function pump(): void {
    if (running || stopped) return;
    running = (async () => {
      for (let next = queue.shift(); next && !stopped; next = queue.shift()) await loadOne(next);
    })().finally(() => {
      running = undefined;
      if (queue.length > 0 && !stopped) pump();
    });
  }

  return {
    add(venue, symbol, firstTs) {
      const key = `${venue}.${symbol}`;
      if (stopped || deps.days <= 0 || loads.has(key)) return;
      const load: HistoryLoad = { venue, symbol, state: 'queued', from: Math.floor(firstTs / 60_000) * 60_000 - deps.days * DAY_MS, firstLiveTs: firstTs };
      loads.set(key, load);
      queue.push(load);
      pump();
    },
    status: () => [...loads.values()].map((l) => ({ ...l })),
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      queue.length = 0;
      await current?.stop().catch(() => undefined);
      await running;
    },
  };
}
