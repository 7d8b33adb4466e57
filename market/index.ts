/** Public door of market/: bars files, bar-to-tick conversion, the synthetic generator. Pure: no NATS, no SQL. */
export * from './bars-csv.ts';
export * from './bar-to-ticks.ts';
export * from './decimal.ts';
export * from './synth.ts';
export * from './write-bars-csv.ts';
export { mulberry32, mixSeed, type Prng } from './prng.ts';
export { checkBar, parseDecimal, type FieldProblem } from './bar-checks.ts';
export { parseTimestamp, checkEpochMs, type TimestampResult } from './timestamp.ts';
export * from './replay-messages.ts';
