import type { NatsConnection } from '@nats-io/transport-node';
import { createActor, waitFor, type ActorRefFrom } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import type { CalendarSpec, HistoryProvider } from './index.ts';
import type { Db } from '../../sql/index.ts';
import { dataSyncMachine, type DataSyncStats } from './data-sync.machine.ts';
import { createDataSyncActors, type DeliveryKind, type SyncedBar } from './data-sync.effects.ts';

export type DataSyncOptions = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  provider?: HistoryProvider;
  venue: string;
  symbol: string;
  /**
   * Called for every bar of the synchronised series, in order: history up to the
   * watermark, then live. `kind` says whether it is the next bar, a correction of
   * one already delivered (same ts, newer revision: replace it), or a late bar for a
   * hole. Must not throw (an error is logged and the series goes on).
   */
  onBar(bar: SyncedBar, info: { kind: DeliveryKind; phase: 'history' | 'live' }): void;
  /** First bar time wanted (default: 24 h before now). */
  since?: number;
  calendar?: CalendarSpec;
  /** Store bars the provider supplied in bars_1m (default false). */
  storeFetched?: boolean;
};

export type DataSyncHandle = {
  actor: ActorRefFrom<typeof dataSyncMachine>;
  /** Resolves with the handoff watermark once the series is live (history delivered, buffer merged). */
  ready(timeoutMs?: number): Promise<number | undefined>;
  status(): { state: string; watermark: number | undefined; handoffAt: number | undefined; stats: DataSyncStats; lastError: string | undefined };
  stop(): Promise<void>;
};

/**
 * Starts a data synchroniser for one venue/symbol: the series `onBar` sees has no
 * gap and no duplicate across the history-to-live handoff. Adding a symbol is
 * starting another one.
 */
export function startDataSync(opts: DataSyncOptions): DataSyncHandle {
  const log = opts.log.child({ actor: 'dataSync', venue: opts.venue, symbol: opts.symbol });
  const actors = createDataSyncActors({
    nc: opts.nc,
    db: opts.db,
    log: opts.log,
    maxPayloadBytes: opts.settings.MAX_PAYLOAD_BYTES,
    ...(opts.provider ? { provider: opts.provider } : {}),
    ...(opts.storeFetched !== undefined ? { storeFetched: opts.storeFetched } : {}),
  });
  const actor = createActor(dataSyncMachine.provide({ actors }), {
    input: {
      venue: opts.venue,
      symbol: opts.symbol,
      since: opts.since ?? Math.floor(Date.now() / 60_000) * 60_000 - 86_400_000,
      retryMinMs: opts.settings.RETRY_MIN_MS,
      retryMaxMs: opts.settings.RETRY_MAX_MS,
      ...(opts.calendar ? { calendar: opts.calendar } : {}),
    },
  });
  actor.on('sync.bars', (e) => {
    for (const d of e.deliveries) {
      try {
        opts.onBar(d.bar, { kind: d.kind, phase: e.phase });
      } catch (err) {
        log.error({ err, ts: d.bar.ts }, 'onBar threw; bar skipped by the consumer');
      }
    }
  });
  let wentLive = false;
  actor.subscribe((s) => {
    if (!wentLive && s.matches({ syncing: 'live' })) {
      wentLive = true;
      log.info({ watermark: s.context.handoffAt, stats: s.context.stats }, 'history delivered; live');
    }
  });
  actor.start();
  return {
    actor,
    async ready(timeoutMs = 30_000) {
      const s = await waitFor(actor, (snap) => snap.matches({ syncing: 'live' }), { timeout: timeoutMs });
      return s.context.handoffAt;
    },
    status() {
      const s = actor.getSnapshot();
      return {
        state: JSON.stringify(s.value),
        watermark: s.context.merge.watermark,
        handoffAt: s.context.handoffAt,
        stats: s.context.stats,
        lastError: s.context.lastError,
      };
    },
    async stop() {
      actor.send({ type: 'sync.stop' });
      await waitFor(actor, (s) => s.status === 'done', { timeout: 10_000 });
    },
  };
}
