import type { NatsConnection } from '@nats-io/transport-node';
import { Svcm } from '@nats-io/services';
import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelLifecycle, type ModelLifecycleHandle } from '../../../../actors/lifecycle/model-lifecycle.ts';
import { PushOutcomeFeed } from '../../../../actors/prediction/index.ts';
import type { ModelEvent } from '../../../../actors/lifecycle/events.schema.ts';
import { KvModelSource } from '../../../../actors/lifecycle/kv-model-source.ts';
import { activateVersion, LifecycleError, registerCandidate, syncKv, type RegistryEnv } from '../../../../actors/lifecycle/registry.ts';
import { startServingLoop, type ServingLoopHandle } from '../../../../bench/support/serving-loop.ts';
import { readPredictions } from '../../../../sql/index.ts';
import { getVersion, listDeployments } from '../../../../sql/registry.repo.ts';
import { connectNats, encodeJson, modelActiveSchema, msgIds, publishJson, subjects, type Bar } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { registryEnv, TINY_SPEC, trainTinyModels, type TinyModel } from '../../../support/actors/lifecycle/fixtures.ts';

const SCOPE = 'binance.BTCUSDT';
let sys: TestSystem;
let env: RegistryEnv;
let kv: KV;
let models: TinyModel[];
let disposeModels: () => Promise<void>;
const conns: NatsConnection[] = [];
const sources: KvModelSource[] = [];
const versions: string[] = [];

async function kvValue() {
  const e = await kv.get(SCOPE);
  return e ? modelActiveSchema.parse(e.json()) : undefined;
}

const serving = (s: KvModelSource) => s.snapshot('binance', 'BTCUSDT').pretrained[0]?.version;

async function register(m: TinyModel): Promise<string> {
  const v = await registerCandidate(env.db, { scope: SCOPE, role: 'pretrained', kind: 'mlp', runId: m.runId, artifact: m.packed, metrics: { note: 'test' } });
  versions.push(v);
  return v;
}

beforeAll(async () => {
  sys = await startTestSystem('lifecycle_swap');
  ({ env, kv } = await registryEnv(sys));
  ({ models, dispose: disposeModels } = await trainTinyModels(3, 'swap'));
});

afterAll(async () => {
  for (const s of sources) await s.stop();
  for (const c of conns) await c.close();
  await disposeModels?.();
  await sys?.dispose();
});

