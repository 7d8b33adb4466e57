import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  packArtifact,
  readArtifactDir,
  runTraining,
  selectBackend,
  type OhlcvBar,
  type PackedArtifact,
  type TrainRunConfig,
} from '../../../../models/index.ts';
import { upsertBars, withTransaction } from '../../../../sql/index.ts';
import { KV_BUCKETS, ensureTopology, openBucket, type Bar } from '../../../../streams/index.ts';
import type { RegistryEnv } from '../../../../actors/lifecycle/registry.ts';
import type { TestSystem } from '../../../helpers/system.ts';
import { marketBars, tempDir } from '../../models/fixtures.ts';

/** The feature layout of every tiny test model (also what the serving loop cuts windows with). */
export const TINY_SPEC = { lookback: 12, horizon: 1, volWindow: 20, context: false } as const;

export function tinyTrainConfig(artifactsDir: string, runId: string, seed: number, overrides: Partial<TrainRunConfig> = {}): TrainRunConfig {
  return {
    runId,
    kind: 'mlp',
    lookback: TINY_SPEC.lookback,
    horizon: TINY_SPEC.horizon,
    volWindow: TINY_SPEC.volWindow,
    context: false,
    epochs: 2,
    batchSize: 64,
    learningRate: 0.003,
    hiddenUnits: [8],
    dropout: 0,
    seed,
    patience: 2,
    split: { train: 0.7, val: 0.15 },
    artifactsDir,
    ...overrides,
  };
}

export type TinyModel = { runId: string; packed: PackedArtifact; bars: OhlcvBar[] };

/** Trains `n` tiny MLPs (different seeds) in this process and packs their best checkpoints. */
export async function trainTinyModels(n: number, label: string): Promise<{ models: TinyModel[]; dispose: () => Promise<void> }> {
  const backend = await selectBackend({ force: 'wasm' });
  const dir = await tempDir(`lifecycle-${label}`);
  const bars = marketBars(900, 5_000);
  const models: TinyModel[] = [];
  for (let i = 0; i < n; i += 1) {
    const runId = `${label}-${i}`;
    const r = await runTraining(tinyTrainConfig(dir.path, runId, 11 + i), { bars, source: 'btc slice', backend });
    models.push({ runId, packed: packArtifact(await readArtifactDir(r.paths.best)), bars });
  }
  return { models, dispose: dir.dispose };
}

/** Topology + the `model_active` bucket + a registry environment on a test system. */
export async function registryEnv(sys: TestSystem): Promise<{ env: RegistryEnv; kv: KV }> {
  await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
  const kv = await openBucket(sys.nc, KV_BUCKETS.modelActive);
  return { env: { db: sys.db, kv, js: jetstream(sys.nc), log: sys.log }, kv };
}

/** Stores bars of one series in bars_1m (what a retrain reads). */
export async function storeBars(sys: TestSystem, venue: string, symbol: string, bars: readonly OhlcvBar[]): Promise<void> {
  const rows: Bar[] = bars.map((b) => ({ venue, symbol, interval: '1m', ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'replay' }));
  await withTransaction(sys.db, (c) => upsertBars(c, rows));
}
