import type { Alerter } from '../../ops/index.ts';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { createActor, waitFor, type Actor } from 'xstate';
import { SignalsError, type Logger, type QualityEnvSettings, type Settings } from '../../config/index.ts';
import {
  createCsvDirHistory,
  QualityBoard,
  type CalendarMap,
  type CalendarSpec,
  type FeedBar,
  type Finding,
  type HealthState,
  type HistoryProvider,
} from './index.ts';
import { listGaps } from '../../sql/index.ts';
import type { Db } from '../../sql/index.ts';
import { barRevision, ensureDurable, isToken, type PulledMsg } from '../../streams/index.ts';
import { backfillMachine } from './backfill.machine.ts';
import { createBackfillActors } from './backfill.effects.ts';
import { validateBar } from './bar-validation.ts';
import { startBatchConsumer, type BatchConsumerHandle } from '../../streams/index.ts';
import { consistencyMachine } from './consistency.machine.ts';
import { createConsistencyActors } from './consistency.effects.ts';
import { venueHistory } from './db-history.ts';
import { composeHistory, NO_HISTORY } from './history-provider.ts';

/**
 * Settings of the quality supervisor, derived from the `QUALITY_*` settings
 * (config/schema.ts, loaded by `loadSettings`; README "Configuration"). Names and defaults:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `QUALITY_HISTORY_DIR` | unset | directory of bars CSV files (`<venue>/<symbol>.csv` or `<symbol>.csv`) for the backfill |
 * | `QUALITY_INTERPOLATE` | `false` | interpolate what history lacks (`source: 'interpolated'`) |
 * | `QUALITY_SILENCE_TIMEOUT_MS` | `300000` | a bar missing this long after it closed is a `silence` gap; `0` = off |
 * | `QUALITY_LIVE_LAG_MS` | `86400000` | clock-driven checks (silence, window flush) only for series whose newest bar is this recent: a replay of old data is not a silent live feed |
 * | `QUALITY_CALENDARS` | unset (all `always`) | `venue=calendar` pairs, calendar `always` or `nyse`, e.g. `nyse=nyse,binance=always` |
 * | `QUALITY_EXPECTED_START` | unset | where series are expected to start (ISO-8601 or epoch ms): a bare value for every series, or `venue=...` / `venue.symbol=...` pairs; holes before the first bar are found only from this |
 * | `QUALITY_FILL_ATTEMPTS` | `4` | fill attempts per gap; the last one decides `unfillable` |
 * | `QUALITY_RETRY_MIN_MS` / `QUALITY_RETRY_MAX_MS` | `1000` / `60000` | fill retry backoff |
 * | `QUALITY_WINDOW_MS` | `900000` | consistency report window |
 * | `QUALITY_TICK_MS` | `5000` | how often clock-driven checks run |
 * | `QUALITY_DURABLE` | `quality_supervisor` | durable consumer on MD_BARS |
 */
export type QualitySettings = {
  historyDir: string | undefined;
  /** Venue -> the venue whose stored bars are its history. */
  historyVenues: Readonly<Record<string, string>>;
  /** Days of history loaded before a new symbol's first bar (0 = none). */
  historyDays: number;
  interpolate: boolean;
  silenceTimeoutMs: number;
  liveLagMs: number;
  calendars: CalendarMap;
  expectedStart: ExpectedStart;
  fillAttempts: number;
  retryMinMs: number;
  retryMaxMs: number;
  windowMs: number;
  tickMs: number;
  durable: string;
};

/** Expected series starts: `all` for every series, else by `venue` or `venue.symbol` (the more specific wins). */
export type ExpectedStart = { all?: number; by: Readonly<Record<string, number>> };

/** A quality setting failed validation; names the variable. Not retryable. */
export class QualitySettingsError extends SignalsError {
  override readonly name = 'QualitySettingsError';
  override readonly retryable = false;
  constructor(readonly issues: readonly string[]) {
    super(`invalid quality settings:\n  ${issues.join('\n  ')}`);
  }
}

const CALENDAR_NAMES = ['always', 'nyse'] as const;

