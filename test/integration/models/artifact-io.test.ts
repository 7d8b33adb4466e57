import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWindows,
  ChecksumMismatchError,
  fitNetwork,
  fitPreprocessor,
  loadModelDir,
  loadPredictor,
  ModelNotFoundError,
  NeuralPredictor,
  packArtifact,
  readArtifactDir,
  RunIdMismatchError,
  saveModelDir,
  selectBackend,
  ShapeMismatchError,
  sliceWindows,
  unpackArtifact,
  decodeModel,
  type FeatureSpec,
  type Forecast,
  type WindowSet,
} from '../../../models/index.ts';
import { migrate } from '../../../sql/migrate.ts';
import { loadModelArtifact, ModelVersionConflictError, saveModelArtifact } from '../../../sql/model-artifacts.repo.ts';
import { TestDatabase } from '../../helpers/postgres.ts';
import { marketBars, tempDir } from '../../support/models/fixtures.ts';

const spec: FeatureSpec = { lookback: 12, horizon: 1, volWindow: 20, context: false };
const RUN = 'artifact-run';

let dir: { path: string; dispose: () => Promise<void> };
let set: WindowSet;
let test: WindowSet;
let reference: Forecast[];
let checkpoint: string;

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  dir = await tempDir('artifacts');
  set = buildWindows(marketBars(900, 5_000), spec);
  const train = sliceWindows(set, 0, 600);
  const val = sliceWindows(set, 600, 700);
  test = sliceWindows(set, 700, set.count);
  const pre = fitPreprocessor(train, { runId: RUN, kind: 'lstm' });
  const fit = await fitNetwork(train, val, pre, {
    network: { kind: 'lstm', lookback: spec.lookback, featureCount: set.featureNames.length, hiddenUnits: [8], dropout: 0.1, learningRate: 0.01, seed: 11 },
    epochs: 1,
    batchSize: 64,
    patience: 1,
  });
  const predictor = new NeuralPredictor(fit.model, pre, RUN);
  reference = predictor.predictSet(test);
  checkpoint = join(dir.path, 'checkpoints', RUN, 'best');
  await saveModelDir(checkpoint, fit.model, pre);
  predictor.dispose();
});

afterAll(async () => {
  await dir.dispose();
});

/** A copy of the checkpoint to damage, in its own checkpoints/<run>/best layout. */
async function copyCheckpoint(name: string, run = RUN): Promise<string> {
  const target = join(dir.path, name, 'checkpoints', run, 'best');
  await cp(checkpoint, target, { recursive: true });
  return target;
}

