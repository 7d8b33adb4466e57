import {
  createBaselines,
  encodeModel,
  forecastMetrics,
  packArtifact,
  type FeatureWindow,
  type Forecast,
  type ForecastMetrics,
  type Predictor,
} from '../../models/index.ts';
import type { CandidateDecision, CandidateSink, FineTuneCandidate } from '../prediction/index.ts';
import type { ModelSource } from '../prediction/index.ts';
import { getVersion } from '../../sql/index.ts';
import { decideGate, type GateConfig } from './gate.ts';
import { windowLosses } from './paired-bootstrap.ts';
import { activateVersion, registerCandidate, rejectVersion, type RegistryEnv } from './registry.ts';
import { scopeOf } from './versions.ts';

const fill = (fs: readonly (Forecast | undefined)[]): Forecast[] => fs.map((f) => f ?? { value: 0, pUp: 0.5 });

/** Metrics and per-window losses of a predictor on the held-out windows. */
function judge(p: Predictor, windows: readonly FeatureWindow[], actual: Float64Array): { metrics: ForecastMetrics; losses: Float64Array } {
  const forecasts = fill(p.predictBatch(windows));
  return { metrics: forecastMetrics(actual, forecasts), losses: windowLosses(actual, forecasts) };
}

const heldOut = (m: ForecastMetrics) => ({ mae: m.mae, directionAccuracy: m.directionAccuracy, brier: m.brier });

/**
 * Where the fine-tuner's online candidates go in production (prediction/
 * `CandidateSink`): every candidate is registered (role `online`, lineage to the
 * pretrained version it was tuned from), judged by the champion/challenger gate
 * against the incumbent (the symbol's online model, or before one exists the
 * parent pretrained model) on the candidate's held-out window, then activated
 * through KV `model_active` (every predictor process swaps to it) or rejected
 * with the reasons published. Owns the candidate's predictor from `submit` on.
 */
export class RegistryCandidateSink implements CandidateSink {
  constructor(
    private readonly opts: { env: RegistryEnv; models: ModelSource; gate?: Partial<GateConfig>; actor?: string; keep?: number },
  ) {}

  async submit(c: FineTuneCandidate): Promise<CandidateDecision> {
    const { env } = this.opts;
    const scope = scopeOf(c.venue, c.symbol);
    try {
      const { windows, actual } = c.heldOut;
      const snap = this.opts.models.snapshot(c.venue, c.symbol);
      const incumbentModel = snap.online ?? snap.pretrained.find((m) => m.version === c.parentVersion);
      const challengerJ = judge(c.predictor, windows, actual);
      const incumbentJ = incumbentModel ? judge(incumbentModel.predictor, windows, actual) : undefined;
      const challenger = challengerJ.metrics;
      const incumbent = incumbentJ?.metrics;
      const baselines: Record<string, ForecastMetrics> = {};
      const baselineLosses: Record<string, Float64Array> = {};
      for (const b of createBaselines(c.predictor.lookback, c.predictor.preprocessor.horizon)) {
        const j = judge(b, windows, actual);
        baselines[b.kind] = j.metrics;
        baselineLosses[b.kind] = j.losses;
      }
      // An online model joins the blend beside the model it was tuned from: it must be non-inferior to it.
      const gate = decideGate({
        scope,
        mode: 'online',
        challenger,
        champion: incumbent,
        baselines,
        losses: { challenger: challengerJ.losses, ...(incumbentJ ? { champion: incumbentJ.losses } : {}), baselines: baselineLosses },
        ...(this.opts.gate ? { config: this.opts.gate } : {}),
      });
      const comparison: Record<string, unknown> = { ...gate, championVersion: incumbentModel?.version ?? null, window: 'fine-tune held-out' };

      const packed = packArtifact(await encodeModel(c.predictor.model, c.predictor.preprocessor));
      const parentKnown = (await getVersion(env.db, c.parentVersion)) !== undefined;
      const version = await registerCandidate(env.db, {
        scope,
        role: 'online',
        kind: c.predictor.kind,
        regime: c.regime,
        runId: c.predictor.preprocessor.runId,
        artifact: packed,
        ...(parentKnown ? { parentVersion: c.parentVersion } : {}),
        params: { fineTune: c.reason, localVersion: c.version, parent: c.parentVersion, report: c.report },
        metrics: { test: challenger, baselines, gate: comparison },
      });
      const incumbentOut = { ...(incumbent ? heldOut(incumbent) : c.report.before), version: incumbentModel?.version ?? c.parentVersion };
      if (gate.decision === 'reject') {
        await rejectVersion(env, { version, kind: 'rejected', reasons: gate.reasons, actor: this.opts.actor ?? 'fine-tune-gate', stage: 'gate', comparison });
        return { activated: false, reason: `${version} rejected: ${gate.reasons.join('; ')}`, candidate: c.report.after, incumbent: incumbentOut };
      }
      await activateVersion(env, {
        version,
        reason: `fine-tuned (${c.reason}) from ${c.parentVersion}; non-inferior to ${incumbentOut.version} on the held-out window`,
        actor: this.opts.actor ?? 'fine-tune-gate',
        comparison,
        ...(this.opts.keep !== undefined ? { keep: this.opts.keep } : {}),
      });
      return { activated: true, reason: `${version} activated: passed the gate against ${incumbentOut.version}`, candidate: c.report.after, incumbent: incumbentOut };
    } finally {
      // The serving copy is loaded from the registry by every process's KvModelSource.
      c.predictor.dispose();
    }
  }
}
