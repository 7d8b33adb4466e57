import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { loadPredictor, packArtifact, readArtifactDir, readModelBars, type NeuralPredictor, type OhlcvBar, type TrainRunConfig } from '../../models/index.ts';
import { readBars } from '../../sql/index.ts';
import {
  activeVersions,
  countBarsAfter,
  getVersion,
  lastSucceededRetrainAt,
  mergeVersionMetrics,
  updateRetrainRun,
  type VersionRow,
} from '../../sql/index.ts';
import { publishJson, retrainResultSchema, subjects, type RetrainResult } from '../../streams/index.ts';
import { decideGate, type GateConfig, type GateDecision } from './gate.ts';
import { activateVersion, registerCandidate, rejectVersion, type RegistryEnv } from './registry.ts';
import type { Trainer, TrainSummary } from './trainer.ts';
import { backendBytes, evaluateOnWindow, verifyCandidate, type VerificationLimits, type VerificationReport } from './verification.ts';
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
  /** Gate and verification overrides for this request. */
  gate: z
    .strictObject({
      aucFloor: z.number().min(0).max(1).optional(),
      maxAucDropPct: z.number().min(0).optional(),
      maxF1DropPct: z.number().min(0).optional(),
      baselineRmseTolerancePct: z.number().min(0).optional(),
      baselineAuc: z.boolean().optional(),
    })
    .optional(),
  verification: z
    .strictObject({
      minDirectionAccuracy: z.number().min(0).max(1).optional(),
      maxLatencyP99Ms: z.number().positive().optional(),
      minThroughputPerS: z.number().min(0).optional(),
      maxMemoryBytes: z.number().positive().optional(),
      maxMetricDrift: z.number().min(0).optional(),
    })
    .optional(),
  /** Feedback trigger: the counts the caller saw (informational) or a policy override. */
  feedback: z.strictObject({ minNewBars: int(0).optional(), minDays: z.number().min(0).optional(), urgentBars: int(1).optional() }).optional(),
});
export type RetrainConfig = z.output<typeof retrainConfigSchema>;

/** Feedback trigger policy: retrain when N new labelled bars AND D days, or at once past the urgent count. */
export type FeedbackPolicy = { minNewBars: number; minDays: number; urgentBars: number };
export const DEFAULT_FEEDBACK: FeedbackPolicy = { minNewBars: 1_440, minDays: 1, urgentBars: 10_080 };

/** Pure feedback decision: `newBars` labelled bars since the model's data ended, `daysSince` the last retrain. */
export function feedbackDue(newBars: number, daysSince: number, p: FeedbackPolicy): { due: boolean; why: string } {
  if (newBars >= p.urgentBars) return { due: true, why: `${newBars} new labelled bars >= urgent threshold ${p.urgentBars}` };
  if (newBars >= p.minNewBars && daysSince >= p.minDays) return { due: true, why: `${newBars} new bars >= ${p.minNewBars} and ${daysSince.toFixed(2)} days >= ${p.minDays}` };
  return { due: false, why: `${newBars} new labelled bars (need ${p.minNewBars}, urgent ${p.urgentBars}) after ${daysSince.toFixed(2)} days (need ${p.minDays})` };
}

export type RetrainDeps = {
  env: RegistryEnv;
  trainer: Trainer;
  artifactsDir: string;
  /** Retries after the first failed attempt (default 3). */
  maxRetries?: number;
  retryBaseMs?: number;
  gate?: Partial<GateConfig>;
  verification?: Partial<VerificationLimits>;
  feedback?: FeedbackPolicy;
  keep?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called when an attempt starts (status, tests). */
  onAttempt?: (requestId: string, attempt: number) => void;
};

export type RetrainRequest = { requestId: string; scope: string; trigger: string; config: Record<string, unknown> };

/** A retrain that cannot succeed as asked (bad config, no data source). Not retryable. */
export class RetrainRequestError extends Error {
  override readonly name = 'RetrainRequestError';
  readonly retryable = false;
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

/** Drops undefined values (zod optionals) so a partial override cannot erase a default. */
function defined<T extends object>(o: T | undefined): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
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
  const champion: VersionRow | undefined = (await activeVersions(env.db, req.scope)).find(
    (r) => r.role === c.role && (c.role === 'online' || (r.regime ?? ANY_REGIME) === c.regime),
  );