function parseTime(text: string): number | undefined {
  const t = text.trim();
  if (/^\d{12,14}$/.test(t)) return Number(t);
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(t) || /^\d{4}-\d\d-\d\d$/.test(t) ? t : `${t}Z`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** `venue=calendar,...` -> CalendarMap. */
function parseCalendars(text: string, issues: string[]): CalendarMap {
  const out: Record<string, CalendarSpec> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [venue, cal] = part.split('=').map((p) => p.trim());
    const spec = CALENDAR_NAMES.find((c) => c === cal);
    if (!venue || !spec) issues.push(`QUALITY_CALENDARS: "${part}" is not venue=${CALENDAR_NAMES.join('|')}`);
    else out[venue] = spec;
  }
  return out;
}

function parseHistoryVenues(text: string, issues: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [venue, source] = part.split('=').map((p) => p.trim());
    if (!venue || !source || !isToken(venue) || !isToken(source) || venue === source) issues.push(`QUALITY_HISTORY_VENUES: "${part}" is not venue=sourceVenue (two different venue names)`);
    else out[venue] = source;
  }
  return out;
}

function parseExpectedStart(text: string, issues: string[]): ExpectedStart {
  const out: ExpectedStart = { by: {} };
  const by: Record<string, number> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? undefined : part.slice(0, eq).trim();
    const time = parseTime(eq < 0 ? part : part.slice(eq + 1));
    if (time === undefined) issues.push(`QUALITY_EXPECTED_START: "${part}" has no ISO-8601 or epoch-ms time`);
    else if (key === undefined) out.all = time;
    else by[key] = time;
  }
  return { ...out, by };
}

/**
 * The quality supervisor's settings from the loaded settings (`loadSettings`, which
 * already validated each value): parses the calendars and expected starts and checks
 * what the schema cannot. A pure function of `e`. Throws QualitySettingsError.
 */
export function parseQualitySettings(e: QualityEnvSettings): QualitySettings {
  const issues: string[] = [];
  const calendars = parseCalendars(e.QUALITY_CALENDARS, issues);
  const expectedStart = parseExpectedStart(e.QUALITY_EXPECTED_START, issues);
  const historyVenues = parseHistoryVenues(e.QUALITY_HISTORY_VENUES, issues);
  if (e.QUALITY_RETRY_MAX_MS < e.QUALITY_RETRY_MIN_MS) issues.push('QUALITY_RETRY_MAX_MS: must be >= QUALITY_RETRY_MIN_MS');
  if (issues.length > 0) throw new QualitySettingsError(issues);
  return {
    historyDir: e.QUALITY_HISTORY_DIR,
    historyVenues,
    historyDays: e.QUALITY_HISTORY_DAYS,
    interpolate: e.QUALITY_INTERPOLATE,
    silenceTimeoutMs: e.QUALITY_SILENCE_TIMEOUT_MS,
    liveLagMs: e.QUALITY_LIVE_LAG_MS,
    calendars,
    expectedStart,
    fillAttempts: e.QUALITY_FILL_ATTEMPTS,
    retryMinMs: e.QUALITY_RETRY_MIN_MS,
    retryMaxMs: e.QUALITY_RETRY_MAX_MS,
    windowMs: e.QUALITY_WINDOW_MS,
    tickMs: e.QUALITY_TICK_MS,
    durable: e.QUALITY_DURABLE,
  };
}

/**
 * The history sources of the settings: the CSV directory of `QUALITY_HISTORY_DIR`,
 * then the other venue of `QUALITY_HISTORY_VENUES` in this database; with neither,
 * one that has nothing (every gap unfillable).
 */
export function historyFromSettings(q: QualitySettings, log: Logger, db?: Db): HistoryProvider {
  const sources: HistoryProvider[] = [];
  if (q.historyDir) {
    sources.push(createCsvDirHistory({ dir: q.historyDir, onRejected: (file, rejected) => log.warn({ file, rejected }, 'history rows rejected') }));
  }
  if (db && Object.keys(q.historyVenues).length > 0) sources.push(venueHistory(db, q.historyVenues));
  return sources.length === 0 ? NO_HISTORY : composeHistory(sources);
}

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

