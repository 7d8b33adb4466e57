/**
 * Training throughput and inference latency of the models on the active
 * TensorFlow.js backend (TFJS_BACKEND forces one). Run: `npx tsx bench/train.ts [--json]`.
 *
 * - training: samples/s of the real training loop (models/fit-network.ts: seeded shuffle,
 *   gather, trainOnBatch, one val pass per epoch), median over epochs after the first,
 *   LSTM(64) and MLP(64) on lookback-24 windows of real BTCUSDT bars
 * - inference: end-to-end `predictBatch` latency (normalise, one tensor call, read back)
 *   for batch 1 and batch 256, median and p99 over repeated runs
 * Targets (wasm): LSTM(64) training >= 1,500 samples/s, batch-1 inference <= 2 ms.
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../config/index.ts';
import { readBarsCsv } from '../market/index.ts';
import {
  buildWindows,
  fitNetwork,
  fitPreprocessor,
  NeuralPredictor,
  selectBackend,
  sliceWindows,
  windowAt,
  type FeatureSpec,
  type ModelKind,
} from '../models/index.ts';

const DATA = fileURLToPath(new URL('../../shared/data/btcusdt_binance_spot_1m_2024-03.csv', import.meta.url));
const SPEC: FeatureSpec = { lookback: 24, horizon: 1, volWindow: 30, context: false };
const TRAIN_WINDOWS = 4096;
const EPOCHS = 3;

type Row = { model: string; batch: number; metric: string; value: number; unit: string };

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const backend = await selectBackend({ force: loadSettings().TFJS_BACKEND });
  const { bars } = await readBarsCsv(DATA);
  const set = buildWindows(bars.slice(0, TRAIN_WINDOWS + 1024), SPEC);
  const train = sliceWindows(set, 0, TRAIN_WINDOWS);
  const val = sliceWindows(set, TRAIN_WINDOWS, TRAIN_WINDOWS + 256);
  const rows: Row[] = [];
  const models: { name: string; kind: ModelKind; units: number[] }[] = [
    { name: 'LSTM(64)', kind: 'lstm', units: [64] },
    { name: 'MLP(64)', kind: 'mlp', units: [64] },
  ];
  for (const m of models) {
    const pre = fitPreprocessor(train, { runId: 'bench', kind: m.kind });
    for (const batch of [32, 256]) {
      const fit = await fitNetwork(train, val, pre, {
        network: { kind: m.kind, lookback: SPEC.lookback, featureCount: set.featureNames.length, hiddenUnits: m.units, dropout: 0.2, learningRate: 0.001, seed: 1 },
        epochs: EPOCHS,
        batchSize: batch,
        patience: EPOCHS,
      });
      const perEpoch = median(fit.history.slice(1).map((h) => h.ms));
      rows.push({ model: m.name, batch, metric: 'training', value: TRAIN_WINDOWS / (perEpoch / 1000), unit: 'samples/s' });
      if (batch === 256) {
        const predictor = new NeuralPredictor(fit.model, pre);
        for (const [n, reps] of [
          [1, 500],
          [256, 60],
        ] as const) {
          const windows = Array.from({ length: n }, (_, i) => windowAt(set, TRAIN_WINDOWS + (i % 256)));
          for (let i = 0; i < 20; i += 1) predictor.predictBatch(windows);
          const times: number[] = [];
          for (let i = 0; i < reps; i += 1) {
            const t = performance.now();
            predictor.predictBatch(windows);
            times.push(performance.now() - t);
          }
          times.sort((a, b) => a - b);
          rows.push({ model: m.name, batch: n, metric: 'inference median', value: quantile(times, 0.5), unit: 'ms' });
          rows.push({ model: m.name, batch: n, metric: 'inference p99', value: quantile(times, 0.99), unit: 'ms' });
        }
        predictor.dispose();
      } else {
        fit.model.dispose();
      }
    }
  }
  const env = { backend: backend.backend, threads: backend.threads ?? null, node: process.version, loadavg1m: loadavg()[0] ?? null };
  if (json) {
    process.stdout.write(`${JSON.stringify({ env, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `backend ${env.backend}${env.threads === null ? '' : ` (${env.threads} thread(s))`}, node ${env.node}, load average ${env.loadavg1m?.toFixed(2) ?? '?'}; lookback ${SPEC.lookback}, ${set.featureNames.length} features, ${TRAIN_WINDOWS} training windows, dropout 0.2\n\n`,
  );
  const lines = rows.map((r) => [r.model, String(r.batch), r.metric, r.unit === 'ms' ? r.value.toFixed(3) : r.value.toFixed(0), r.unit]);
  const header = ['model', 'batch', 'metric', 'value', 'unit'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (l: string[]) => l.map((c, i) => (i === 3 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ');
  process.stdout.write(`${[fmt(header), ...lines.map(fmt)].join('\n')}\n`);
  const lstmTrain = rows.find((r) => r.model === 'LSTM(64)' && r.batch === 32 && r.metric === 'training')?.value ?? 0;
  const lstmB1 = rows.find((r) => r.model === 'LSTM(64)' && r.batch === 1 && r.metric === 'inference median')?.value ?? Number.NaN;
  process.stdout.write(
    `\ntargets: LSTM(64) training at batch 32 >= 1500 samples/s: ${lstmTrain >= 1500 ? 'met' : 'NOT met'} (${lstmTrain.toFixed(0)}); batch-1 inference median <= 2 ms: ${lstmB1 <= 2 ? 'met' : 'NOT met'} (${lstmB1.toFixed(3)} ms)\n`,
  );
}

await main();