  if (req.trigger === 'feedback') {
    const vs = splitScope(req.scope);
    const policy: FeedbackPolicy = { ...(deps.feedback ?? DEFAULT_FEEDBACK), ...defined(c.feedback) };
    const since = champion?.dataTo ?? 0;
    const newBars = vs ? await countBarsAfter(env.db, vs.venue, vs.symbol, since) : 0;
    const last = (await lastSucceededRetrainAt(env.db, req.scope)) ?? champion?.activatedAt ?? 0;
    const days = ((env.now ?? Date.now)() - last) / 86_400_000;
    const due = feedbackDue(newBars, days, policy);
    if (!due.due) return finish({ requestId: req.requestId, status: 'skipped', deployed: false, error: `feedback not due: ${due.why}` }, 'skipped', 0);
    log.info({ why: due.why }, 'feedback retrain due');
  }

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
      const retryable = (err as { retryable?: unknown }).retryable !== false;
      log.warn({ err, attempt, maxAttempts, retryable }, 'training attempt failed');
      if (!retryable) break;
      if (attempt < maxAttempts) await sleep((deps.retryBaseMs ?? 1_000) * 2 ** (attempt - 1));
    }
  }
  if (!trained) {
    return finish(
      { requestId: req.requestId, status: 'failed', deployed: false, error: `training failed after ${attempt} attempt(s): ${errMsg(lastError)}` },
      'failed',
      attempt,
    );
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
      metrics: { test: s.test, baselines: s.baselines, bestEpoch: s.bestEpoch, epochsRan: s.epochsRan, testWindow: { fromTs: testFrom, toTs: testTo } },
      ...(champion ? { parentVersion: champion.version } : {}),
      ...(s.data.fromTs !== null ? { dataFrom: s.data.fromTs } : {}),
      ...(s.data.toTs !== null ? { dataTo: s.data.toTs } : {}),
      major: majorFor(champion ? { version: champion.version, kind: champion.kind, layout: parentLayout } : undefined, { kind: c.kind, layout: layout(trained.config) }),
    },
    (env.now ?? Date.now)(),
  );
  log.info({ version, champion: champion?.version }, 'candidate registered');

  const predictors: NeuralPredictor[] = [];
  try {
    // The candidate is loaded back from the registry: the bytes checked are the bytes that will serve.
    const before = backendBytes();
    const candidate = await loadPredictor({ version, db: env.db });
    predictors.push(candidate);
    const memoryBytes = Math.max(0, backendBytes() - before);

    let championMetrics: GateDecision['champion'] = null;
    let championNote: string | undefined;
    if (champion && testFrom !== null && testTo !== null) {
      try {
        const cp = await loadPredictor({ version: champion.version, db: env.db });
        predictors.push(cp);
        championMetrics = evaluateOnWindow(cp, trained.bars, testFrom, testTo).model;
      } catch (err) {
        championNote = `champion ${champion.version} could not be re-evaluated (${errMsg(err)}); its stored test metrics are used`;
        const stored = (await getVersion(env.db, champion.version))?.metrics.test;
        const m = z.object({ n: z.number(), rocAuc: z.number().nullable(), f1: z.number().nullable(), rmse: z.number(), directionAccuracy: z.number() }).safeParse(stored);
        championMetrics = m.success ? m.data : null;
      }
    }
    const verifyArgs = {
      predictor: candidate,
      bars: trained.bars,
      fromTs: testFrom ?? 0,
      toTs: testTo ?? 0,
      memoryBytes,
      reported: { directionAccuracy: s.test.directionAccuracy },
      limits: { ...deps.verification, ...defined(c.verification) },
    };
    const [gate, verification] = await Promise.all([
      Promise.resolve(
        decideGate({
          scope: req.scope,
          challenger: s.test,
          champion: champion ? (championMetrics ?? undefined) : undefined,
          baselines: s.baselines,
          config: { ...deps.gate, ...defined(c.gate) },
        }),
      ),
      verifyCandidate(verifyArgs) as Promise<VerificationReport>,
    ]);
    const comparison: Record<string, unknown> = { ...gate, champion: gate.champion, championVersion: champion?.version ?? null, ...(championNote ? { note: championNote } : {}) };
    const metrics: Record<string, unknown> = { test: s.test, baselines: s.baselines, verification };
    await mergeVersionMetrics(env.db, version, { gate: comparison, verification });

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
      reason: gate.firstModel ? `first model of ${req.scope} (passed the floor)` : `challenger beat champion ${champion?.version ?? '?'} (retrain ${req.trigger})`,
      actor: `retrain:${req.trigger}`,
      comparison,
      ...(deps.keep !== undefined ? { keep: deps.keep } : {}),
    });
    return finish({ requestId: req.requestId, status: 'succeeded', version, deployed: true, metrics, comparison }, 'succeeded', attempt);
  } catch (err) {
    log.error({ err, version }, 'retrain failed after training');
    return finish({ requestId: req.requestId, status: 'failed', version, deployed: false, error: `after training: ${errMsg(err)}` }, 'failed', attempt);
  } finally {
    for (const p of predictors) p.dispose();
  }
}

/** Scope of a retrain command: `<venue>.<symbol>` when both are given, else global. */
export function retrainScope(cmd: { venue?: string | undefined; symbol?: string | undefined }, defaultVenue: string | undefined): string {
  const venue = cmd.venue ?? defaultVenue;
  if (cmd.symbol !== undefined && venue !== undefined) return `${venue}.${cmd.symbol}`;
  return GLOBAL_SCOPE;
}
