/**
 * Calendar arithmetic on "day numbers": days since 1970-01-01 UTC. Private to quality/.
 */
export const DAY_MS = 86_400_000;
export const MINUTE_MS = 60_000;

/** Day number of an epoch-ms time (UTC date). */
export function dayOf(ts: number): number {
  return Math.floor(ts / DAY_MS);
}

/** Day number of a calendar date; `month` is 1-12. */
export function dayOfDate(year: number, month: number, day: number): number {
  return Date.UTC(year, month - 1, day) / DAY_MS;
}

/** 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday). */
export function weekdayOf(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

export function isWeekend(day: number): boolean {
  const wd = weekdayOf(day);
  return wd === 0 || wd === 6;
}

export function yearOf(day: number): number {
  return new Date(day * DAY_MS).getUTCFullYear();
}

/** `YYYY-MM-DD` of a day number. */
export function isoDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Day number of a `YYYY-MM-DD` string; undefined when it is not one. */
export function parseIsoDate(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const day = dayOfDate(Number(m[1]), Number(m[2]), Number(m[3]));
  return isoDate(day) === text ? day : undefined;
}

/** The n-th (1-based) given weekday of a month. */
export function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  const first = dayOfDate(year, month, 1);
  return first + ((weekday - weekdayOf(first) + 7) % 7) + (n - 1) * 7;
}

/** The last given weekday of a month. */
export function lastWeekday(year: number, month: number, weekday: number): number {
  const last = dayOfDate(year, month + 1, 1) - 1;
  return last - ((weekdayOf(last) - weekday + 7) % 7);
}

/** Easter Sunday (Gregorian), by the anonymous "Meeus/Jones/Butcher" computus. */
export function easterSunday(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return dayOfDate(year, month, day);
}
