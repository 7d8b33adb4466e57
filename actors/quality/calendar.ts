import { DAY_MS, MINUTE_MS, dayOf, isWeekend, yearOf } from './day-math.ts';
import { nyseEarlyCloses, nyseHolidays, NYSE_SPECIAL_CLOSURES, parseClosureDates } from './nyse-holidays.ts';
import { INTERVAL_MS, type BarInterval } from './types.ts';

/**
 * A trading calendar: which bar open times a venue is expected to produce.
 * For `1d` bars a session is a date (bar at 00:00 UTC of it); for `1m` bars it is
 * every minute inside the day's trading hours.
 */
export interface TradingCalendar {
  readonly name: string;
  /** True when a bar of `interval` opening at `ts` is expected. */
  isSession(ts: number, interval: BarInterval): boolean;
  /** The first expected bar open time strictly after `ts`. */
  next(ts: number, interval: BarInterval): number;
  /** The last expected bar open time strictly before `ts`. */
  previous(ts: number, interval: BarInterval): number;
  /** Every expected bar open time in [from, to], both inclusive, ascending. */
  expectedBarTimes(from: number, to: number, interval: BarInterval): number[];
  /** How many bars are expected in [from, to] (inclusive). */
  countExpected(from: number, to: number, interval: BarInterval): number;
}

/**
 * How a venue's calendar is configured (serialisable, so it can live in settings and
 * actor snapshots): `always` trades 24/7 (crypto), `nyse` follows the NYSE: weekdays
 * minus its holidays and one-off closures, 09:30-16:00 America/New_York.
 */
export type CalendarSpec =
  | 'always'
  | 'nyse'
  | { kind: 'always' }
  | { kind: 'nyse'; extraClosures?: readonly string[]; earlyCloses?: boolean };

/** Venue name -> calendar; venues not listed use the fallback (`always` unless given). */
export type CalendarMap = Readonly<Record<string, CalendarSpec>>;

/** UTC minute-of-day range [open, close) of a day's session; undefined when closed. */
type SessionOf = (day: number) => readonly [number, number] | undefined;

// Longest run of closed days we search through before deciding a calendar is empty.
const MAX_CLOSED_DAYS = 3_660;

class SessionCalendar implements TradingCalendar {
  constructor(
    readonly name: string,
    private readonly sessionOf: SessionOf,
  ) {}

  isSession(ts: number, interval: BarInterval): boolean {
    if (ts % INTERVAL_MS[interval] !== 0) return false;
    const day = dayOf(ts);
    const session = this.sessionOf(day);
    if (session === undefined) return false;
    if (interval === '1d') return true;
    const minute = (ts - day * DAY_MS) / MINUTE_MS;
    return minute >= session[0] && minute < session[1];
  }

  next(ts: number, interval: BarInterval): number {
    if (interval === '1d') {
      let day = Math.floor(ts / DAY_MS) + 1;
      for (let i = 0; i < MAX_CLOSED_DAYS; i += 1, day += 1) if (this.sessionOf(day)) return day * DAY_MS;
      throw new RangeError(`calendar ${this.name} has no session within ${MAX_CLOSED_DAYS} days after ${ts}`);
    }
    let t = Math.floor(ts / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    for (let i = 0; i < MAX_CLOSED_DAYS; i += 1) {
      const day = dayOf(t);
      const session = this.sessionOf(day);
      if (session) {
        const minute = (t - day * DAY_MS) / MINUTE_MS;
        if (minute < session[0]) return day * DAY_MS + session[0] * MINUTE_MS;
        if (minute < session[1]) return t;
      }
      t = (day + 1) * DAY_MS;
    }
    throw new RangeError(`calendar ${this.name} has no session within ${MAX_CLOSED_DAYS} days after ${ts}`);
  }

  previous(ts: number, interval: BarInterval): number {
    if (interval === '1d') {
      let day = Math.ceil(ts / DAY_MS) - 1;
      for (let i = 0; i < MAX_CLOSED_DAYS; i += 1, day -= 1) if (this.sessionOf(day)) return day * DAY_MS;
      throw new RangeError(`calendar ${this.name} has no session within ${MAX_CLOSED_DAYS} days before ${ts}`);
    }
    let t = Math.ceil(ts / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
    for (let i = 0; i < MAX_CLOSED_DAYS; i += 1) {
      const day = dayOf(t);
      const session = this.sessionOf(day);
      if (session) {
        const minute = (t - day * DAY_MS) / MINUTE_MS;
        if (minute >= session[1]) return day * DAY_MS + (session[1] - 1) * MINUTE_MS;
        if (minute >= session[0]) return t;
      }
      t = day * DAY_MS - MINUTE_MS;
    }
    throw new RangeError(`calendar ${this.name} has no session within ${MAX_CLOSED_DAYS} days before ${ts}`);
  }

  expectedBarTimes(from: number, to: number, interval: BarInterval): number[] {
    const out: number[] = [];
    for (let t = this.firstFrom(from, interval); t <= to; t = this.next(t, interval)) out.push(t);
    return out;
  }

  countExpected(from: number, to: number, interval: BarInterval): number {
    let n = 0;
    for (let t = this.firstFrom(from, interval); t <= to; t = this.next(t, interval)) n += 1;
    return n;
  }

  private firstFrom(from: number, interval: BarInterval): number {
    return this.isSession(from, interval) ? from : this.next(from, interval);
  }
}

const nyHour = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hourCycle: 'h23' });

