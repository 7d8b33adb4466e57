import { createActor, waitFor, type ActorRefFrom } from 'xstate';
import type { FineTuneConfig, CandidateSink, SymbolStatus, AdaptationOutcome } from './index.ts';
import { fineTunerMachine } from './fine-tuner.machine.ts';
import { TrainingThread } from './training-thread.ts';
import { createFineTunerActors } from './fine-tuner.effects.ts';
import { predictorMachine } from './predictor.machine.ts';
import { createPredictorActors, type PredictorDeps } from './predictor.effects.ts';

export type PredictorsDeps = Omit<PredictorDeps, 'onTriggers'> & {
  /** Where fine-tuned candidates go (the lifecycle's gate and registry); none = no fine-tuning. */
  sink?: CandidateSink;
  /** Fine-tuning settings, or false to never fine-tune. */
  fineTune?: FineTuneConfig | false;
  onAdapted?: (outcome: AdaptationOutcome) => void;
  /** Run fine-tunes in this thread instead of a worker thread (tests of the machine only). */
  fineTuneInProcess?: boolean;
};

export type PredictorsHandle = {
  actor: ActorRefFrom<typeof predictorMachine>;
  fineTuner: ActorRefFrom<typeof fineTunerMachine> | undefined;
  /** Resolves once the durable consumer exists; rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** A symbol's status: `warming_up` (with bars seen / needed) or `ready`. */
  status(venue: string, symbol: string): SymbolStatus;
  statuses(): SymbolStatus[];
  /** Resolves when no fine-tune is running or queued. */
  fineTunesIdle(timeoutMs?: number): Promise<void>;
  /** A symbol's history is now in bars_1m: a symbol still warming up is warmed up from it (true when it was). */
  historyLoaded(venue: string, symbol: string): Promise<boolean>;
  /** Finishes the batch in hand, acks it, stops the consumer and the fine-tuner. */
  stop(): Promise<void>;
};

/**
 * Starts the hybrid predictor of this process: the predictor machine
 * consuming MD_BARS for every symbol, one confidence-weighter machine per
 * symbol, and the fineTuner machine building online models in the background.
 */
export function startPredictors(deps: PredictorsDeps): PredictorsHandle {
  const sink = deps.sink;
  let fineTuner: ActorRefFrom<typeof fineTunerMachine> | undefined;
  let thread: TrainingThread | undefined;
  if (sink && deps.fineTune !== false) {
    // Training runs in a worker thread with its own backend: this thread keeps ingesting and predicting.
    thread = deps.fineTuneInProcess ? undefined : new TrainingThread({ log: deps.log, backend: deps.settings.TFJS_BACKEND });
    const ft = createFineTunerActors({
      sink,
      log: deps.log,
      nc: deps.nc,
      ...(thread ? { tune: thread.fineTune } : {}),
      ...(deps.fineTune ? { config: deps.fineTune } : {}),
      ...(deps.onAdapted ? { onOutcome: deps.onAdapted } : {}),
    });
    fineTuner = createActor(fineTunerMachine.provide({ actors: ft.actors, actions: ft.actions }));
    fineTuner.start();
  }
  const ftRef = fineTuner;
  const logic = createPredictorActors({
    ...deps,
    onTriggers: (jobs) => {
      for (const job of jobs) ftRef?.send({ type: 'finetune.requested', job });
    },
  });
  const actor = createActor(predictorMachine.provide({ actors: { prepare: logic.prepare, consume: logic.consume } }));
  actor.start();
  return {
    actor,
    fineTuner,
    async ready(timeoutMs = 30_000) {
      const s = await waitFor(actor, (x) => x.matches('running') || x.status === 'done', { timeout: timeoutMs });
      if (!s.matches('running')) throw new Error(`predictor did not start: ${s.context.lastError ?? 'stopped'}`);
    },
    status: (venue, symbol) => logic.engine.status(venue, symbol),
    statuses: () => logic.engine.statuses(),
    historyLoaded: (venue, symbol) => logic.rewarm(venue, symbol),
    async fineTunesIdle(timeoutMs = 60_000) {
      if (!ftRef) return;
      await waitFor(ftRef, (s) => s.matches('idle') && s.context.queue.length === 0, { timeout: timeoutMs });
    },
    async stop() {
      if (actor.getSnapshot().status !== 'done') {
        actor.send({ type: 'predictor.stop' });
        await waitFor(actor, (s) => s.status === 'done', { timeout: 30_000 });
      }
      if (ftRef) {
        // Let a running fine-tune finish (it cannot be cut between tensor calls safely).
        await waitFor(ftRef, (s) => !s.matches('training'), { timeout: 120_000 }).catch(() => undefined);
        ftRef.send({ type: 'finetune.stop' });
      }
      await thread?.close();
      // Every batch already saved its weights before its ack; this covers anything changed since (drain).
      await logic.weighters?.flush().catch((err: unknown) => deps.log.warn({ err }, 'could not save the weighter snapshots on stop'));
      logic.engine.stop();
    },
  };
}
