import { randomUUID } from 'node:crypto';
import { SignalsError, type Logger } from '../../config/index.ts';
import { barsNeededForSplit, readModelBars, type OhlcvBar, type TrainRunConfig } from '../../models/index.ts';
import { readBars, updateRetrainRun } from '../../sql/index.ts';
import { RetrainRequestError, type RetrainConfig, type RetrainDeps, type RetrainRequest } from './retrain-request.ts';
import type { TrainSummary } from './trainer.ts';
import { splitScope } from './versions.ts';

/**
 * The training step of a retrain: the bars to train on, the run's configuration,
 * and the attempts, retried with exponential backoff while the error allows it.
 */

/** A finished training: the trainer's summary and best checkpoint, with the bars and config it ran on. */
export type TrainedCandidate = { summary: TrainSummary; bestDir: string; bars: OhlcvBar[]; config: TrainRunConfig };

export type TrainingOutcome = { trained: TrainedCandidate; attempts: number } | { trained: undefined; attempts: number; lastError: unknown };

/** The newest `maxBars` bars of the scope (bars_1m), or of `config.csv` when given. */
export async function trainingBars(deps: RetrainDeps, scope: string, c: RetrainConfig): Promise<{ bars: OhlcvBar[]; source: string }> {
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

/**
 * The trainer's configuration for one attempt. The run id names the request (made
 * safe for a directory name) and the attempt; `nonce` keeps two runs of one
 * attempt number (a redelivered request) from sharing an artifacts directory.
 */
export function trainRunConfig(requestId: string, c: RetrainConfig, attempt: number, artifactsDir: string, nonce: string, defaultHorizons?: readonly number[]): TrainRunConfig {
  const horizons = c.horizons ?? defaultHorizons;
  return {
    runId: `retrain-${requestId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}-${attempt}-${nonce}`,
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
    artifactsDir,
    ...(horizons !== undefined && horizons.length > 0 ? { horizons: [...horizons] } : {}),
  };
}

/**
 * The horizon heads a retrain without its own list gets: the longest prefix of
 * the predictors' horizons that `bars` bars can train and judge (the 60-minute
 * head needs its 60 bars of target reach and embargoes on top of the split). A
 * young symbol's online model then gets its short heads instead of no model.
 */
export function fittingHorizons(defaults: readonly number[] | undefined, bars: number, c: Pick<RetrainConfig, 'lookback' | 'horizon' | 'volWindow'>): number[] | undefined {
  if (defaults === undefined) return undefined;
  const fit: number[] = [];
  for (const h of defaults) {
    const spec = { lookback: c.lookback, horizon: c.horizon, volWindow: c.volWindow, context: false, horizons: [...fit, h] };
    if (barsNeededForSplit(spec) > bars) break;
    fit.push(h);
  }
  return fit;
}

/**
 * Only an error of ours can say that another attempt is pointless; anything else
 * (a crash, a lost connection) gets the remaining attempts.
 */
export function isRetryable(err: unknown): boolean {
  return !(err instanceof SignalsError) || err.retryable;
}

/** Wait before the attempt after `attempt` (1-based): doubles each time from `baseMs`. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return baseMs * 2 ** (attempt - 1);
}

const sleepFor = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Trains until an attempt succeeds, the attempts run out, or an error says retrying is pointless. */
export async function trainWithRetries(deps: RetrainDeps, req: RetrainRequest, c: RetrainConfig, log: Logger): Promise<TrainingOutcome> {
  const maxAttempts = 1 + (deps.maxRetries ?? 3);
  const sleep = deps.sleep ?? sleepFor;
  let attempt = 0;
  let lastError: unknown;
  while (attempt < maxAttempts) {
    attempt += 1;
    deps.onAttempt?.(req.requestId, attempt);
    await updateRetrainRun(deps.env.db, req.requestId, { status: 'running', attempts: attempt });
    try {
      return { trained: await trainOnce(deps, req, c, attempt), attempts: attempt };
    } catch (err) {
      lastError = err;
      const retryable = isRetryable(err);
      log.warn({ err, attempt, maxAttempts, retryable }, 'training attempt failed');
      if (!retryable) break;
      if (attempt < maxAttempts) await sleep(retryDelayMs(deps.retryBaseMs ?? 1_000, attempt));
    }
  }
  return { trained: undefined, attempts: attempt, lastError };
}

async function trainOnce(deps: RetrainDeps, req: RetrainRequest, c: RetrainConfig, attempt: number): Promise<TrainedCandidate> {
  const { bars, source } = await trainingBars(deps, req.scope, c);
  const config = trainRunConfig(req.requestId, c, attempt, deps.artifactsDir, randomUUID().slice(0, 8), fittingHorizons(deps.horizons, bars.length, c));
  const out = await deps.trainer({ config, bars, source });
  return { ...out, bars, config };
}