describe('artifact IO', () => {
  it('writes model.json, weights.bin and preprocessor.json with no temp files left', async () => {
    const files = await readArtifactDir(checkpoint);
    const modelJson = JSON.parse(files.modelJson.toString('utf8')) as { userDefinedMetadata: { runId: string }; weightsManifest: { paths: string[] }[] };
    expect(modelJson.userDefinedMetadata.runId).toBe(RUN);
    expect(modelJson.weightsManifest[0]?.paths).toEqual(['weights.bin']);
    expect(files.weightsBin.length, 'weights are float32').toBeGreaterThan(0);
    expect(files.weightsBin.length % 4).toBe(0);
    expect((await readdir(checkpoint)).sort(), 'only the three files, no .tmp leftovers').toEqual(['model.json', 'preprocessor.json', 'weights.bin']);
  });

  it('round-trips a directory to identical predictions', async () => {
    const p = await loadPredictor({ dir: checkpoint }, { expectRunId: RUN });
    expect(p.predictSet(test), 'loaded model predicts exactly as the trained one').toEqual(reference);
    p.dispose();
  });

  it('round-trips one packed buffer to identical predictions, and refuses a flipped bit', async () => {
    const packed = packArtifact(await readArtifactDir(checkpoint));
    const loaded = await decodeModel(unpackArtifact(packed.bytes, packed.sha256), { source: 'packed' });
    const p = new NeuralPredictor(loaded.model, loaded.preprocessor);
    expect(p.predictSet(test)).toEqual(reference);
    p.dispose();
    const damaged = Buffer.from(packed.bytes);
    damaged[damaged.length - 10] = (damaged[damaged.length - 10] ?? 0) ^ 0x01;
    expect(() => unpackArtifact(damaged, packed.sha256, 'model version v1'), 'one flipped bit').toThrow(ChecksumMismatchError);
    expect(() => unpackArtifact(damaged, packed.sha256, 'model version v1')).toThrow(/checksum mismatch for model version v1: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}; refusing/);
  });

  it('refuses a corrupted weights file with a clear error', async () => {
    const target = await copyCheckpoint('corrupt');
    const weights = await readFile(join(target, 'weights.bin'));
    weights[7] = (weights[7] ?? 0) ^ 0xff;
    await writeFile(join(target, 'weights.bin'), weights);
    const err = await loadModelDir(target).catch((e: unknown) => e);
    expect(err, 'a corrupted weights.bin must not load').toBeInstanceOf(ChecksumMismatchError);
    expect((err as ChecksumMismatchError).message).toContain(`${target}/weights.bin`);
    expect((err as ChecksumMismatchError).exitCode).toBe(9);
  });

  it('refuses artifacts of different runs, and a checkpoint filed under another run', async () => {
    const target = await copyCheckpoint('mixed');
    const pre = JSON.parse(await readFile(join(target, 'preprocessor.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(target, 'preprocessor.json'), JSON.stringify({ ...pre, runId: 'other-run' }));
    const err = await loadModelDir(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunIdMismatchError);
    expect((err as RunIdMismatchError).message).toBe(`run_id mismatch: ${target}/preprocessor.json has run_id "other-run", expected "${RUN}"`);

    const misfiled = await copyCheckpoint('misfiled', 'another-run');
    await expect(loadModelDir(misfiled), 'checkpoints/another-run holding artifact-run').rejects.toThrow(RunIdMismatchError);
    await expect(loadModelDir(checkpoint, { expectRunId: 'x' }), 'an explicit expected run id').rejects.toThrow(/expected "x"/);
  });

  it('refuses a preprocessor whose lookback does not match the model input', async () => {
    const target = await copyCheckpoint('shape');
    const pre = JSON.parse(await readFile(join(target, 'preprocessor.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(target, 'preprocessor.json'), JSON.stringify({ ...pre, lookback: 24 }));
    const err = await loadModelDir(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeMismatchError);
    expect((err as ShapeMismatchError).message).toMatch(/model input shape vs preprocessor \[batch, lookback, features\] mismatch .*: expected \[null,24,6\], got \[null,12,6\]/);
  });

  it('reports a missing directory as not found', async () => {
    await expect(loadModelDir(join(dir.path, 'nope'))).rejects.toThrow(ModelNotFoundError);
  });
});

describe('model_versions artifact storage (PostgreSQL)', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await TestDatabase.create('model_artifacts');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.dispose();
  });

  it('stores the packed checkpoint and loads it back to identical predictions', async () => {
    const packed = packArtifact(await readArtifactDir(checkpoint));
    const row = { version: 'lstm-v1', scope: 'binance.BTCUSDT', role: 'pretrained' as const, kind: 'lstm', runId: RUN, artifact: packed.bytes, artifactSha256: packed.sha256 };
    await saveModelArtifact(pool, row);
    await saveModelArtifact(pool, row); // idempotent
    const stored = await loadModelArtifact(pool, 'lstm-v1');
    expect(stored?.artifactSha256).toBe(packed.sha256);
    expect(stored?.artifact?.equals(packed.bytes), 'the same bytes come back').toBe(true);
    expect(stored?.status, 'new versions are candidates').toBe('candidate');
    const p = await loadPredictor({ version: 'lstm-v1', db: pool });
    expect(p.version).toBe('lstm-v1');
    expect(p.predictSet(test)).toEqual(reference);
    p.dispose();
    const other = packArtifact({ ...(await readArtifactDir(checkpoint)), preprocessorJson: Buffer.from('{}') });
    await expect(saveModelArtifact(pool, { ...row, artifact: other.bytes, artifactSha256: other.sha256 }), 'versions are immutable').rejects.toThrow(
      ModelVersionConflictError,
    );
  });

  it('refuses a stored artifact whose bytes no longer match its sha256', async () => {
    const packed = packArtifact(await readArtifactDir(checkpoint));
    await saveModelArtifact(pool, { version: 'lstm-v2', scope: 'global', role: 'pretrained', kind: 'lstm', runId: RUN, artifact: packed.bytes, artifactSha256: packed.sha256 });
    // Flip one bit of one stored byte.
    await pool.query(`UPDATE model_versions SET artifact = set_byte(artifact, 199, get_byte(artifact, 199) # 1) WHERE version = 'lstm-v2'`);
    const err = await loadPredictor({ version: 'lstm-v2', db: pool }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as Error).message).toMatch(/^checksum mismatch for model version lstm-v2/);
    await expect(loadPredictor({ version: 'missing', db: pool })).rejects.toThrow(ModelNotFoundError);
  });
});
