/**
 * Public door of quality/: trading calendars, gap detection and filling, history
 * providers, consistency checks, per-symbol health and its board, event schemas.
 * Pure logic, plus adapters that take their db / js as parameters.
 */
export * from './types.ts';
export { createCalendar, calendarForVenue, type TradingCalendar, type CalendarSpec, type CalendarMap } from './calendar.ts';
export { nyseHolidays, nyseEarlyCloses, NYSE_SPECIAL_CLOSURES } from './nyse-holidays.ts';
export * from './gaps.ts';
export * from './history-provider.ts';
export { createCsvDirHistory, type CsvDirHistoryOptions } from './csv-dir-history.ts';
export { createDbHistory, venueHistory } from './db-history.ts';
export * from './fill-gap.ts';
export { barProblem } from './bar-sanity.ts';
export * from './checks.ts';
export * from './health.ts';
export * from './quality-board.ts';
export * from './events.schema.ts';
export * from './bar-feed.ts';
export * from './ticker.ts';
export * from './backfill.effects.ts';
export * from './backfill.machine.ts';
export * from './bar-validation.ts';
export * from './quality-supervisor.ts';
export { startHistoryLoader, type HistoryLoad, type HistoryLoaderDeps, type HistoryLoaderHandle } from './history-loader.ts';
