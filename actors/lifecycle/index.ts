/** Public door of actors/lifecycle/. */
export * from './kv-model-source.ts';
export * from './model-lifecycle.machine.ts';
export * from './model-lifecycle.ts';
export * from './phase1-pretrain.ts';
export * from './registry-candidate-sink.ts';
export * from './registry.ts';
export * from './verification.ts';
export * from './versions.ts';
export * from './weights-score-feed.ts';
