// The training child process of lifecycle/trainer.ts: reads one job (JSON) from
// stdin, runs models/train-runner, prints one JSON line with the result.
import { createRootLogger, loadSettings } from '../../config/index.ts';
import { runTraining, selectBackend } from '../../models/index.ts';
import { z } from 'zod';

const jobSchema = z.object({
  config: z.object({ runId: z.string(), kind: z.enum(['lstm', 'mlp']) }).loose(),
  bars: z.array(z.object({ ts: z.number(), open: z.number(), high: z.number(), low: z.number(), close: z.number(), volume: z.number() })),
  source: z.string(),
});
// The config is checked by runTraining itself (checkConfig); only its shape is read here.
const configSchema = z.object({
  runId: z.string(),
  kind: z.enum(['lstm', 'mlp']),
  lookback: z.number(),
  horizon: z.number(),
  volWindow: z.number(),
  context: z.boolean(),
  epochs: z.number(),
  batchSize: z.number(),
  learningRate: z.number(),
  hiddenUnits: z.array(z.number()),
  dropout: z.number(),
  seed: z.number(),
  patience: z.number(),
  split: z.object({ train: z.number(), val: z.number() }),
  artifactsDir: z.string(),
  overwrite: z.boolean().optional(),
  initFrom: z.string().optional(),
  horizons: z.array(z.number()).optional(),
  features: z.enum(['full', 'univariate']).optional(),
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const reply = (v: unknown) => process.stdout.write(`\n${JSON.stringify(v)}\n`);

try {
  const job = jobSchema.parse(JSON.parse(await readStdin()));
  const parsed = configSchema.parse(job.config);
  const { overwrite, initFrom, horizons, features, ...rest } = parsed;
  const config = {
    ...rest,
    ...(overwrite !== undefined ? { overwrite } : {}),
    ...(initFrom !== undefined ? { initFrom } : {}),
    ...(horizons !== undefined ? { horizons } : {}),
    ...(features !== undefined ? { features } : {}),
  };
  const settings = loadSettings();
  const log = createRootLogger(settings.TRAIN_LOG_LEVEL, process.stderr);
  const backend = await selectBackend({ force: settings.TFJS_BACKEND, log });
  const result = await runTraining(config, { bars: job.bars, source: job.source, backend, log });
  reply({ ok: true, bestDir: result.paths.best, metrics: result.metrics });
} catch (err) {
  reply({ ok: false, name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
}
