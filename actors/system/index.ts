/** Public door of actors/system/. */
export * from './system.ts';
