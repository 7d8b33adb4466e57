import type { NeuralPredictor } from '../../models/index.ts';
import type { AdaptationReport, HeldOutError, HeldOutSet } from './fine-tune.ts';
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
 * Where fine-tuned candidates go. The model lifecycle implements it with its
 * champion/challenger gate and the registry (`RegistryCandidateSink`). A sink owns
 * the candidate's predictor from `submit` on (it disposes it when it rejects it).
 */
export interface CandidateSink {
  submit(candidate: FineTuneCandidate): Promise<CandidateDecision>;
}
