import { packArtifact, readArtifactDir, type PackedArtifact } from '../../models/index.ts';
import type { VersionRow } from '../../sql/index.ts';
import type { GateDecision } from './gate.ts';
import { activateVersion, LifecycleError, registerCandidate, rejectVersion, type CandidateInput, type RegistryEnv } from './registry.ts';
import type { GateMode, Judgement } from './retrain-judgement.ts';
import type { RetrainConfig, RetrainRequest } from './retrain-request.ts';
import type { TrainedCandidate } from './retrain-training.ts';
import { startShadow } from './rollout-steps.ts';
import type { VerificationReport } from './verification.ts';
import { majorFor } from './versions.ts';

/**
 * The registry side of a retrain: the trained model is registered as a candidate,
 * and after its judgement either activated or rejected (by the gate, or by the
 * verification).
 */

/** Input layout of a model (lookback/horizon/volWindow): a new layout starts a new major version. */
export function layout(p: { lookback?: unknown; horizon?: unknown; volWindow?: unknown }): string {
  return `${String(p.lookback)}/${String(p.horizon)}/${String(p.volWindow)}`;
}

/** The registry row of a trained candidate, a child of the champion it is meant to replace. */
export function candidateInput(req: RetrainRequest, c: RetrainConfig, champion: VersionRow | undefined, trained: TrainedCandidate, artifact: PackedArtifact): CandidateInput {
  const s = trained.summary;
  const parentLayout = champion ? layout(champion.params) : '';
  return {
    scope: req.scope,
    role: c.role,
    kind: c.kind,
    regime: c.regime,
    runId: s.runId,
    artifact,
    params: { ...trained.config, trigger: req.trigger, requestId: req.requestId },
    metrics: { trainReported: s.test, bestEpoch: s.bestEpoch, epochsRan: s.epochsRan, testWindow: { fromTs: s.data.test.fromTs, toTs: s.data.test.toTs } },
    ...(champion ? { parentVersion: champion.version } : {}),
    ...(s.data.fromTs !== null ? { dataFrom: s.data.fromTs } : {}),
    ...(s.data.toTs !== null ? { dataTo: s.data.toTs } : {}),
    major: majorFor(champion ? { version: champion.version, kind: champion.kind, layout: parentLayout } : undefined, { kind: c.kind, layout: layout(trained.config) }),
  };
}

/** Packs the best checkpoint and registers it as a candidate. Returns its version. */
export async function registerRetrainCandidate(env: RegistryEnv, req: RetrainRequest, c: RetrainConfig, champion: VersionRow | undefined, trained: TrainedCandidate): Promise<string> {
  const packed = packArtifact(await readArtifactDir(trained.bestDir));
  return registerCandidate(env.db, candidateInput(req, c, champion, trained, packed), (env.now ?? Date.now)());
}

/** What becomes of a judged candidate. A gate rejection is reported before a failed verification: it says more. */
export function promotionStep(gate: Pick<GateDecision, 'decision'>, verification: Pick<VerificationReport, 'ok'>): 'reject' | 'verification_failed' | 'activate' {
  if (gate.decision === 'reject') return 'reject';
  if (!verification.ok) return 'verification_failed';
  return 'activate';
}

/** Why a candidate was activated, for the deployment row and the event. */
export function activationReason(a: { mode: GateMode; scope: string; trigger: string; champion: string | undefined; incumbent: string | undefined }): string {
  if (a.mode === 'online') return `online model non-inferior to ${a.incumbent ?? 'the naive baselines'} (retrain ${a.trigger})`;
  if (a.champion !== undefined) return `challenger beat champion ${a.champion} (retrain ${a.trigger})`;
  return `first model of ${a.scope} (passed the floor and the naive baselines)`;
}

export type PromotionArgs = {
  version: string;
  mode: GateMode;
  req: RetrainRequest;
  judgement: Judgement;
  champion: VersionRow | undefined;
  incumbent: VersionRow | undefined;
  keep: number | undefined;
  /** `staged`: a challenger with a champion starts a rollout (shadow) instead of being activated. */
  rollout?: 'staged' | 'immediate' | undefined;
};

/**
 * Activates or rejects the judged candidate; a challenger of a serving champion
 * with staged rollouts starts its shadow instead (`rollout`). `error` says why a
 * candidate that passed the gate was still not deployed.
 */
export async function promoteOrReject(env: RegistryEnv, a: PromotionArgs): Promise<{ deployed: boolean; error?: string; rollout?: { id: number; stage: 'shadow' } }> {
  const { gate, verification, comparison } = a.judgement;
  switch (promotionStep(gate, verification)) {
    case 'reject':
      await rejectVersion(env, { version: a.version, kind: 'rejected', reasons: gate.reasons, actor: 'gate', stage: 'gate', comparison });
      return { deployed: false };
    case 'verification_failed':
      await rejectVersion(env, { version: a.version, kind: 'verification_failed', reasons: verification.reasons, actor: 'verification', stage: 'verification', comparison });
      return { deployed: false, error: `verification failed: ${verification.reasons.join('; ')}` };
    case 'activate':
      if (a.rollout === 'staged' && a.mode === 'challenger' && a.champion) {
        try {
          const res = await startShadow(env, { version: a.version, champion: a.champion.version, reason: `${activationReason({ mode: a.mode, scope: a.req.scope, trigger: a.req.trigger, champion: a.champion.version, incumbent: a.incumbent?.version })}: shadow first` });
          return { deployed: false, rollout: { id: res.rollout.id, stage: 'shadow' } };
        } catch (err) {
          if (err instanceof LifecycleError) return { deployed: false, error: `passed the gate, not rolled out: ${err.message}` };
          throw err;
        }
      }
      await activateVersion(env, {
        version: a.version,
        reason: activationReason({ mode: a.mode, scope: a.req.scope, trigger: a.req.trigger, champion: a.champion?.version, incumbent: a.incumbent?.version }),
        actor: `retrain:${a.req.trigger}`,
        comparison,
        ...(a.keep !== undefined ? { keep: a.keep } : {}),
      });
      return { deployed: true };
  }
}
