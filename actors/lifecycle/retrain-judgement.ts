import { loadPredictor, type NeuralPredictor } from '../../models/index.ts';
import type { Db, VersionRow } from '../../sql/index.ts';
import { decideGate, type GateConfig, type GateDecision, type GateInput } from './gate.ts';
import { errMsg, RetrainRequestError } from './retrain-request.ts';
import type { TrainedCandidate } from './retrain-training.ts';
import type { TrainSummary } from './trainer.ts';
import { backendBytes, evaluateOnWindow, verifyCandidate, type VerificationLimits, type VerificationReport, type WindowEvaluation } from './verification.ts';

/**
 * The judgement of a registered candidate: it and the incumbent are evaluated on
 * the candidate's held-out test window, then the gate (pure, fast) and the
 * verification (accuracy and performance, each with a timeout) run side by side.
 */

/** `challenger`: a pretrained model against the champion; `online`: a fine-tuned model joining the blend. */
export type GateMode = 'challenger' | 'online';

export type Judgement = {
  gate: GateDecision;
  verification: VerificationReport;
  /** The gate's decision with the version it was compared with (deployment row, result). */
  comparison: Record<string, unknown>;
  /** The candidate's metrics as the retrain result reports them. */
  metrics: Record<string, unknown>;
  /** What is merged into the version's metrics in the registry. */
  versionMetrics: Record<string, unknown>;
};

export type JudgeArgs = {
  db: Db;
  scope: string;
  version: string;
  mode: GateMode;
  trained: TrainedCandidate;
  incumbent: VersionRow | undefined;
  gate: Partial<GateConfig> | undefined;
  verification: Partial<VerificationLimits> | undefined;
  /** Predictors loaded for judging. The caller owns them: it disposes them once the run is finished, whatever happened. */
  predictors: NeuralPredictor[];
};

export async function judgeCandidate(a: JudgeArgs): Promise<Judgement> {
  const s = a.trained.summary;
  const { fromTs, toTs } = s.data.test;
  if (fromTs === null || toTs === null) throw new RetrainRequestError('training left no test window to judge the candidate on');
  // The candidate is loaded back from the registry: the bytes checked are the bytes that will serve.
  const before = backendBytes();
  const candidate = await loadPredictor({ version: a.version, db: a.db });
  a.predictors.push(candidate);
  const memoryBytes = Math.max(0, backendBytes() - before);
  // Every model is judged the same way, on the same held-out window it never trained on.
  const challenger = evaluateOnWindow(candidate, a.trained.bars, fromTs, toTs);
  const incumbent = await evaluateIncumbent(a, fromTs, toTs);
  const gateInput = gateInputFor(a.scope, a.mode, challenger, incumbent.evaluation, a.gate);
  const [gate, verification] = await Promise.all([
    Promise.resolve().then(() => decideGate(gateInput)),
    verifyCandidate({
      predictor: candidate,
      bars: a.trained.bars,
      fromTs,
      toTs,
      memoryBytes,
      reported: { directionAccuracy: s.test.directionAccuracy },
      limits: a.verification,
    }),
  ]);
  return { gate, verification, ...judgementRecord({ gate, verification, challenger, incumbentVersion: a.incumbent?.version, note: incumbent.note, trainReported: s.test }) };
}

/**
 * The incumbent on the same window. One that cannot be evaluated (its artifact
 * gone, another layout) does not stop the run: the candidate is then judged
 * against the naive baselines, and the note says so.
 */
async function evaluateIncumbent(a: JudgeArgs, fromTs: number, toTs: number): Promise<{ evaluation: WindowEvaluation | undefined; note: string | undefined }> {
  if (!a.incumbent) return { evaluation: undefined, note: undefined };
  try {
    const predictor = await loadPredictor({ version: a.incumbent.version, db: a.db });
    a.predictors.push(predictor);
    return { evaluation: evaluateOnWindow(predictor, a.trained.bars, fromTs, toTs), note: undefined };
  } catch (err) {
    return {
      evaluation: undefined,
      note: `incumbent ${a.incumbent.version} could not be evaluated on this window (${errMsg(err)}); the candidate was judged against the naive baselines`,
    };
  }
}

/** The gate's input: metrics and per-window losses of the candidate, the incumbent (when evaluated) and the baselines. */
export function gateInputFor(
  scope: string,
  mode: GateMode,
  challenger: WindowEvaluation,
  incumbent: WindowEvaluation | undefined,
  config: Partial<GateConfig> | undefined,
): GateInput {
  return {
    scope,
    mode,
    challenger: challenger.model,
    champion: incumbent?.model,
    baselines: challenger.baselines,
    losses: { challenger: challenger.losses.model, ...(incumbent ? { champion: incumbent.losses.model } : {}), baselines: challenger.losses.baselines },
    ...(mode === 'challenger' && challenger.volatility ? { volatility: { challenger: challenger.volatility, champion: incumbent?.volatility } } : {}),
    ...(config ? { config } : {}),
  };
}

/** What the judgement leaves behind: the comparison, the result's metrics and the registry's. */
export function judgementRecord(j: {
  gate: GateDecision;
  verification: VerificationReport;
  challenger: WindowEvaluation;
  incumbentVersion: string | undefined;
  note: string | undefined;
  trainReported: TrainSummary['test'];
}): Pick<Judgement, 'comparison' | 'metrics' | 'versionMetrics'> {
  const comparison: Record<string, unknown> = { ...j.gate, championVersion: j.incumbentVersion ?? null, ...(j.note ? { note: j.note } : {}) };
  const metrics: Record<string, unknown> = { test: j.challenger.model, baselines: j.challenger.baselines, trainReported: j.trainReported, verification: j.verification };
  const versionMetrics: Record<string, unknown> = { test: j.challenger.model, baselines: j.challenger.baselines, gate: comparison, verification: j.verification };
  return { comparison, metrics, versionMetrics };
}
