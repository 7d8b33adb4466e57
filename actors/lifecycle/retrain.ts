import type { Logger } from '../../config/index.ts';
import type { NeuralPredictor } from '../../models/index.ts';
import { activeVersions, mergeVersionMetrics, updateRetrainRun, type VersionRow } from '../../sql/index.ts';
import { publishJson, retrainResultSchema, subjects, type RetrainResult } from '../../streams/index.ts';
import type { RegistryEnv } from './registry.ts';
import { judgeCandidate } from './retrain-judgement.ts';
import { promoteOrReject, registerRetrainCandidate } from './retrain-promotion.ts';
import { errMsg, parseRetrainConfig, type RetrainConfig, type RetrainDeps, type RetrainRequest } from './retrain-request.ts';
import { trainWithRetries, type TrainedCandidate } from './retrain-training.ts';
import { ANY_REGIME, GLOBAL_SCOPE } from './versions.ts';

export { retrainConfigSchema, RetrainRequestError, type RetrainConfig, type RetrainDeps, type RetrainRequest } from './retrain-request.ts';

/**
 * One retrain request, end to end: (feedback policy) -> training in a child
 * process, retried with backoff -> candidate registered -> champion re-evaluated
 * on the challenger's test window -> gate and verification side by side ->
 * activate, or reject -> result on `model.retrain.result`.
 */

/** One run in progress: what it was given, and its logger. */
type RetrainRun = { deps: RetrainDeps; req: RetrainRequest; log: Logger };

/** The models a candidate is measured against: the champion of its role, else (online) the pretrained one serving. */
type Incumbents = { champion: VersionRow | undefined; incumbent: VersionRow | undefined };

async function publishResult(deps: RetrainDeps, result: RetrainResult): Promise<RetrainResult> {
  const checked = retrainResultSchema.parse(result);
  await publishJson(deps.env.js, { subject: subjects.retrainResult, payload: checked, msgId: `retrain-result:${checked.requestId}` });
  return checked;
}

/** Records the run's end in retrain_runs and publishes its result. */
async function finish(run: RetrainRun, r: RetrainResult, status: 'succeeded' | 'failed' | 'skipped', attempts?: number): Promise<RetrainResult> {
  await updateRetrainRun(run.deps.env.db, run.req.requestId, {
    status,
    ...(attempts !== undefined ? { attempts } : {}),
    version: r.version ?? null,
    deployed: r.deployed,
    metrics: r.metrics ?? null,
    comparison: r.comparison ?? null,
    error: r.error ?? null,
    finished: true,
  });
  run.log.info({ status, version: r.version, deployed: r.deployed, error: r.error }, 'retrain finished');
  return publishResult(run.deps, r);
}

/** Runs one request to its end and publishes the result. Never throws for a failed training: that is a result. */
export async function runRetrain(deps: RetrainDeps, req: RetrainRequest): Promise<RetrainResult> {
  const run: RetrainRun = { deps, req, log: deps.env.log.child({ requestId: req.requestId, scope: req.scope }) };
  const parsed = parseRetrainConfig(req.config);
  if (!parsed.ok) return finish(run, { requestId: req.requestId, status: 'failed', deployed: false, error: parsed.error }, 'failed', 0);
  const c = parsed.config;
  const models = await incumbentsOf(deps.env.db, req.scope, c);
  const training = await trainWithRetries(deps, req, c, run.log);
  if (!training.trained) {
    const error = `training failed after ${training.attempts} attempt(s): ${errMsg(training.lastError)}`;
    await failedForGood(deps, req, c.role, models.champion?.version, training.attempts, error);
    return finish(run, { requestId: req.requestId, status: 'failed', deployed: false, error }, 'failed', training.attempts);
  }
  return settleCandidate(run, c, models, training.trained, training.attempts);
}

async function incumbentsOf(db: RegistryEnv['db'], scope: string, c: RetrainConfig): Promise<Incumbents> {
  const champion = await servingChampion(db, scope, c.role, c.regime);
  // An online model serves beside the pretrained one: without an online incumbent it is judged against that.
  const incumbent = champion ?? (c.role === 'online' ? await servingChampion(db, scope, 'pretrained', c.regime) : undefined);
  return { champion, incumbent };
}

