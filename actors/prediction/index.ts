/**
 * Public door of prediction/: the hybrid predictor's pure core (regimes and
 * cold-start model choice, confidence weighting, drift detection, the engine that
 * blends and micro-batches), Phase 1 pretraining, online fine-tuning, the
 * candidate hand-off to the model lifecycle, and the in-memory model source.
 */
export * from './model-source.ts';
export * from './rollout-plan.ts';
export * from './static-model-source.ts';
export * from './regimes.ts';
export * from './weighter.ts';
export * from './weight-keeper.ts';
export * from './drift.ts';
export * from './weights.schema.ts';
export * from './hybrid-engine.ts';
export * from './fine-tune.ts';
export * from './outcome-feed.ts';
export { TrainingThread, type FineTuneRunner } from './training-thread.ts';
export * from './candidate-sink.ts';
export * from './pretrain.ts';
export * from './adapt.ts';
export * from './evaluate.ts';
export * from './confidence-weighter.effects.ts';
export * from './predictor.effects.ts';
export * from './predictor.machine.ts';
export * from './predictor.ts';
export * from './signal-evaluation.ts';
