import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelEvent } from '../../../../actors/lifecycle/events.schema.ts';
import { KvModelSource } from '../../../../actors/lifecycle/kv-model-source.ts';
import { RegistryCandidateSink } from '../../../../actors/lifecycle/registry-candidate-sink.ts';
import { activateVersion, registerCandidate, type RegistryEnv } from '../../../../actors/lifecycle/registry.ts';
import { buildWindows, decodeModel, NeuralPredictor, unpackArtifact, windowAt } from '../../../../models/index.ts';
import type { FineTuneCandidate } from '../../../../actors/prediction/index.ts';
import { getVersion } from '../../../../sql/registry.repo.ts';
import { modelActiveSchema } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { registryEnv, TINY_SPEC, trainTinyModels, type TinyModel } from '../../../support/actors/lifecycle/fixtures.ts';

const SCOPE = 'binance.BTCUSDT';
let sys: TestSystem;
let env: RegistryEnv;
let kv: KV;
let models: TinyModel[];
let disposeModels: () => Promise<void>;
let source: KvModelSource;
let pretrained: string;

async function candidate(m: TinyModel, localVersion: string): Promise<FineTuneCandidate> {
  const loaded = await decodeModel(unpackArtifact(m.packed.bytes, m.packed.sha256), { source: 'test' });
  const set = buildWindows(marketBars(300, 7_000), TINY_SPEC);
  const n = set.labelled;
  const he = { mae: 0.001, directionAccuracy: 0.5, brier: 0.25 };
  return {
    venue: 'binance',
    symbol: 'BTCUSDT',
    version: localVersion,
    parentVersion: pretrained,
    regime: 'any',
    reason: 'drift',
    predictor: new NeuralPredictor(loaded.model, loaded.preprocessor),
    report: { before: he, after: he, maeImprovement: 0, trainWindows: 100, valWindows: 20, heldOutWindows: n, epochsRan: 1, bestEpoch: 1, frozenLayers: 0, ms: 1 },
    heldOut: { windows: Array.from({ length: n }, (_, i) => windowAt(set, i)), actual: set.target.slice(0, n) },
  };
}

beforeAll(async () => {
  sys = await startTestSystem('lifecycle_sink');
  ({ env, kv } = await registryEnv(sys));
  ({ models, dispose: disposeModels } = await trainTinyModels(2, 'sink'));
  const base = models[0];
  if (!base) throw new Error('fixtures missing');
  pretrained = await registerCandidate(sys.db, { scope: SCOPE, role: 'pretrained', kind: 'mlp', runId: base.runId, artifact: base.packed });
  await activateVersion(env, { version: pretrained, reason: 'setup', actor: 'test' });
  source = await KvModelSource.start({ nc: sys.nc, db: sys.db, log: sys.log, name: 'sink-test' });
});

afterAll(async () => {
  await source?.stop();
  await disposeModels?.();
  await sys?.dispose();
});

describe('RegistryCandidateSink (fine-tuned online models through the registry)', () => {
  it('registers a passing candidate as an online version with lineage and activates it in every process through KV', async () => {
    const m = models[1];
    if (!m) throw new Error('fixtures missing');
    const permissive = { onlineMargin: 100 };
    const sink = new RegistryCandidateSink({ env, models: source, gate: permissive });
    const c = await candidate(m, 'local-ft-1');
    const d = await sink.submit(c);
    expect(d.activated, d.reason).toBe(true);
    expect(d.incumbent.version, 'before any online model the parent pretrained model is the incumbent').toBe(pretrained);
    const value = modelActiveSchema.parse((await kv.get(SCOPE))?.json());
    const online = value.online;
    expect(online, 'KV names the online version').toMatch(/^v1\.\d{4}\.\d{2}-1$/);
    expect(value.pretrained.any, 'the pretrained model keeps serving beside it').toBe(pretrained);
    const row = await getVersion(sys.db, online ?? '?');
    expect(row).toMatchObject({ role: 'online', status: 'active', parentVersion: pretrained });
    expect(row?.params.localVersion).toBe('local-ft-1');
    await eventually(() => source.snapshot('binance', 'BTCUSDT').online?.version === online, 5_000, 'the source to serve the online model');
    expect(() => c.predictor.predict(c.heldOut.windows[0] ?? { ts: 0, rows: [] }), 'the sink disposed the candidate predictor').toThrow();
  });

  it('rejects a candidate that fails the gate and keeps the incumbent online model', async () => {
    const m = models[0];
    if (!m) throw new Error('fixtures missing');
    const before = modelActiveSchema.parse((await kv.get(SCOPE))?.json()).online;
    const sink = new RegistryCandidateSink({ env, models: source, gate: { onlineMargin: -100 } });
    const d = await sink.submit(await candidate(m, 'local-ft-2'));
    expect(d.activated).toBe(false);
    expect(d.incumbent.version, 'the incumbent is now the online model').toBe(before);
    expect(d.reason, 'judged by non-inferiority to the incumbent, not the AUC floor').toMatch(/rejected: nonInferior: loss minus incumbent: mean -?[\d.]+, 95 % CI/);
    expect(modelActiveSchema.parse((await kv.get(SCOPE))?.json()).online, 'online model unchanged').toBe(before);
    const ev = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.rejected')).map((e) => e.data).at(-1);
    expect(ev).toMatchObject({ role: 'online', stage: 'gate', actor: 'fine-tune-gate' });
  });
});
