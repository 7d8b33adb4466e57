/** Public door of actors/ingest/. */
export * from './bar-lane.ts';
export * from './market-sync.machine.ts';
export * from './market-sync.ts';
export * from './minute-tracker.ts';
export * from './tick-consume-loop.ts';
