import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { childProcessEnv, SignalsError } from '../../config/index.ts';
import type { OhlcvBar, RunMetrics, TrainRunConfig } from '../../models/index.ts';

/**
 * Training off the serving path: a retrain runs models/train-runner in a child
 * process, so neither ingestion nor prediction (nor this process's event loop)
 * waits on TensorFlow.js. The job goes in on stdin as JSON (config + bars), the
 * result comes back as the last stdout line.
 */

export type TrainJob = { config: TrainRunConfig; bars: readonly OhlcvBar[]; source: string };

const forecastMetricsSchema = z.object({
  n: z.number(),
  mae: z.number(),
  rmse: z.number(),
  mape: z.number(),
  r2: z.number().nullable(),
  directionAccuracy: z.number(),
  rocAuc: z.number().nullable(),
  f1: z.number().nullable(),
  brier: z.number(),
});
const splitSchema = z.object({ windows: z.number(), fromTs: z.number().nullable(), toTs: z.number().nullable() });

/** What the lifecycle reads of a run's metrics (models/run-metrics.ts RunMetrics), parsed at the process edge. */
export const trainSummarySchema = z.object({
  runId: z.string(),
  kind: z.enum(['lstm', 'mlp']),
  lookback: z.number(),
  horizon: z.number(),
  featureNames: z.array(z.string()),
  data: z.object({ bars: z.number(), fromTs: z.number().nullable(), toTs: z.number().nullable(), train: splitSchema, val: splitSchema, test: splitSchema }),
  epochsRan: z.number(),
  bestEpoch: z.number(),
  test: forecastMetricsSchema,
  baselines: z.record(z.string(), forecastMetricsSchema),
  timings: z.object({ totalMs: z.number() }).loose(),
  warnings: z.array(z.string()),
});
export type TrainSummary = z.output<typeof trainSummarySchema>;

/** Keeps the parts of a run's metrics the lifecycle stores and judges by. */
export function summarise(m: RunMetrics): TrainSummary {
  return trainSummarySchema.parse(m);
}

export type TrainOutput = { summary: TrainSummary; bestDir: string };
/** Runs one training attempt. Rejects with the training's error. */
export type Trainer = (job: TrainJob) => Promise<TrainOutput>;

/**
 * A training attempt that failed in the child process. Retryable (the lifecycle
 * retries up to its limit). `workerExitCode` is the child's own exit code (null when
 * it never started); `exitCode` is the CLI's, as for every SignalsError.
 */
export class TrainingFailedError extends SignalsError {
  override readonly name = 'TrainingFailedError';
  override readonly retryable: boolean;
  constructor(
    message: string,
    readonly errorName: string,
    readonly workerExitCode: number | null,
  ) {
    super(message);
    // Input errors do not get better by retrying.
    this.retryable = !['ModelInputError', 'NotEnoughDataError', 'ShapeMismatchError'].includes(errorName);
  }
}

const WORKER = fileURLToPath(new URL('./train-worker.ts', import.meta.url));

const workerReply = z.union([
  z.strictObject({ ok: z.literal(true), bestDir: z.string(), metrics: z.record(z.string(), z.unknown()) }),
  z.strictObject({ ok: z.literal(false), name: z.string(), message: z.string() }),
]);

/**
 * The default trainer: `node --import tsx lifecycle/train-worker.ts`, one process per attempt.
 * The worker loads its settings (TFJS_BACKEND, TRAIN_LOG_LEVEL) from the environment it
 * inherits, with `options.env` on top.
 */
export function childProcessTrainer(options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Trainer {
  return (job) =>
    new Promise<TrainOutput>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
        env: childProcessEnv(options.env),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4_000)));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30 * 60_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new TrainingFailedError(`cannot start the training process: ${e.message}`, 'SpawnError', null));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const last = out.trim().split('\n').at(-1) ?? '';
        let json: unknown;
        try {
          json = JSON.parse(last);
        } catch {
          reject(new TrainingFailedError(`training process exited with ${code} without a result: ${err.trim().split('\n').at(-1) ?? ''}`, 'WorkerCrash', code));
          return;
        }
        const reply = workerReply.safeParse(json);
        if (!reply.success) {
          reject(new TrainingFailedError(`training process sent an unreadable result (exit ${code})`, 'WorkerProtocol', code));
          return;
        }
        if (!reply.data.ok) {
          reject(new TrainingFailedError(reply.data.message, reply.data.name, code));
          return;
        }
        const summary = trainSummarySchema.safeParse(reply.data.metrics);
        if (!summary.success) {
          reject(new TrainingFailedError(`training process sent metrics of an unexpected shape: ${summary.error.issues[0]?.message ?? '?'}`, 'WorkerProtocol', code));
          return;
        }
        resolve({ bestDir: reply.data.bestDir, summary: summary.data });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(job));
    });
}