/**
 * Offset of America/New_York from UTC in minutes (-300 EST, -240 EDT) during the
 * trading day of `day`. DST switches at 02:00 local, far from the session, so one
 * value per date is exact for 09:30-16:00.
 */
function newYorkOffsetMinutes(day: number): number {
  const probeUtcHour = 17; // 12:00 or 13:00 in New York
  const localHour = Number(nyHour.format(new Date(day * DAY_MS + probeUtcHour * 3_600_000)));
  return (localHour - probeUtcHour) * 60;
}

function nyseSessionOf(extraClosures: readonly string[], earlyCloses: boolean): SessionOf {
  const special = new Set(parseClosureDates([...NYSE_SPECIAL_CLOSURES, ...extraClosures]));
  const closedByYear = new Map<number, { closed: Set<number>; early: Set<number> }>();
  // Formatting a date in New York's zone is the slow part of a session lookup: once per day per calendar.
  const offsets = new Map<number, number>();
  const offsetOf = (day: number): number => {
    let offset = offsets.get(day);
    if (offset === undefined) {
      offset = newYorkOffsetMinutes(day);
      offsets.set(day, offset);
    }
    return offset;
  };
  const yearInfo = (year: number) => {
    let info = closedByYear.get(year);
    if (!info) {
      const closed = new Set(nyseHolidays(year));
      const isClosed = (d: number) => closed.has(d) || special.has(d) || isWeekend(d);
      info = { closed, early: new Set(earlyCloses ? nyseEarlyCloses(year, isClosed) : []) };
      closedByYear.set(year, info);
    }
    return info;
  };
  const OPEN_LOCAL = 9 * 60 + 30;
  const CLOSE_LOCAL = 16 * 60;
  const EARLY_CLOSE_LOCAL = 13 * 60;
  return (day) => {
    if (isWeekend(day) || special.has(day)) return undefined;
    const info = yearInfo(yearOf(day));
    if (info.closed.has(day)) return undefined;
    const offset = offsetOf(day);
    const close = info.early.has(day) ? EARLY_CLOSE_LOCAL : CLOSE_LOCAL;
    return [OPEN_LOCAL - offset, close - offset] as const;
  };
}

const ALWAYS_SESSION = [0, 1_440] as const;

/**
 * Builds the calendar a spec describes. Cheap: holidays and New York offsets are
 * worked out on first use, per calendar, for the years and days it is asked about.
 */
export function createCalendar(spec: CalendarSpec): TradingCalendar {
  if (typeof spec === 'string') return createCalendar({ kind: spec });
  if (spec.kind === 'always') return new SessionCalendar('always', () => ALWAYS_SESSION);
  return new SessionCalendar('nyse', nyseSessionOf(spec.extraClosures ?? [], spec.earlyCloses ?? true));
}

/** The calendar of a venue from a venue -> calendar map. */
export function calendarForVenue(venue: string, map: CalendarMap, fallback: CalendarSpec = 'always'): TradingCalendar {
  return createCalendar(map[venue] ?? fallback);
}
