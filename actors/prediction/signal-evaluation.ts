import type { FeatureSpec, HorizonOutcome, OhlcvBar, SignalSettings } from '../../models/index.ts';
import type { Prediction } from '../../streams/index.ts';
import { HybridEngine } from './hybrid-engine.ts';
import type { ModelSource } from './model-source.ts';

export type SignalEvaluation = {
  /** Every horizon that realised, with what the blend and each component had forecast. */
  readonly outcomes: HorizonOutcome[];
  /** The predictions a live predictor would have published for these bars (with these models). */
  readonly predictions: Prediction[];
};

/**
 * Replays a bar series through the same HybridEngine the live predictor runs,
 * bar by bar, with the given models and no fine-tuning (an online model is
 * trained in the background live; here the learned side is what `models`
 * serves). The forecasts are the live path's for the same bars and models, and
 * the outcomes are scored as live scores them: this is `signals evaluate`.
 */
export function evaluateSignals(
  bars: readonly OhlcvBar[],
  options: { venue: string; symbol: string; models: ModelSource; spec: FeatureSpec; signals?: SignalSettings },
): SignalEvaluation {
  const engine = new HybridEngine(options.models, { spec: options.spec, ...(options.signals ? { signals: options.signals } : {}) }, { now: () => 0 });
  const outcomes: HorizonOutcome[] = [];
  const predictions: Prediction[] = [];
  try {
    for (const bar of bars) {
      const r = engine.step([{ ...bar, venue: options.venue, symbol: options.symbol }]);
      for (const o of r.outputs) if (!o.replayed) predictions.push(o.prediction);
      for (const s of r.outcomes) outcomes.push(...s.outcomes);
    }
  } finally {
    engine.stop();
  }
  return { outcomes, predictions };
}
