import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SignalsError } from '../../config/index.ts';
import { loadPredictor, packArtifact, readArtifactDir, readModelBars, type NeuralPredictor, type OhlcvBar, type TrainRunConfig } from '../../models/index.ts';
import { readBars } from '../../sql/index.ts';
import {
  activeVersions,
  mergeVersionMetrics,
  updateRetrainRun,
  type VersionRow,
} from '../../sql/index.ts';
import { publishJson, retrainResultSchema, subjects, type RetrainResult } from '../../streams/index.ts';
import { decideGate, type GateConfig } from './gate.ts';
import { activateVersion, registerCandidate, rejectVersion, type RegistryEnv } from './registry.ts';
import type { Trainer, TrainSummary } from './trainer.ts';
import { backendBytes, evaluateOnWindow, verifyCandidate, type VerificationLimits, type WindowEvaluation } from './verification.ts';
import { ANY_REGIME, GLOBAL_SCOPE, majorFor, splitScope } from './versions.ts';

/**
 * One retrain request, end to end: (feedback policy) -> training in a child
 * process, retried with backoff -> candidate registered -> champion re-evaluated
 * on the challenger's test window -> gate and verification side by side ->
 * activate, or reject -> result on `model.retrain.result`.
 */

const int = (min: number) => z.number().int().min(min);

/** `config` of a retrain command (all optional; defaults are a small, fast model). */
export const retrainConfigSchema = z.strictObject({
  kind: z.enum(['lstm', 'mlp']).default('mlp'),
  lookback: int(1).default(24),
  horizon: int(1).default(1),
  volWindow: int(2).default(30),
  epochs: int(1).default(20),
  batchSize: int(1).default(64),
  learningRate: z.number().positive().default(0.001),
  hiddenUnits: z.array(int(1)).min(1).default([32]),
  dropout: z.number().min(0).max(0.9).default(0.1),
  seed: int(0).default(42),
  patience: int(1).default(3),
  /** The newest bars used for training (train + val + test). */
  maxBars: int(100).default(20_000),
  /** Train on a bars file instead of bars_1m (required for the global scope). */
  csv: z.string().min(1).optional(),
  csvSymbol: z.string().optional(),
  role: z.enum(['pretrained', 'online']).default('pretrained'),
  regime: z.string().min(1).default(ANY_REGIME),
  // No gate or verification overrides: thresholds come from the configuration, so no
  // publisher on model.retrain.cmd can weaken them (a command naming them is invalid).
});
export type RetrainConfig = z.output<typeof retrainConfigSchema>;

export type RetrainDeps = {
  env: RegistryEnv;
  trainer: Trainer;
  artifactsDir: string;
  /** Retries after the first failed attempt (default 3). */
  maxRetries?: number;
  retryBaseMs?: number;
  gate?: Partial<GateConfig>;
  verification?: Partial<VerificationLimits>;
  keep?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called when a run failed for good (after its retries): the lifecycle raises `ops.alert.retrain_failed`. */
  onFailed?: (failure: { requestId: string; scope: string; trigger: string; attempts: number; error: string }) => void;
  /** Called when an attempt starts (status, tests). */
  onAttempt?: (requestId: string, attempt: number) => void;
};

export type RetrainRequest = { requestId: string; scope: string; trigger: string; config: Record<string, unknown> };

/** A retrain that cannot succeed as asked (bad config, no data source). Not retryable. */
export class RetrainRequestError extends SignalsError {
  override readonly name = 'RetrainRequestError';
  override readonly retryable = false;
}

async function trainingBars(deps: RetrainDeps, scope: string, c: RetrainConfig): Promise<{ bars: OhlcvBar[]; source: string }> {
  if (c.csv !== undefined) {
    const read = await readModelBars(c.csv, { symbol: c.csvSymbol });
    return { bars: read.bars.slice(-c.maxBars), source: c.csv };
  }
  const vs = splitScope(scope);
  if (!vs) throw new RetrainRequestError(`scope ${scope} has no bars of its own: give config.csv to retrain it`);
  const all = await readBars(deps.env.db, vs.venue, vs.symbol);
  const bars = all.slice(-c.maxBars).map((b) => ({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume }));
  return { bars, source: `bars_1m ${vs.venue}/${vs.symbol}` };
}

function layout(p: { lookback?: unknown; horizon?: unknown; volWindow?: unknown }): string {
  return `${String(p.lookback)}/${String(p.horizon)}/${String(p.volWindow)}`;
}

async function publishResult(deps: RetrainDeps, result: RetrainResult): Promise<RetrainResult> {
  const checked = retrainResultSchema.parse(result);
  await publishJson(deps.env.js, { subject: subjects.retrainResult, payload: checked, msgId: `retrain-result:${checked.requestId}` });
  return checked;
}

