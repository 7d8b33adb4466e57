import { describe, expect, it } from 'vitest';
import { readBarsCsv } from '../../../../market/index.ts';
import { calendarForVenue, createCalendar, findTimeGaps, nyseHolidays } from '../../../../actors/quality/index.ts';
import { DAILY_CSV, describeRealData } from '../../../support/market/shared-data.ts';

const DAY = 86_400_000;
const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`);
const isoDays = (days: number[]): string[] => days.map((d) => new Date(d * DAY).toISOString().slice(0, 10)).sort();

describe('NYSE holidays by rule', () => {
  it('gives the published full-day closures of 2019, 2020, 2022 and 2023', () => {
    expect(isoDays(nyseHolidays(2019))).toEqual([
      '2019-01-01', '2019-01-21', '2019-02-18', '2019-04-19', '2019-05-27', '2019-07-04', '2019-09-02', '2019-11-28', '2019-12-25',
    ]);
    expect(isoDays(nyseHolidays(2020)), 'Independence Day on a Saturday closes Friday July 3').toEqual([
      '2020-01-01', '2020-01-20', '2020-02-17', '2020-04-10', '2020-05-25', '2020-07-03', '2020-09-07', '2020-11-26', '2020-12-25',
    ]);
    expect(isoDays(nyseHolidays(2022)), 'Juneteenth (Sunday) observed Monday; New Year on a Saturday not moved; Christmas Sunday -> Monday').toEqual([
      '2022-01-17', '2022-02-21', '2022-04-15', '2022-05-30', '2022-06-20', '2022-07-04', '2022-09-05', '2022-11-24', '2022-12-26',
    ]);
    expect(isoDays(nyseHolidays(2023)), 'New Year on a Sunday observed Monday Jan 2').toContain('2023-01-02');
    expect(isoDays(nyseHolidays(2021)), 'no Juneteenth before 2022').not.toContain('2021-06-18');
  });

  it('closes on one-off days such as 2025-01-09 and 2018-12-05, and can be extended', () => {
    const nyse = createCalendar('nyse');
    expect(nyse.isSession(day('2025-01-09'), '1d'), 'national day of mourning for President Carter').toBe(false);
    expect(nyse.isSession(day('2025-01-08'), '1d')).toBe(true);
    expect(nyse.isSession(day('2018-12-05'), '1d')).toBe(false);
    const custom = createCalendar({ kind: 'nyse', extraClosures: ['2025-01-08'] });
    expect(custom.isSession(day('2025-01-08'), '1d'), 'extra closure from configuration').toBe(false);
    expect(() => createCalendar({ kind: 'nyse', extraClosures: ['2025-13-01'] })).toThrow(/not a YYYY-MM-DD date/);
  });
});

describe('NYSE minute sessions', () => {
  const nyse = createCalendar('nyse');
  it('opens 09:30 New York time on both sides of the March 2024 DST switch', () => {
    const friday = nyse.expectedBarTimes(day('2024-03-08'), day('2024-03-09') - 1, '1m');
    const monday = nyse.expectedBarTimes(day('2024-03-11'), day('2024-03-12') - 1, '1m');
    expect(friday.length, '390 minutes from 09:30 to 16:00').toBe(390);
    expect(new Date(friday[0] ?? 0).toISOString(), 'EST: 09:30 = 14:30 UTC').toBe('2024-03-08T14:30:00.000Z');
    expect(new Date(friday.at(-1) ?? 0).toISOString(), 'last bar opens 15:59 EST').toBe('2024-03-08T20:59:00.000Z');
    expect(new Date(monday[0] ?? 0).toISOString(), 'EDT: 09:30 = 13:30 UTC').toBe('2024-03-11T13:30:00.000Z');
    expect(monday.length).toBe(390);
  });

  it('closes at 13:00 on the day after Thanksgiving and has no session on weekends or holidays', () => {
    const blackFriday = nyse.expectedBarTimes(day('2024-11-29'), day('2024-11-30') - 1, '1m');
    expect(blackFriday.length, '09:30-13:00 = 210 minutes').toBe(210);
    expect(nyse.expectedBarTimes(day('2024-11-28'), day('2024-11-29') - 1, '1m'), 'Thanksgiving').toEqual([]);
    expect(nyse.expectedBarTimes(day('2024-03-09'), day('2024-03-11') - 1, '1m'), 'weekend').toEqual([]);
  });

  it('next and previous jump over nights, weekends and holidays', () => {
    const fridayClose = Date.parse('2024-03-08T20:59:00Z');
    expect(new Date(nyse.next(fridayClose, '1m')).toISOString()).toBe('2024-03-11T13:30:00.000Z');
    expect(new Date(nyse.previous(Date.parse('2024-03-11T13:30:00Z'), '1m')).toISOString()).toBe('2024-03-08T20:59:00.000Z');
    expect(new Date(nyse.next(day('2024-03-28'), '1d')).toISOString().slice(0, 10), 'Good Friday 2024-03-29 skipped').toBe('2024-04-01');
  });

  it('always is every minute of every day; venues map to calendars', () => {
    const always = calendarForVenue('binance', { nasdaq: 'nyse' });
    expect(always.name).toBe('always');
    expect(always.countExpected(day('2024-03-09'), day('2024-03-10') - 1, '1m')).toBe(1_440);
    expect(calendarForVenue('nasdaq', { nasdaq: 'nyse' }).name).toBe('nyse');
  });
});

describeRealData('daily US equities file on the NYSE calendar', () => {
  it('finds exactly one gap across all symbols: FB on 2020-10-23', async () => {
    const { bars, rejected } = await readBarsCsv(DAILY_CSV);
    expect(rejected, 'the daily file reads cleanly').toEqual([]);
    const bySymbol = new Map<string, number[]>();
    for (const b of bars) {
      const list = bySymbol.get(b.symbol ?? '') ?? [];
      list.push(b.ts);
      bySymbol.set(b.symbol ?? '', list);
    }
    expect([...bySymbol.keys()].sort()).toEqual(['AAPL', 'AMZN', 'FB', 'GOOGL', 'NFLX', 'TSLA', '^GSPC']);
    const calendar = createCalendar('nyse');
    const window = { from: day('2019-01-01'), to: day('2020-12-31') };
    expect(calendar.countExpected(window.from, window.to, '1d'), 'NYSE had 505 sessions in 2019-2020').toBe(505);
    const gaps = [...bySymbol].flatMap(([symbol, times]) =>
      findTimeGaps(times, { venue: 'nyse', symbol, calendar, interval: '1d' }, window),
    );
    expect(
      gaps.map((g) => ({ symbol: g.symbol, from: new Date(g.from).toISOString().slice(0, 10), to: new Date(g.to).toISOString().slice(0, 10), bars: g.bars })),
      'the README says FB misses 2020-10-23 and every other symbol follows the NYSE calendar',
    ).toEqual([{ symbol: 'FB', from: '2020-10-23', to: '2020-10-23', bars: 1 }]);
  });
});
