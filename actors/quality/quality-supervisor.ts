import type { Alerter } from '../../ops/index.ts';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../../config/index.ts';
import type { Db } from '../../sql/index.ts';
import { ensureDurable, startBatchConsumer, type BatchConsumerHandle } from '../../streams/index.ts';
import { backfillMachine } from './backfill.machine.ts';
import { createBackfillActors } from './backfill.effects.ts';
import type { CalendarMap } from './calendar.ts';
import { consistencyMachine } from './consistency.machine.ts';
import { createConsistencyActors } from './consistency.effects.ts';
import type { HistoryProvider } from './history-provider.ts';
import { QualityBoard } from './quality-board.ts';
import { parseQualitySettings, type QualitySettings } from './quality-settings.ts';
import { QualitySymbols } from './quality-symbols.ts';
import type { SymbolQualityEnv, SymbolQualityStatus } from './symbol-quality.ts';

export { historyFromSettings, parseQualitySettings, QualitySettingsError, type ExpectedStart, type QualitySettings } from './quality-settings.ts';
export type { SymbolQualityStatus } from './symbol-quality.ts';

export type QualitySupervisorDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  provider: HistoryProvider;
  /** Venue -> calendar; overrides `QUALITY_CALENDARS`. */
  calendars?: CalendarMap;
  /** Overrides of the quality settings of `settings` (tests, CLI flags). */
  quality?: Partial<QualitySettings>;
  /** Where the symbols' health is announced: the system passes the board its predictor reads (default: one of this supervisor's own). */
  board?: QualityBoard;
  /** `ops.alert.quarantined` / `degraded` / `recovered` on a symbol's health changes. */
  alert?: Alerter;
  /** A symbol's first bar in this process (its actors were just spawned): where its history is loaded from. */
  onNewSymbol?: (venue: string, symbol: string, firstTs: number) => void;
};

export type QualitySupervisorHandle = {
  status(): SymbolQualityStatus[];
  /** Asks a symbol's backfill to check [from, to] of its stored bars (an expected window: holes at its end too). */
  scan(venue: string, symbol: string, from: number, to: number): boolean;
  /** Resolves once every backfill has nothing left to do and every unfillable gap reached its consistency actor. */
  settled(timeoutMs?: number): Promise<void>;
  /** Stops consuming, lets the backfills settle, flushes the open consistency windows, then stops every actor. */
  stop(timeoutMs?: number): Promise<void>;
};

/** The backfill and consistency machines with their effects: no feed of their own (the supervisor feeds them) and no timer (its clock ticks them). */
function provideMachines(deps: QualitySupervisorDeps, js: JetStreamClient, board: QualityBoard): Pick<SymbolQualityEnv, 'backfill' | 'consistency'> {
  const backfillActors = createBackfillActors({
    db: deps.db, js, provider: deps.provider, log: deps.log, feed: false, tickEveryMs: 0, resumeFromLastBar: false,
  });
  const consistencyActors = createConsistencyActors({ db: deps.db, js, log: deps.log, board, feed: false, tickEveryMs: 0, ...(deps.alert ? { alert: deps.alert } : {}) });
  return {
    backfill: backfillMachine.provide({ actors: backfillActors }),
    consistency: consistencyMachine.provide({ actors: consistencyActors }),
  };
}

/** Stops consuming, lets the backfills settle, flushes the open consistency windows, then stops every actor. */
async function stopQuality(consumer: BatchConsumerHandle, clock: NodeJS.Timeout, symbols: QualitySymbols, log: Logger, timeoutMs: number): Promise<void> {
  await consumer.stop();
  clearInterval(clock);
  try {
    await symbols.settled(timeoutMs);
  } catch (err) {
    log.warn({ err }, 'stopping with backfill work left (open gaps stay in data_gaps for the next run)');
  }
  await symbols.flushWindows(timeoutMs);
  symbols.stopActors();
  log.info({ symbols: symbols.size, invalid: symbols.invalid }, 'quality supervisor stopped');
}

/**
 * The quality supervisor: ONE durable consumer on MD_BARS (no subject filter: with
 * nats-server 2.9 filtered consumers are slow, see streams/topology.ts) feeding,
 * per venue/symbol, one backfill and one consistency actor, spawned when the
 * symbol's first bar arrives. Bars are handed to the actors in batches and acked
 * once handed over (the actors' own state: gaps in `data_gaps`, windows in memory,
 * a crash loses at most the open windows). An unfillable gap is reported to the
 * symbol's consistency actor as a `gap` finding, so the symbol's quality state
 * says so. Clock-driven checks (silence gaps, closing quiet windows) run only for
 * series whose newest bar is recent (`liveLagMs`): a replay of old data is no
 * silent feed.
 */
export async function startQualitySupervisor(deps: QualitySupervisorDeps): Promise<QualitySupervisorHandle> {
  const q: QualitySettings = { ...parseQualitySettings(deps.settings), ...deps.quality };
  const calendars: CalendarMap = { ...q.calendars, ...deps.calendars };
  const log = deps.log.child({ actor: 'qualitySupervisor' });
  const board = deps.board ?? new QualityBoard();
  const js = jetstream(deps.nc);
  const jsm = await jetstreamManager(deps.nc);
  await ensureDurable(jsm, {
    stream: 'MD_BARS',
    durable: q.durable,
    ackWaitMs: deps.settings.INGEST_ACK_WAIT_MS,
    maxAckPending: 20_000,
    deliverPolicy: DeliverPolicy.All,
  });

  const env: SymbolQualityEnv = { db: deps.db, log, settings: q, calendars, ...provideMachines(deps, js, board), onNewSymbol: deps.onNewSymbol };
  const symbols = new QualitySymbols(env, board, deps.settings.MAX_PAYLOAD_BYTES);

  const consumer: BatchConsumerHandle = startBatchConsumer({
    nc: deps.nc,
    stream: 'MD_BARS',
    durable: q.durable,
    batchSize: 1_000,
    retryMinMs: deps.settings.RETRY_MIN_MS,
    retryMaxMs: deps.settings.RETRY_MAX_MS,
    ackWaitMs: deps.settings.INGEST_ACK_WAIT_MS,
    log,
    // Acked once handed over: from then on the bars are the actors' state.
    handle: async (batch) => {
      symbols.take(batch);
      return batch;
    },
  });
  consumer.done.catch((err: unknown) => log.error({ err }, 'quality supervisor consumer stopped'));

  const clock = setInterval(() => symbols.tick(Date.now()), q.tickMs);

  let stopping: Promise<void> | undefined;
  return {
    status: () => symbols.status(),
    scan: (venue, symbol, from, to) => symbols.scan(venue, symbol, from, to),
    settled: (timeoutMs = 30_000) => symbols.settled(timeoutMs),
    async stop(timeoutMs = 30_000) {
      if (stopping) return stopping;
      stopping = stopQuality(consumer, clock, symbols, log, timeoutMs);
      return stopping;
    },
  };
}