const errMsg = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Runs one request to its end and publishes the result. Never throws for a failed training: that is a result. */
export async function runRetrain(deps: RetrainDeps, req: RetrainRequest): Promise<RetrainResult> {
  const { env } = deps;
  const log = env.log.child({ requestId: req.requestId, scope: req.scope });
  const finish = async (r: RetrainResult, status: 'succeeded' | 'failed' | 'skipped', attempts?: number): Promise<RetrainResult> => {
    await updateRetrainRun(env.db, req.requestId, {
      status,
      ...(attempts !== undefined ? { attempts } : {}),
      version: r.version ?? null,
      deployed: r.deployed,
      metrics: r.metrics ?? null,
      comparison: r.comparison ?? null,
      error: r.error ?? null,
      finished: true,
    });
    log.info({ status, version: r.version, deployed: r.deployed, error: r.error }, 'retrain finished');
    return publishResult(deps, r);
  };

  const parsed = retrainConfigSchema.safeParse(req.config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return finish({ requestId: req.requestId, status: 'failed', deployed: false, error: `invalid retrain config: ${issues}` }, 'failed', 0);
  }
  const c = parsed.data;
  const champion: VersionRow | undefined = await servingChampion(env.db, req.scope, c.role, c.regime);
  // An online model serves beside the pretrained one: without an online incumbent it is judged against that.
  const incumbent: VersionRow | undefined = champion ?? (c.role === 'online' ? await servingChampion(env.db, req.scope, 'pretrained', c.regime) : undefined);

  // --- training, retried ----------------------------------------------------------
  const maxAttempts = 1 + (deps.maxRetries ?? 3);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let trained: { summary: TrainSummary; bestDir: string; bars: OhlcvBar[]; config: TrainRunConfig } | undefined;
  let attempt = 0;
  let lastError: unknown;
  while (attempt < maxAttempts && !trained) {
    attempt += 1;
    deps.onAttempt?.(req.requestId, attempt);
    await updateRetrainRun(env.db, req.requestId, { status: 'running', attempts: attempt });
    try {
      const { bars, source } = await trainingBars(deps, req.scope, c);
      const config: TrainRunConfig = {
        runId: `retrain-${req.requestId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}-${attempt}-${randomUUID().slice(0, 8)}`,
        kind: c.kind,
        lookback: c.lookback,
        horizon: c.horizon,
        volWindow: c.volWindow,
        context: false,
        epochs: c.epochs,
        batchSize: c.batchSize,
        learningRate: c.learningRate,
        hiddenUnits: c.hiddenUnits,
        dropout: c.dropout,
        seed: c.seed,
        patience: c.patience,
        split: { train: 0.7, val: 0.15 },
        artifactsDir: deps.artifactsDir,
      };
      const out = await deps.trainer({ config, bars, source });
      trained = { ...out, bars, config };
    } catch (err) {
      lastError = err;
      // Only an error of ours can say that another attempt is pointless; anything else
      // (a crash, a lost connection) gets the remaining attempts.
      const retryable = !(err instanceof SignalsError) || err.retryable;
      log.warn({ err, attempt, maxAttempts, retryable }, 'training attempt failed');
      if (!retryable) break;
      if (attempt < maxAttempts) await sleep((deps.retryBaseMs ?? 1_000) * 2 ** (attempt - 1));
    }
  }
  if (!trained) {
    const error = `training failed after ${attempt} attempt(s): ${errMsg(lastError)}`;
    await failedForGood(deps, req, c.role, champion?.version, attempt, error);
    return finish({ requestId: req.requestId, status: 'failed', deployed: false, error }, 'failed', attempt);
  }

  // --- candidate, gate, verification ----------------------------------------------------
  const s = trained.summary;
  const testFrom = s.data.test.fromTs;
  const testTo = s.data.test.toTs;
  const packed = packArtifact(await readArtifactDir(trained.bestDir));
  const parentLayout = champion ? layout(champion.params) : '';
  const version = await registerCandidate(
    env.db,
    {
      scope: req.scope,
      role: c.role,
      kind: c.kind,
      regime: c.regime,
      runId: s.runId,
      artifact: packed,
      params: { ...trained.config, trigger: req.trigger, requestId: req.requestId },
      metrics: { trainReported: s.test, bestEpoch: s.bestEpoch, epochsRan: s.epochsRan, testWindow: { fromTs: testFrom, toTs: testTo } },
      ...(champion ? { parentVersion: champion.version } : {}),
      ...(s.data.fromTs !== null ? { dataFrom: s.data.fromTs } : {}),
      ...(s.data.toTs !== null ? { dataTo: s.data.toTs } : {}),
      major: majorFor(champion ? { version: champion.version, kind: champion.kind, layout: parentLayout } : undefined, { kind: c.kind, layout: layout(trained.config) }),
    },
    (env.now ?? Date.now)(),
  );
  log.info({ version, champion: champion?.version, incumbent: incumbent?.version }, 'candidate registered');

  const predictors: NeuralPredictor[] = [];
  try {
    if (testFrom === null || testTo === null) throw new RetrainRequestError('training left no test window to judge the candidate on');
    // The candidate is loaded back from the registry: the bytes checked are the bytes that will serve.
    const before = backendBytes();
    const candidate = await loadPredictor({ version, db: env.db });
    predictors.push(candidate);
    const memoryBytes = Math.max(0, backendBytes() - before);
    // Every model is judged the same way, on the same held-out window it never trained on.
    const challengerEval = evaluateOnWindow(candidate, trained.bars, testFrom, testTo);
    let incumbentEval: WindowEvaluation | undefined;
    let note: string | undefined;
    if (incumbent) {
      try {
        const ip = await loadPredictor({ version: incumbent.version, db: env.db });
        predictors.push(ip);
        incumbentEval = evaluateOnWindow(ip, trained.bars, testFrom, testTo);
      } catch (err) {
        note = `incumbent ${incumbent.version} could not be evaluated on this window (${errMsg(err)}); the candidate was judged against the naive baselines`;
      }
    }
    const mode = c.role === 'online' ? 'online' : 'challenger';
    const gateInput = {
      scope: req.scope,
      mode,
      challenger: challengerEval.model,
      champion: incumbentEval?.model,
      baselines: challengerEval.baselines,
      losses: { challenger: challengerEval.losses.model, ...(incumbentEval ? { champion: incumbentEval.losses.model } : {}), baselines: challengerEval.losses.baselines },
      ...(deps.gate ? { config: deps.gate } : {}),
    } as const;
    // The gate (pure, fast) and the verification (accuracy and performance, each with a timeout) run side by side.
    const [gate, verification] = await Promise.all([
      Promise.resolve().then(() => decideGate(gateInput)),
      verifyCandidate({
        predictor: candidate,
        bars: trained.bars,
        fromTs: testFrom,
        toTs: testTo,
        memoryBytes,
        reported: { directionAccuracy: s.test.directionAccuracy },
        limits: deps.verification,
      }),
    ]);
    const comparison: Record<string, unknown> = { ...gate, championVersion: incumbent?.version ?? null, ...(note ? { note } : {}) };
    const metrics: Record<string, unknown> = { test: challengerEval.model, baselines: challengerEval.baselines, trainReported: s.test, verification };
    await mergeVersionMetrics(env.db, version, { test: challengerEval.model, baselines: challengerEval.baselines, gate: comparison, verification });

    if (gate.decision === 'reject') {
      await rejectVersion(env, { version, kind: 'rejected', reasons: gate.reasons, actor: 'gate', stage: 'gate', comparison });
      return finish({ requestId: req.requestId, status: 'succeeded', version, deployed: false, metrics, comparison }, 'succeeded', attempt);
    }
    if (!verification.ok) {
      await rejectVersion(env, { version, kind: 'verification_failed', reasons: verification.reasons, actor: 'verification', stage: 'verification', comparison });
      return finish(
        { requestId: req.requestId, status: 'succeeded', version, deployed: false, metrics, comparison, error: `verification failed: ${verification.reasons.join('; ')}` },
        'succeeded',
        attempt,
      );
    }
    await activateVersion(env, {
      version,
      reason:
        mode === 'online'
          ? `online model non-inferior to ${incumbent?.version ?? 'the naive baselines'} (retrain ${req.trigger})`
          : champion
            ? `challenger beat champion ${champion.version} (retrain ${req.trigger})`
            : `first model of ${req.scope} (passed the floor and the naive baselines)`,
      actor: `retrain:${req.trigger}`,
      comparison,
      ...(deps.keep !== undefined ? { keep: deps.keep } : {}),
    });
    return finish({ requestId: req.requestId, status: 'succeeded', version, deployed: true, metrics, comparison }, 'succeeded', attempt);
  } catch (err) {
    log.error({ err, version }, 'retrain failed after training');
    await failedForGood(deps, req, c.role, champion?.version, attempt, `after training: ${errMsg(err)}`);
    return finish({ requestId: req.requestId, status: 'failed', version, deployed: false, error: `after training: ${errMsg(err)}` }, 'failed', attempt);
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