/** One symbol as `status()` shows it. */
export type SymbolQualityStatus = {
  venue: string;
  symbol: string;
  /** The symbol's data health (the board's, else the consistency actor's). */
  quality: HealthState;
  bars: number;
  lastBarTs: number | undefined;
  gaps: { found: number; filled: number; unfillable: number; abandoned: number; rows: number; pending: number };
  consistency: { windows: number; findings: number; state: string };
  backfill: { state: string; lastError: string | undefined };
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

type BackfillActor = Actor<typeof backfillMachine>;
type ConsistencyActor = Actor<typeof consistencyMachine>;

type Entry = {
  venue: string;
  symbol: string;
  backfill: BackfillActor;
  consistency: ConsistencyActor;
  bars: number;
  lastBarTs: number | undefined;
  unfillableSeen: number;
  reportedGaps: Set<number>;
  forwarding: Promise<void>;
  /** Bars that arrived while an actor was still starting (it takes events only once running). */
  waiting: { backfill: FeedBar[]; consistency: FeedBar[] };
};

const stateName = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

function backfillSettled(a: BackfillActor): boolean {
  const s = a.getSnapshot();
  if (s.status !== 'active') return true;
  const c = s.context;
  return (
    c.jobs.length === 0 && c.unrecorded.length === 0 && c.scans.length === 0 &&
    s.matches({ running: { scan: 'idle', record: 'idle', fill: 'idle' } })
  );
}

function consistencyIdle(a: ConsistencyActor): boolean {
  const s = a.getSnapshot();
  return s.status !== 'active' || (s.context.ready.length === 0 && s.context.open === undefined && s.matches({ running: 'idle' }));
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

  const backfillActors = createBackfillActors({
    db: deps.db, js, provider: deps.provider, log: deps.log, feed: false, tickEveryMs: 0, resumeFromLastBar: false,
  });
  const consistencyActors = createConsistencyActors({ db: deps.db, js, log: deps.log, board, feed: false, tickEveryMs: 0, ...(deps.alert ? { alert: deps.alert } : {}) });
  const backfill = backfillMachine.provide({ actors: backfillActors });
  const consistency = consistencyMachine.provide({ actors: consistencyActors });
  const entries = new Map<string, Entry>();
  let invalid = 0;

  const expectedStartOf = (venue: string, symbol: string): number | undefined =>
    q.expectedStart.by[`${venue}.${symbol}`] ?? q.expectedStart.by[venue] ?? q.expectedStart.all;

  /** Sends the consistency actor a `gap` finding for every unfillable gap of the symbol not reported yet. */
  async function forwardUnfillable(e: Entry): Promise<void> {
    const gaps = await listGaps(deps.db, { venue: e.venue, symbol: e.symbol, statuses: ['unfillable'] });
    const findings: Finding[] = [];
    for (const g of gaps) {
      if (e.reportedGaps.has(g.id)) continue;
      e.reportedGaps.add(g.id);
      const missing = typeof g.detail['missing'] === 'number' ? g.detail['missing'] : g.bars;
      findings.push({
        kind: 'gap',
        ts: g.from,
        detail: `unfillable gap ${new Date(g.from).toISOString()}..${new Date(g.to).toISOString()}: ${missing} bar(s) history (${g.method ?? '?'}) does not have`,
      });
    }
    if (findings.length > 0) {
      e.consistency.send({ type: 'quality.findings', findings });
      log.warn({ venue: e.venue, symbol: e.symbol, gaps: findings.length }, 'unfillable gaps reported to the consistency actor');
    }
  }

  function feedBackfill(e: Entry, bars: FeedBar[]): void {
    if (!e.backfill.getSnapshot().matches('running')) {
      e.waiting.backfill.push(...bars);
      return;
    }
    const all = e.waiting.backfill.length > 0 ? [...e.waiting.backfill, ...bars] : bars;
    e.waiting.backfill = [];
    if (all.length > 0) e.backfill.send({ type: 'bars.closed', bars: all });
  }

  function feedConsistency(e: Entry, bars: FeedBar[]): void {
    if (!e.consistency.getSnapshot().matches('running')) {
      e.waiting.consistency.push(...bars);
      return;
    }
    const all = e.waiting.consistency.length > 0 ? [...e.waiting.consistency, ...bars] : bars;
    e.waiting.consistency = [];
    if (all.length > 0) e.consistency.send({ type: 'bars.closed', bars: all });
  }

  function spawn(venue: string, symbol: string, firstTs: number): Entry {
    const slog = log.child({ venue, symbol });
    try {
      deps.onNewSymbol?.(venue, symbol, firstTs);
    } catch (err) {
      slog.error({ err }, 'onNewSymbol failed; the symbol goes on without its history');
    }
    const start = expectedStartOf(venue, symbol);
    const b = createActor(backfill, {
      input: {
        venue,
        symbol,
        config: {
          calendar: calendars[venue] ?? 'always',
          silenceTimeoutMs: q.silenceTimeoutMs > 0 ? q.silenceTimeoutMs : Number.MAX_SAFE_INTEGER,
          maxAttempts: q.fillAttempts,
          retryMinMs: q.retryMinMs,
          retryMaxMs: q.retryMaxMs,
          interpolate: q.interpolate,
        },
        // Holes before the first bar can only be known from an expected start.
        ...(start !== undefined && start < firstTs ? { scan: { from: start, to: firstTs } } : {}),
      },
    });
    const c = createActor(consistency, { input: { venue, symbol, config: { windowMs: q.windowMs } } });
    const entry: Entry = {
      venue, symbol, backfill: b, consistency: c, bars: 0, lastBarTs: undefined, unfillableSeen: 0, reportedGaps: new Set(), forwarding: Promise.resolve(),
      waiting: { backfill: [], consistency: [] },
    };
    b.subscribe({
      next: (s) => {
        if (entry.waiting.backfill.length > 0 && s.matches('running')) feedBackfill(entry, []);
        if (s.context.stats.unfillable <= entry.unfillableSeen) return;
        entry.unfillableSeen = s.context.stats.unfillable;
        entry.forwarding = entry.forwarding
          .then(() => forwardUnfillable(entry))
          .catch((err: unknown) => slog.error({ err }, 'could not report unfillable gaps'));
      },
      error: (err) => slog.error({ err }, 'backfill actor failed'),
    });
    c.subscribe({
      next: (s) => {
        if (entry.waiting.consistency.length > 0 && s.matches('running')) feedConsistency(entry, []);
      },
      error: (err) => slog.error({ err }, 'consistency actor failed'),
    });
    b.start();
    c.start();
    slog.info({ firstTs, expectedStart: start, calendar: calendars[venue] ?? 'always' }, 'symbol added: backfill and consistency started');
    return entry;
  }

  const handle = async (batch: PulledMsg[]): Promise<readonly PulledMsg[]> => {
    const bySymbol = new Map<string, { venue: string; symbol: string; bars: FeedBar[] }>();
    for (const msg of batch) {
      const r = validateBar(msg.subject, msg.data, deps.settings.MAX_PAYLOAD_BYTES);
      if (!r.ok) {
        invalid += 1; // the bar consumers of the ingest path dead-letter it; here it is only skipped
        continue;
      }
      const b = r.value;
      const key = `${b.venue}.${b.symbol}`;
      let group = bySymbol.get(key);
      if (!group) bySymbol.set(key, (group = { venue: b.venue, symbol: b.symbol, bars: [] }));
      const bar: FeedBar = {
        ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source,
        revision: barRevision(msg) ?? 0,
      };
      if (b.trades !== undefined) bar.trades = b.trades;
      group.bars.push(bar);
    }
    for (const [key, g] of bySymbol) {
      let e = entries.get(key);
      if (!e) entries.set(key, (e = spawn(g.venue, g.symbol, g.bars[0]?.ts ?? 0)));
      e.bars += g.bars.length;
      for (const bar of g.bars) if (e.lastBarTs === undefined || bar.ts > e.lastBarTs) e.lastBarTs = bar.ts;
      feedBackfill(e, g.bars);
      feedConsistency(e, g.bars);
    }
    return batch;
  };

  const consumer: BatchConsumerHandle = startBatchConsumer({
    nc: deps.nc,
    stream: 'MD_BARS',
    durable: q.durable,
    batchSize: 1_000,
    retryMinMs: deps.settings.RETRY_MIN_MS,
    retryMaxMs: deps.settings.RETRY_MAX_MS,
    ackWaitMs: deps.settings.INGEST_ACK_WAIT_MS,
    log,
    handle,
  });
  consumer.done.catch((err: unknown) => log.error({ err }, 'quality supervisor consumer stopped'));

  const clock = setInterval(() => {
    const now = Date.now();
    for (const e of entries.values()) {
      if (e.lastBarTs === undefined || now - e.lastBarTs > q.liveLagMs) continue;
      if (q.silenceTimeoutMs > 0) e.backfill.send({ type: 'clock.tick', now });
      e.consistency.send({ type: 'clock.tick', now });
    }
  }, q.tickMs);

  let stopping: Promise<void> | undefined;

  async function settled(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const list = [...entries.values()];
      const idle = () => list.every((e) => e.waiting.backfill.length === 0 && backfillSettled(e.backfill));
      if (idle()) {
        await Promise.all(list.map((e) => e.forwarding));
        if (idle()) return;
      }
      if (Date.now() > end) throw new Error(`quality supervisor: backfills not settled after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  return {
    status() {
      return [...entries.values()].map((e): SymbolQualityStatus => {
        const b = e.backfill.getSnapshot();
        const c = e.consistency.getSnapshot();
        const s = b.context.stats;
        return {
          venue: e.venue,
          symbol: e.symbol,
          quality: board.get(e.venue, e.symbol)?.state ?? c.context.health.state,
          bars: e.bars,
          lastBarTs: e.lastBarTs,
          gaps: {
            found: s.found,
            filled: s.filled,
            unfillable: s.unfillable,
            abandoned: s.abandoned,
            rows: s.rows,
            pending: b.context.jobs.length + b.context.unrecorded.length,
          },
          consistency: { windows: c.context.stats.windows, findings: c.context.stats.findings, state: stateName(c.value) },
          backfill: { state: stateName(b.value), lastError: b.context.lastError },
        };
      });
    },
    scan(venue, symbol, from, to) {
      const e = entries.get(`${venue}.${symbol}`);
      if (!e) return false;
      e.backfill.send({ type: 'scan.requested', from, to });
      return true;
    },
    settled,
    async stop(timeoutMs = 30_000) {
      if (stopping) return stopping;
      stopping = stopAll(timeoutMs);
      return stopping;
    },
  };

  async function stopAll(timeoutMs: number): Promise<void> {
    await consumer.stop();
    clearInterval(clock);
    try {
      await settled(timeoutMs);
    } catch (err) {
      log.warn({ err }, 'stopping with backfill work left (open gaps stay in data_gaps for the next run)');
    }
    // A consistency actor still resuming its state ignores clock ticks and has its bars waiting here:
    // let it run and take them before the final tick, or its last windows would never be reported.
    await Promise.all(
      [...entries.values()].map((e) =>
        waitFor(e.consistency, (s) => s.status !== 'active' || (s.matches('running') && e.waiting.consistency.length === 0), { timeout: timeoutMs }).catch(
          (err: unknown) => log.warn({ err, venue: e.venue, symbol: e.symbol }, 'consistency actor not running before stop'),
        ),
      ),
    );
    for (const e of entries.values()) {
      // Closes the open window now, whatever its bars' age.
      e.consistency.send({ type: 'clock.tick', now: Number.MAX_SAFE_INTEGER });
    }
    await Promise.all(
      [...entries.values()].map((e) =>
        waitFor(e.consistency, () => consistencyIdle(e.consistency), { timeout: timeoutMs }).catch((err: unknown) =>
          log.warn({ err, venue: e.venue, symbol: e.symbol }, 'consistency window not flushed before stop'),
        ),
      ),
    );
    for (const e of entries.values()) {
      e.backfill.send({ type: 'backfill.stop' });
      e.consistency.send({ type: 'consistency.stop' });
    }
    log.info({ symbols: entries.size, invalid }, 'quality supervisor stopped');
  }
}
