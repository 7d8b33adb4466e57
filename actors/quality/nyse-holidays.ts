import {
  dayOfDate,
  easterSunday,
  lastWeekday,
  nthWeekday,
  parseIsoDate,
  weekdayOf,
} from './day-math.ts';

const MON = 1;
const THU = 4;
const FRI = 5;
const SAT = 6;
const SUN = 0;

/**
 * One-off full-day NYSE closures (national days of mourning, weather, 9/11).
 * Extend through the calendar spec's `extraClosures` rather than here for local needs.
 */
export const NYSE_SPECIAL_CLOSURES: readonly string[] = [
  '2001-09-11', '2001-09-12', '2001-09-13', '2001-09-14', // September 11
  '2004-06-11', // President Reagan
  '2007-01-02', // President Ford
  '2012-10-29', '2012-10-30', // Hurricane Sandy
  '2018-12-05', // President G. H. W. Bush
  '2025-01-09', // President Carter
];

/** NYSE rule: a Saturday holiday closes the Friday before, a Sunday one the Monday after. */
function observed(day: number): number {
  const wd = weekdayOf(day);
  if (wd === SAT) return day - 1;
  if (wd === SUN) return day + 1;
  return day;
}

/**
 * Full-day NYSE holidays of one year, computed by rule (as day numbers):
 * New Year (observed; a Saturday New Year is not moved to the Friday, which closes
 * the previous year), Martin Luther King Jr. Day (from 1998), Washington's Birthday,
 * Good Friday, Memorial Day, Juneteenth (from 2022, observed), Independence Day
 * (observed), Labor Day, Thanksgiving, Christmas (observed).
 */
export function nyseHolidays(year: number): number[] {
  const days: number[] = [];
  const newYear = dayOfDate(year, 1, 1);
  if (weekdayOf(newYear) !== SAT) days.push(observed(newYear));
  if (year >= 1998) days.push(nthWeekday(year, 1, MON, 3));
  days.push(nthWeekday(year, 2, MON, 3));
  days.push(easterSunday(year) - 2);
  days.push(lastWeekday(year, 5, MON));
  if (year >= 2022) days.push(observed(dayOfDate(year, 6, 19)));
  days.push(observed(dayOfDate(year, 7, 4)));
  days.push(nthWeekday(year, 9, MON, 1));
  days.push(nthWeekday(year, 11, THU, 4));
  days.push(observed(dayOfDate(year, 12, 25)));
  return days;
}

/**
 * Regular 13:00 early closes: the day before Independence Day, the day after
 * Thanksgiving, Christmas Eve (each only when it is itself a trading weekday).
 */
export function nyseEarlyCloses(year: number, isClosed: (day: number) => boolean): number[] {
  const candidates = [dayOfDate(year, 7, 3), nthWeekday(year, 11, THU, 4) + 1, dayOfDate(year, 12, 24)];
  return candidates.filter((d) => {
    const wd = weekdayOf(d);
    return wd >= MON && wd <= FRI && !isClosed(d);
  });
}

/** Day numbers of `YYYY-MM-DD` strings; throws on a malformed one (configuration error). */
export function parseClosureDates(dates: readonly string[]): number[] {
  return dates.map((text) => {
    const day = parseIsoDate(text);
    if (day === undefined) throw new RangeError(`not a YYYY-MM-DD date: ${JSON.stringify(text)}`);
    return day;
  });
}
