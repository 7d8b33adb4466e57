/** Public door of sql/: pool, migrations, TimescaleDB detection, typed repositories. */
export * from './pool.ts';
export * from './migrate.ts';
export * from './timescale.ts';
export * from './ticks.repo.ts';
export * from './bars.repo.ts';
export * from './ingest-state.repo.ts';
export * from './predictions.repo.ts';
export * from './prediction-accuracy.repo.ts';
export * from './snapshots.repo.ts';
export * from './gaps.repo.ts';
export * from './model-artifacts.repo.ts';
export * from './quality.repo.ts';
export * from './registry.repo.ts';
export * from './dashboard.repo.ts';
export * from './rollouts.repo.ts';
