import { createActor, type Actor } from 'xstate';
import type { Logger } from '../../config/index.ts';
import { listGaps, type Db, type GapRecord } from '../../sql/index.ts';
import type { backfillMachine, BackfillInput } from './backfill.machine.ts';
import type { BarsClosedEvent, FeedBar } from './bar-feed.ts';
import type { CalendarMap } from './calendar.ts';
import type { consistencyMachine } from './consistency.machine.ts';
import type { QualityBoard } from './quality-board.ts';
import { expectedStartOf, type QualitySettings } from './quality-settings.ts';
import type { Finding, HealthState } from './types.ts';

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

type BackfillActor = Actor<typeof backfillMachine>;
type ConsistencyActor = Actor<typeof consistencyMachine>;

/** One symbol's quality actors (a backfill and a consistency actor) and what the supervisor tracks of it. */
export type SymbolQuality = {
  venue: string;
  symbol: string;
  backfill: BackfillActor;
  consistency: ConsistencyActor;
  bars: number;
  lastBarTs: number | undefined;
  /** Wall-clock time the newest batch of its bars arrived. */
  lastArrivalAt: number | undefined;
  unfillableSeen: number;
  reportedGaps: Set<number>;
  forwarding: Promise<void>;
  /** Bars that arrived while an actor was still starting (it takes events only once running). */
  waiting: { backfill: FeedBar[]; consistency: FeedBar[] };
};

/** What every symbol of one supervisor is started with. */
export type SymbolQualityEnv = {
  db: Db;
  /** The supervisor's logger: each symbol logs through a child of it. */
  log: Logger;
  settings: QualitySettings;
  calendars: CalendarMap;
  /** The machines with their effects provided. */
  backfill: typeof backfillMachine;
  consistency: typeof consistencyMachine;
  onNewSymbol: ((venue: string, symbol: string, firstTs: number) => void) | undefined;
};

/** The part of an actor that takes bars: `matches('running')` says whether it takes events yet. */
export type BarsTaker = { getSnapshot(): { matches(state: 'running'): boolean }; send(event: BarsClosedEvent): void };

const stateName = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/**
 * Hands `bars` to `actor` once it runs; until then they wait in `waiting`, in arrival
 * order. `waiting` is emptied BEFORE the send: the actor's subscribers run during the
 * send and flush `waiting` themselves, which must not send those bars a second time.
 */
export function feedWhenRunning(actor: BarsTaker, waiting: FeedBar[], bars: FeedBar[]): void {
  if (!actor.getSnapshot().matches('running')) {
    waiting.push(...bars);
    return;
  }
  const all = waiting.length > 0 ? [...waiting.splice(0), ...bars] : bars;
  if (all.length > 0) actor.send({ type: 'bars.closed', bars: all });
}

/** A new symbol's backfill input: the venue's calendar, the fill settings, and a scan of the holes before its first bar. */
export function backfillInput(q: QualitySettings, calendars: CalendarMap, venue: string, symbol: string, firstTs: number): BackfillInput {
  const start = expectedStartOf(q.expectedStart, venue, symbol);
  return {
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
  };
}

/**
 * A `gap` finding for every unfillable gap not in `reported`; adds their ids to
 * `reported`, so each gap is reported to the consistency actor once.
 */
export function unfillableFindings(gaps: readonly Pick<GapRecord, 'id' | 'from' | 'to' | 'bars' | 'method' | 'detail'>[], reported: Set<number>): Finding[] {
  const findings: Finding[] = [];
  for (const g of gaps) {
    if (reported.has(g.id)) continue;
    reported.add(g.id);
    const missing = typeof g.detail['missing'] === 'number' ? g.detail['missing'] : g.bars;
    findings.push({
      kind: 'gap',
      ts: g.from,
      detail: `unfillable gap ${new Date(g.from).toISOString()}..${new Date(g.to).toISOString()}: ${missing} bar(s) history (${g.method ?? '?'}) does not have`,
    });
  }
  return findings;
}

/** Sends the consistency actor a `gap` finding for every unfillable gap of the symbol not reported yet. */
async function forwardUnfillable(db: Db, log: Logger, e: SymbolQuality): Promise<void> {
  const gaps = await listGaps(db, { venue: e.venue, symbol: e.symbol, statuses: ['unfillable'] });
  const findings = unfillableFindings(gaps, e.reportedGaps);
  if (findings.length > 0) {
    e.consistency.send({ type: 'quality.findings', findings });
    log.warn({ venue: e.venue, symbol: e.symbol, gaps: findings.length }, 'unfillable gaps reported to the consistency actor');
  }
}