describe('activation, hot swap across processes, refusal of corrupted artifacts', () => {
  it('names the first model v1.0.0 and both KV watchers (two connections) switch on one activation', async () => {
    const [a, b] = models;
    if (!a || !b) throw new Error('fixtures missing');
    const vA = await register(a);
    expect(vA, 'the first model ever registered').toBe('v1.0.0');
    await activateVersion(env, { version: vA, reason: 'first model', actor: 'test' });

    for (const name of ['proc-a', 'proc-b']) {
      const nc = await connectNats(sys.settings, name);
      conns.push(nc);
      sources.push(await KvModelSource.start({ nc, db: sys.db, log: sys.log, name }));
    }
    const [srcA, srcB] = sources;
    if (!srcA || !srcB) throw new Error('sources missing');
    expect(serving(srcA), 'process A serves the active version after its initial load').toBe(vA);
    expect(serving(srcB), 'process B too').toBe(vA);
    const before = srcA.snapshot('binance', 'BTCUSDT');
    expect(Object.isFrozen(before), 'snapshots are immutable').toBe(true);

    const vB = await register(b);
    expect(vB, 'later versions are v<major>.<yymm>.<dd>-<n>').toMatch(/^v1\.\d{4}\.\d{2}-1$/);
    const t0 = performance.now();
    await activateVersion(env, { version: vB, reason: 'test swap', actor: 'test' });
    await eventually(() => serving(srcA) === vB && serving(srcB) === vB, 5_000, 'both processes to serve the new version');
    const ms = performance.now() - t0;
    console.log(`activation -> both KV watchers swapped: ${ms.toFixed(0)} ms`);
    expect(before.pretrained[0]?.version, 'a snapshot taken before the swap is untouched').toBe(vA);
    expect(srcA.snapshot('binance', 'BTCUSDT').pretrained[0]?.predictor.version, 'the predictor is the version it names').toBe(vB);
    expect(srcA.snapshot('binance', 'ETHUSDT').pretrained, 'other symbols have no key and no default').toHaveLength(0);

    expect((await getVersion(sys.db, vA))?.status).toBe('retired');
    expect((await getVersion(sys.db, vB))?.status).toBe('active');
    expect((await getVersion(sys.db, vB))?.everActive).toBe(true);
    const deps = await listDeployments(sys.db, { scope: SCOPE });
    expect(deps.map((d) => [d.fromVersion, d.toVersion, d.action]), 'every activation is recorded from -> to').toEqual([
      [vA, vB, 'activate'],
      [null, vA, 'activate'],
    ]);
    expect((await kvValue())?.pretrained).toEqual({ any: vB });
    const events = await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.>');
    expect(events.filter((e) => e.data.kind === 'deployed').map((e) => e.data.version)).toEqual([vA, vB]);
    expect(events.filter((e) => e.data.kind === 'retired').map((e) => e.data.version)).toEqual([vA]);
  });

  it('refuses a corrupted artifact: activation is refused, and a KV value naming it is refused at load while the champion keeps serving', async () => {
    const c = models[2];
    const [srcA, srcB] = sources;
    if (!c || !srcA || !srcB) throw new Error('fixtures missing');
    const champion = serving(srcA);
    const vC = await register(c);
    // Flip bytes in the middle of the stored artifact; the sha256 column keeps the original hash.
    await sys.db.query(`UPDATE model_versions SET artifact = overlay(artifact placing '\\xdeadbeef'::bytea from 200) WHERE version = $1`, [vC]);

    const err = await activateVersion(env, { version: vC, reason: 'should fail', actor: 'test' }).catch((e: unknown) => e);
    expect(err, 'activation checks the sha256').toBeInstanceOf(LifecycleError);
    expect((err as LifecycleError).code).toBe('corrupt');
    expect((await getVersion(sys.db, vC))?.status, 'the corrupted candidate was not activated').toBe('candidate');
    expect((await kvValue())?.pretrained.any, 'KV unchanged').toBe(champion);

    // Bytes that rot after activation (or a KV written by hand): every predictor refuses them at load.
    const refusalsBefore = srcA.stats.refusals + srcB.stats.refusals;
    await kv.put(SCOPE, encodeJson({ pretrained: { any: vC }, updatedAt: Date.now(), reason: 'test: corrupted after activation' }));
    await eventually(() => srcA.stats.refusals + srcB.stats.refusals >= refusalsBefore + 2, 5_000, 'both processes to refuse the corrupted version');
    expect(serving(srcA), 'the champion keeps serving in process A').toBe(champion);
    expect(serving(srcB), 'and in process B').toBe(champion);
    await eventually(async () => (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.verification_failed')).length >= 2, 5_000, 'refusal events');
    const refusals = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.verification_failed')).map((e) => e.data);
    expect(refusals.map((r) => r.source).sort(), 'each process says why').toEqual(['proc-a', 'proc-b']);
    for (const r of refusals) {
      expect(r.version).toBe(vC);
      expect(r.stage).toBe('load');
      expect(r.reasons.join(' '), 'the event names the cause').toMatch(/checksum mismatch/);
    }
    // Repair the KV from the database (the source of truth).
    await syncKv(kv, sys.db, SCOPE, 'repair after test', Date.now());
    await eventually(() => srcA.serving(SCOPE)?.reason === 'repair after test' && srcB.serving(SCOPE)?.reason === 'repair after test', 5_000, 'repair applied');
  });
});

describe('KV updates in quick succession', () => {
  it('end with every process serving the newest value (older ones may be skipped, never applied after it)', async () => {
    const [vA, vB] = versions;
    const [srcA, srcB] = sources;
    if (!vA || !vB || !srcA || !srcB) throw new Error('fixtures missing');
    const champion = serving(srcA);
    const order: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const v = i % 2 === 0 ? vA : vB;
      order.push(v);
      await kv.put(SCOPE, encodeJson({ pretrained: { any: v }, updatedAt: Date.now(), reason: `burst ${i}` }));
    }
    await eventually(() => srcA.serving(SCOPE)?.reason === 'burst 5' && srcB.serving(SCOPE)?.reason === 'burst 5', 5_000, 'the newest value everywhere');
    await srcA.idle();
    expect(serving(srcA), 'the last value wins').toBe(order.at(-1));
    expect(serving(srcB)).toBe(order.at(-1));
    // Back to what the database says is active.
    await syncKv(kv, sys.db, SCOPE, 'after burst', Date.now());
    await eventually(() => serving(srcA) === champion && serving(srcB) === champion, 5_000, 'database state restored');
  });
});

describe('rollback, manual and automatic, with predictions flowing', () => {
  let lifecycle: ModelLifecycleHandle;
  let loop: ServingLoopHandle;
  const feed = new PushOutcomeFeed();
  let publishing = true;
  let barTs = Date.UTC(2026, 0, 1);
  let publisher: Promise<void>;

  beforeAll(async () => {
    lifecycle = startModelLifecycle({
      nc: sys.nc,
      db: sys.db,
      settings: sys.settings,
      log: sys.log,
      trainer: () => Promise.reject(new Error('no training in this test')),
      outcomes: feed,
      liveSkill: { window: 5, degradedSkill: 0.95, rollbackSkill: 0.9 },
    });
    await lifecycle.ready();
    const src = sources[0];
    if (!src) throw new Error('sources missing');
    loop = await startServingLoop({ nc: sys.nc, db: sys.db, log: sys.log, models: src, spec: TINY_SPEC, durable: 'swap_test_loop', batchSize: 50 });
    const bars = models[0]?.bars ?? [];
    const js = (await import('@nats-io/jetstream')).jetstream(sys.nc);
    let i = 0;
    publisher = (async () => {
      while (publishing) {
        const b = bars[i % bars.length];
        i += 1;
        if (!b) break;
        const bar: Bar = { venue: 'binance', symbol: 'BTCUSDT', interval: '1m', ts: barTs, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'replay' };
        barTs += 60_000;
        await publishJson(js, { subject: subjects.bar1m('binance', 'BTCUSDT'), payload: bar, msgId: msgIds.bar('binance', 'BTCUSDT', bar.ts) });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await eventually(() => loop.stats.predictions > 20, 20_000, 'predictions flowing');
  });

  afterAll(async () => {
    publishing = false;
    await publisher;
    await loop?.stop();
    await lifecycle?.stop();
  });

  /** Versions named by stored predictions, in bar order, with runs collapsed. */
  async function versionRuns(): Promise<string[]> {
    const preds = await readPredictions(sys.db, 'binance', 'BTCUSDT');
    const runs: string[] = [];
    for (const p of preds) {
      const v = p.components[0]?.version ?? '?';
      if (runs.at(-1) !== v) runs.push(v);
    }
    return runs;
  }

  it('is listed as a NATS service with status, models, retrain, rollback and rollout endpoints', async () => {
    const client = new Svcm(sys.nc as unknown as ConstructorParameters<typeof Svcm>[0]).client();
    const infos = [];
    for await (const i of await client.info('model-lifecycle')) infos.push(i);
    expect(infos, 'one service instance answers').toHaveLength(1);
    expect(infos[0]?.endpoints.map((e) => e.subject).sort()).toEqual([
      'model-lifecycle.models',
      'model-lifecycle.retrain',
      'model-lifecycle.rollback',
      'model-lifecycle.rollout',
      'model-lifecycle.status',
    ]);
    const status = (await sys.nc.request('model-lifecycle.status', new Uint8Array(), { timeout: 5_000 })).json<{
      active: Record<string, { pretrained: Record<string, string> }>;
      schedule: unknown[];
    }>();
    expect(status.active[SCOPE]?.pretrained.any, 'status shows the active version').toBe(versions[1]);
    expect(
      status.schedule.every((s) => typeof s === 'object' && s !== null && 'nextScheduledAt' in s),
      "schedule is the scheduler's view of each scope, not the names of the active scopes",
    ).toBe(true);
    const listed = (await sys.nc.request('model-lifecycle.models', encodeJson({ scope: SCOPE }), { timeout: 5_000 })).json<{ versions: { version: string }[] }>();
    expect(listed.versions.map((v) => v.version).sort()).toEqual([...versions].sort());
  });

  it('rolls back manually through the service endpoint in under a second (KV, database, predictions)', async () => {
    const [vA, vB] = versions;
    const [srcA, srcB] = sources;
    if (!vA || !vB || !srcA || !srcB) throw new Error('fixtures missing');
    expect(serving(srcA)).toBe(vB);
    const t0 = performance.now();
    const reply = await sys.nc.request('model-lifecycle.rollback', encodeJson({ scope: SCOPE, reason: 'test manual rollback' }), { timeout: 5_000 });
    const body = reply.json<{ version: string; from: string; latencyMs: number }>();
    expect(body, 'rolled back to the previous version').toMatchObject({ version: vA, from: vB });
    await eventually(() => serving(srcA) === vA && serving(srcB) === vA, 2_000, 'both processes to serve the rollback target');
    const ms = performance.now() - t0;
    console.log(`manual rollback: decision -> KV ${body.latencyMs} ms, -> both processes serving ${ms.toFixed(0)} ms`);
    expect(ms, 'rollback visible in every process in under a second').toBeLessThan(1_000);
    expect((await kvValue())?.pretrained.any).toBe(vA);
    expect((await getVersion(sys.db, vA))?.status).toBe('active');
    expect((await getVersion(sys.db, vB))?.status).toBe('retired');
    const predsBefore = loop.stats.predictions;
    await eventually(() => loop.stats.predictions > predsBefore + 5, 5_000, 'predictions after the rollback');
    expect(await versionRuns(), 'predictions switched once, at a bar boundary, from B to A').toEqual([vB, vA]);
    const last = (await listDeployments(sys.db, { scope: SCOPE }))[0];
    expect(last).toMatchObject({ action: 'rollback', fromVersion: vB, toVersion: vA, actor: 'service', reason: 'test manual rollback' });
    const events = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.rolledback')).map((e) => e.data);
    expect(events.at(-1)).toMatchObject({ version: vA, from: vB, actor: 'service' });
  });

  it('rolls back automatically when the live score of the active version degrades, in under a second', async () => {
    const [vA, vB] = versions;
    const [srcA, srcB] = sources;
    if (!vA || !vB || !srcA || !srcB) throw new Error('fixtures missing');
    // A is active again; promote B, then let the weigher's scores of B sink below 0.4.
    await activateVersion(env, { version: vB, reason: 'promote again', actor: 'test' });
    await eventually(() => serving(srcA) === vB && serving(srcB) === vB, 2_000, 'B served again');
    const predsBefore = loop.stats.predictions;
    await eventually(() => loop.stats.predictions > predsBefore + 5, 5_000, 'predictions with B');
    // Healthy outcomes first (no rollback), then poor ones: B forecasts confidently the wrong way.
    const outcome = (ts: number, value: number, pUp: number) =>
      feed.push({ venue: 'binance', symbol: 'BTCUSDT', ts, actual: 0.001, components: [{ role: 'pretrained', version: vB, value, pUp }] });
    for (let i = 0; i < 5; i += 1) outcome(i, 0.0009, 0.6);
    await new Promise((r) => setTimeout(r, 200));
    expect(serving(srcA), 'healthy scores do not roll back').toBe(vB);
    const t0 = performance.now();
    for (let i = 0; i < 5; i += 1) outcome(10 + i, -0.003, 0.1);
    await eventually(() => serving(srcA) === vA && serving(srcB) === vA, 2_000, 'automatic rollback to A');
    const ms = performance.now() - t0;
    console.log(`automatic rollback: degradation detected -> both processes serving ${ms.toFixed(0)} ms`);
    expect(ms, 'automatic rollback in under a second').toBeLessThan(1_000);
    expect((await kvValue())?.pretrained.any).toBe(vA);
    expect((await getVersion(sys.db, vA))?.status).toBe('active');
    const last = (await listDeployments(sys.db, { scope: SCOPE }))[0];
    expect(last).toMatchObject({ action: 'rollback', fromVersion: vB, toVersion: vA, actor: 'auto-rollback' });
    expect(last?.reason).toMatch(/live skill 0\.\d+ < 0\.9 over the last 5 outcomes of binance\/BTCUSDT/);
    const predsAfter = loop.stats.predictions;
    await eventually(() => loop.stats.predictions > predsAfter + 5, 5_000, 'predictions after the automatic rollback');
    expect(await versionRuns(), 'B -> A -> B -> A, each switch at a bar boundary').toEqual([vB, vA, vB, vA]);
    const ev = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.rolledback')).map((e) => e.data).at(-1);
    expect(ev).toMatchObject({ version: vA, from: vB, actor: 'auto-rollback' });
    await eventually(() => lifecycle.actor.getSnapshot().context.stats.autoRollbacks === 1, 2_000, 'the machine counted the automatic rollback');
  });
});