/**
 * Registers the trained model, judges it and activates or rejects it. A failure
 * after registration fails the run (the candidate stays in the registry, never
 * active); a failure to register is an infrastructure failure and is thrown.
 */
async function settleCandidate(run: RetrainRun, c: RetrainConfig, models: Incumbents, trained: TrainedCandidate, attempts: number): Promise<RetrainResult> {
  const { deps, req, log } = run;
  const { env } = deps;
  const version = await registerRetrainCandidate(env, req, c, models.champion, trained);
  log.info({ version, champion: models.champion?.version, incumbent: models.incumbent?.version }, 'candidate registered');
  const mode = c.role === 'online' ? 'online' : 'challenger';
  const predictors: NeuralPredictor[] = [];
  try {
    const judgement = await judgeCandidate({ db: env.db, scope: req.scope, version, mode, trained, incumbent: models.incumbent, gate: deps.gate, verification: deps.verification, predictors });
    await mergeVersionMetrics(env.db, version, judgement.versionMetrics);
    const outcome = await promoteOrReject(env, { version, mode, req, judgement, champion: models.champion, incumbent: models.incumbent, keep: deps.keep, rollout: deps.rollout });
    const { metrics } = judgement;
    const comparison = outcome.rollout ? { ...judgement.comparison, rollout: outcome.rollout } : judgement.comparison;
    return finish(
      run,
      { requestId: req.requestId, status: 'succeeded', version, deployed: outcome.deployed, metrics, comparison, ...(outcome.error !== undefined ? { error: outcome.error } : {}) },
      'succeeded',
      attempts,
    );
  } catch (err) {
    log.error({ err, version }, 'retrain failed after training');
    await failedForGood(deps, req, c.role, models.champion?.version, attempts, `after training: ${errMsg(err)}`);
    return finish(run, { requestId: req.requestId, status: 'failed', version, deployed: false, error: `after training: ${errMsg(err)}` }, 'failed', attempts);
  } finally {
    for (const p of predictors) p.dispose();
  }
}

/** `model.events.retrain_failed` (its `version` is the one that keeps serving) and the failure callback. */
async function failedForGood(deps: RetrainDeps, req: RetrainRequest, role: 'pretrained' | 'online', serving: string | undefined, attempts: number, error: string): Promise<void> {
  const { env } = deps;
  try {
    await publishJson(env.js, {
      subject: subjects.modelEvent('retrain_failed'),
      payload: {
        kind: 'retrain_failed',
        scope: req.scope,
        role,
        version: serving ?? 'none',
        reasons: [error.slice(0, 2_000)],
        actor: `retrain:${req.trigger}`,
        at: (env.now ?? Date.now)(),
        stage: 'training',
        comparison: { requestId: req.requestId, attempts },
      },
      msgId: `retrain-failed:${req.requestId}`,
    });
  } catch (err) {
    env.log.warn({ err, requestId: req.requestId }, 'could not publish model.events.retrain_failed');
  }
  deps.onFailed?.({ requestId: req.requestId, scope: req.scope, trigger: req.trigger, attempts, error });
}

/**
 * The model a challenger must beat: the active one of its role (and regime, for
 * pretrained models) in the scope, else the one the scope is served from
 * (`global`), the same chain the predictor serves from.
 */
export async function servingChampion(db: RegistryEnv['db'], scope: string, role: 'pretrained' | 'online', regime: string): Promise<VersionRow | undefined> {
  const match = (r: VersionRow) => r.role === role && (role === 'online' || (r.regime ?? ANY_REGIME) === regime);
  const own = (await activeVersions(db, scope)).find(match);
  if (own || scope === GLOBAL_SCOPE) return own;
  const global = await activeVersions(db, GLOBAL_SCOPE);
  return global.find(match) ?? (role === 'pretrained' ? global.find((r) => r.role === 'pretrained') : undefined);
}

/** Scope of a retrain command: `<venue>.<symbol>` when both are given, else global. */
export function retrainScope(cmd: { venue?: string | undefined; symbol?: string | undefined }, defaultVenue: string | undefined): string {
  const venue = cmd.venue ?? defaultVenue;
  if (cmd.symbol !== undefined && venue !== undefined) return `${venue}.${cmd.symbol}`;
  return GLOBAL_SCOPE;
}