/** Flushes the bars that waited for an actor to start, and reports each newly unfillable gap to the consistency actor. */
function subscribeActors(env: SymbolQualityEnv, e: SymbolQuality, slog: Logger): void {
  e.backfill.subscribe({
    next: (s) => {
      if (e.waiting.backfill.length > 0 && s.matches('running')) feedWhenRunning(e.backfill, e.waiting.backfill, []);
      if (s.context.stats.unfillable <= e.unfillableSeen) return;
      e.unfillableSeen = s.context.stats.unfillable;
      e.forwarding = e.forwarding
        .then(() => forwardUnfillable(env.db, env.log, e))
        .catch((err: unknown) => slog.error({ err }, 'could not report unfillable gaps'));
    },
    error: (err) => slog.error({ err }, 'backfill actor failed'),
  });
  e.consistency.subscribe({
    next: (s) => {
      if (e.waiting.consistency.length > 0 && s.matches('running')) feedWhenRunning(e.consistency, e.waiting.consistency, []);
    },
    error: (err) => slog.error({ err }, 'consistency actor failed'),
  });
}

/** Starts a new symbol's backfill and consistency actors (its first bar, at `firstTs`, just arrived). */
export function startSymbolQuality(env: SymbolQualityEnv, venue: string, symbol: string, firstTs: number): SymbolQuality {
  const slog = env.log.child({ venue, symbol });
  try {
    env.onNewSymbol?.(venue, symbol, firstTs);
  } catch (err) {
    slog.error({ err }, 'onNewSymbol failed; the symbol goes on without its history');
  }
  const q = env.settings;
  const e: SymbolQuality = {
    venue,
    symbol,
    backfill: createActor(env.backfill, { input: backfillInput(q, env.calendars, venue, symbol, firstTs) }),
    consistency: createActor(env.consistency, { input: { venue, symbol, config: { windowMs: q.windowMs } } }),
    bars: 0,
    lastBarTs: undefined,
    lastArrivalAt: undefined,
    unfillableSeen: 0,
    reportedGaps: new Set(),
    forwarding: Promise.resolve(),
    waiting: { backfill: [], consistency: [] },
  };
  subscribeActors(env, e, slog);
  e.backfill.start();
  e.consistency.start();
  const calendar = env.calendars[venue] ?? 'always';
  slog.info({ firstTs, expectedStart: expectedStartOf(q.expectedStart, venue, symbol), calendar }, 'symbol added: backfill and consistency started');
  return e;
}

/** Counts a batch of the symbol's bars and hands it to both actors. */
export function takeBars(e: SymbolQuality, bars: FeedBar[], arrivedAt: number = Date.now()): void {
  e.bars += bars.length;
  e.lastArrivalAt = arrivedAt;
  for (const bar of bars) if (e.lastBarTs === undefined || bar.ts > e.lastBarTs) e.lastBarTs = bar.ts;
  feedWhenRunning(e.backfill, e.waiting.backfill, bars);
  feedWhenRunning(e.consistency, e.waiting.consistency, bars);
}

/**
 * Clock-driven checks (silence gaps, closing quiet windows), only for a live series:
 * its newest bar is within `liveLagMs`, since a replay of old data is no silent feed.
 * Silence also needs the feed to have been quiet for the timeout: bars still arriving
 * behind the clock (a replay of the last hours catching up, a consumer working off a
 * backlog) are late, not missing.
 */
export function tickSymbol(e: SymbolQuality, q: QualitySettings, now: number): void {
  if (e.lastBarTs === undefined || now - e.lastBarTs > q.liveLagMs) return;
  const quiet = e.lastArrivalAt === undefined || now - e.lastArrivalAt >= q.silenceTimeoutMs;
  if (q.silenceTimeoutMs > 0 && quiet) e.backfill.send({ type: 'clock.tick', now });
  e.consistency.send({ type: 'clock.tick', now });
}

/** True once the symbol's backfill has nothing left to do (or has stopped). */
export function backfillSettled(a: BackfillActor): boolean {
  const s = a.getSnapshot();
  if (s.status !== 'active') return true;
  const c = s.context;
  return (
    c.jobs.length === 0 && c.unrecorded.length === 0 && c.scans.length === 0 &&
    s.matches({ running: { scan: 'idle', record: 'idle', fill: 'idle' } })
  );
}

/** True once the consistency actor has no window open or waiting to be checked (or has stopped). */
export function consistencyIdle(a: ConsistencyActor): boolean {
  const s = a.getSnapshot();
  return s.status !== 'active' || (s.context.ready.length === 0 && s.context.open === undefined && s.matches({ running: 'idle' }));
}

/** The symbol as `status()` shows it; its health is the board's when known there. */
export function symbolStatus(e: SymbolQuality, board: QualityBoard): SymbolQualityStatus {
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
}
