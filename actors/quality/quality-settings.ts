import { SignalsError, type Logger, type QualityEnvSettings } from '../../config/index.ts';
import type { Db } from '../../sql/index.ts';
import { isToken } from '../../streams/index.ts';
import type { CalendarMap, CalendarSpec } from './calendar.ts';
import { createCsvDirHistory } from './csv-dir-history.ts';
import { venueHistory } from './db-history.ts';
import { composeHistory, NO_HISTORY, type HistoryProvider } from './history-provider.ts';

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

/** Where the series `venue.symbol` is expected to start: its own setting, else its venue's, else the one for all (undefined: not known). */
export function expectedStartOf(expected: ExpectedStart, venue: string, symbol: string): number | undefined {
  return expected.by[`${venue}.${symbol}`] ?? expected.by[venue] ?? expected.all;
}
