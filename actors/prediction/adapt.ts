import type { CandidateDecision, CandidateSink } from './candidate-sink.ts';
import { DEFAULT_FINE_TUNE, fineTune, type AdaptationReport, type FineTuneConfig } from './fine-tune.ts';
import type { FineTuneRunner } from './training-thread.ts';
import type { FineTuneTrigger } from './hybrid-engine.ts';

/** Outcome of one fine-tune: the candidate's version, its adaptation quality and what the sink decided. */
export type AdaptationOutcome = {
  readonly version: string;
  readonly trigger: Pick<FineTuneTrigger, 'venue' | 'symbol' | 'reason' | 'ts'> & { baseVersion: string; bars: number };
  readonly report: AdaptationReport;
  readonly decision: CandidateDecision;
};

/** Version of the online model fine-tuned for a symbol from `base` on bars up to `ts`. */
export const onlineVersion = (t: Pick<FineTuneTrigger, 'venue' | 'symbol' | 'ts' | 'base'>): string =>
  `${t.base.version}+ft.${t.venue}.${t.symbol}.${t.ts}`;

/**
 * One adaptation step: fine-tune a copy of the trigger's base model on its bars
 * (with `tune`: in production a worker thread, so the training never runs where
 * bars are predicted) and hand the candidate to the sink.
 */
export async function adaptOnline(
  trigger: FineTuneTrigger,
  sink: CandidateSink,
  config: FineTuneConfig = DEFAULT_FINE_TUNE,
  options: { tune?: FineTuneRunner } = {},
): Promise<AdaptationOutcome> {
  const version = onlineVersion(trigger);
  const tune: FineTuneRunner = options.tune ?? ((base, bars, v, c) => fineTune(base, bars, v, c));
  const result = await tune(trigger.base.predictor, trigger.bars, version, config);
  const decision = await sink.submit({
    venue: trigger.venue,
    symbol: trigger.symbol,
    version,
    parentVersion: trigger.base.version,
    regime: trigger.base.regime,
    reason: trigger.reason,
    predictor: result.predictor,
    report: result.report,
    heldOut: result.heldOut,
  });
  return {
    version,
    trigger: { venue: trigger.venue, symbol: trigger.symbol, reason: trigger.reason, ts: trigger.ts, baseVersion: trigger.base.version, bars: trigger.bars.length },
    report: result.report,
    decision,
  };
}
