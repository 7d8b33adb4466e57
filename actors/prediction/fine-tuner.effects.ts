import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromPromise } from 'xstate';
import { SignalsError, type Logger } from '../../config/index.ts';
import { adaptOnline, DEFAULT_FINE_TUNE, type AdaptationOutcome, type CandidateSink, type FineTuneConfig } from './index.ts';
import { publishJson, retrainResultSchema, subjects, type RetrainResult } from '../../streams/index.ts';
import type { FineTuneJob } from './fine-tuner.machine.ts';
import type { FineTuneRunner } from './training-thread.ts';

export type FineTunerDeps = {
  sink: CandidateSink;
  log: Logger;
  config?: FineTuneConfig;
  /** Publishes `model.retrain.result` for jobs that answer a `model.retrain.cmd` (omit in unit tests). */
  nc?: NatsConnection;
  /** Where the training runs (production: a `TrainingThread`); default in this thread. */
  tune?: FineTuneRunner;
  /** Called after every finished fine-tune (tests, status). */
  onOutcome?: (outcome: AdaptationOutcome) => void;
};

/** The result message of a finished (or failed) retrain request. */
export function retrainResult(requestId: string, outcome: AdaptationOutcome | undefined, error?: unknown): RetrainResult {
  if (!outcome) {
    return { requestId, status: 'failed', deployed: false, error: error instanceof Error ? error.message : String(error) };
  }
  return retrainResultSchema.parse({
    requestId,
    status: 'succeeded',
    version: outcome.version,
    deployed: outcome.decision.activated,
    metrics: { ...outcome.report, trigger: outcome.trigger },
    comparison: { reason: outcome.decision.reason, candidate: outcome.decision.candidate, incumbent: outcome.decision.incumbent },
  });
}

/**
 * Effects of the fineTuner machine: `adapt` (fine-tune in the background and
 * hand the candidate to the sink) and the reporting actions (log the adaptation
 * quality, answer `model.retrain.cmd` requests on `model.retrain.result`).
 */
export function createFineTunerActors(deps: FineTunerDeps) {
  const log = deps.log.child({ actor: 'fineTuner' });
  const js = deps.nc ? jetstream(deps.nc) : undefined;
  const config = deps.config ?? DEFAULT_FINE_TUNE;
  const publish = (result: RetrainResult) => {
    if (!js) return;
    publishJson(js, { subject: subjects.retrainResult, payload: result, msgId: `retrain-result:${result.requestId}` }).catch((err: unknown) =>
      log.warn({ err, requestId: result.requestId }, 'could not publish the retrain result'),
    );
  };
  return {
    actors: {
      adapt: fromPromise<AdaptationOutcome, FineTuneJob>(({ input }) => adaptOnline(input.trigger, deps.sink, config, deps.tune ? { tune: deps.tune } : {})),
    },
    actions: {
      reported: (_: unknown, params: { job: FineTuneJob | undefined; outcome: AdaptationOutcome }) => {
        const { outcome, job } = params;
        log.info(
          {
            venue: outcome.trigger.venue,
            symbol: outcome.trigger.symbol,
            reason: outcome.trigger.reason,
            version: outcome.version,
            maeBefore: outcome.report.before.mae,
            maeAfter: outcome.report.after.mae,
            maeImprovement: outcome.report.maeImprovement,
            epochs: outcome.report.epochsRan,
            ms: Math.round(outcome.report.ms),
            activated: outcome.decision.activated,
          },
          `online model fine-tuned: ${outcome.decision.reason}`,
        );
        deps.onOutcome?.(outcome);
        if (job?.requestId !== undefined) publish(retrainResult(job.requestId, outcome));
      },
      failed: (_: unknown, params: { job: FineTuneJob | undefined; error: unknown }) => {
        const retryable = params.error instanceof SignalsError ? params.error.retryable : undefined;
        log.warn({ err: params.error, retryable, symbol: params.job?.trigger.symbol, reason: params.job?.trigger.reason }, 'fine-tune did not produce a candidate');
        if (params.job?.requestId !== undefined) publish(retrainResult(params.job.requestId, undefined, params.error));
      },
    },
  };
}
