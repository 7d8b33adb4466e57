import type { NeuralPredictor } from '../models/index.ts';
import { heldOutError, type AdaptationReport, type HeldOutError, type HeldOutSet } from './fine-tune.ts';
import type { ModelSource, ServingModel } from './model-source.ts';
import type { OnlineModelSlot } from './static-model-source.ts';
import type { FineTuneReason } from './hybrid-engine.ts';

/** A fine-tuned online model waiting for a decision. */
export type FineTuneCandidate = {
  readonly venue: string;
  readonly symbol: string;
  readonly version: string;
  /** The pretrained version it was copied from. */
  readonly parentVersion: string;
  readonly regime: string;
  readonly reason: FineTuneReason;
  readonly predictor: NeuralPredictor;
  readonly report: AdaptationReport;
  /** The recent windows none of the models trained on, with their outcomes. */
  readonly heldOut: HeldOutSet;
};

export type CandidateDecision = {
  readonly activated: boolean;
  readonly reason: string;
  readonly candidate: HeldOutError;
  /** The model it had to beat: the current online model, or the parent pretrained one before any exists. */
  readonly incumbent: HeldOutError & { readonly version: string };
};

/**
 * Where fine-tuned candidates go. The model lifecycle (issue 6) implements it
 * with its champion/challenger gate and the registry; `LocalGateSink` is the
 * stand-in until then. A sink owns the candidate's predictor from `submit` on
 * (it disposes it when it rejects it).
 */
export interface CandidateSink {
  submit(candidate: FineTuneCandidate): Promise<CandidateDecision>;
}

/**
 * Activates a candidate only if it beats the current online model (or, before
 * one exists, the pretrained model it came from) on the held-out recent window,
 * by MAE of the value, by at least `minImprovement` (relative).
 */
export class LocalGateSink implements CandidateSink {
  /** Models this sink activated: it owns them, and frees one once a better one replaces it. */
  private readonly owned = new Set<ServingModel>();

  constructor(
    private readonly models: ModelSource & OnlineModelSlot,
    private readonly options: { minImprovement?: number; onActivated?: (model: ServingModel, replaced: ServingModel | undefined) => void } = {},
  ) {}

  async submit(c: FineTuneCandidate): Promise<CandidateDecision> {
    const snap = this.models.snapshot(c.venue, c.symbol);
    const incumbentModel = snap.online;
    const incumbent: CandidateDecision['incumbent'] = incumbentModel
      ? { ...heldOutError(incumbentModel.predictor, c.heldOut), version: incumbentModel.version }
      : { ...c.report.before, version: c.parentVersion };
    const candidate = c.report.after;
    const need = incumbent.mae * (1 - (this.options.minImprovement ?? 0));
    const wins = candidate.mae < need;
    if (!wins) {
      c.predictor.dispose();
      return {
        activated: false,
        reason: `held-out MAE ${candidate.mae.toExponential(3)} does not beat ${incumbent.version} (${incumbent.mae.toExponential(3)})`,
        candidate,
        incumbent,
      };
    }
    const model: ServingModel = { role: 'online', version: c.version, regime: c.regime, predictor: c.predictor };
    this.models.setOnline(c.venue, c.symbol, model);
    this.owned.add(model);
    this.options.onActivated?.(model, incumbentModel);
    // Safe between bars: predictors take a new snapshot per step and never hold the old one across an await.
    if (incumbentModel && this.owned.delete(incumbentModel)) incumbentModel.predictor.dispose();
    return {
      activated: true,
      reason: `held-out MAE ${candidate.mae.toExponential(3)} beats ${incumbent.version} (${incumbent.mae.toExponential(3)})`,
      candidate,
      incumbent,
    };
  }
}
