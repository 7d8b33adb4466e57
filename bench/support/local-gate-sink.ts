import {
  heldOutError,
  type CandidateDecision,
  type CandidateSink,
  type FineTuneCandidate,
  type ModelSource,
  type OnlineModelSlot,
  type ServingModel,
} from '../../actors/prediction/index.ts';

/*
 * A stand-in for the model lifecycle's candidate sink, for the walk-forward benchmark
 * and the predictor's fine-tuning tests: it decides candidates in process. Production
 * hands candidates to the lifecycle (RegistryCandidateSink), never to this.
 */

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
