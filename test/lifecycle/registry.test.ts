import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelEvent } from '../../actors/lifecycle/events.schema.ts';
import { activateVersion, LifecycleError, registerCandidate, rollback, type RegistryEnv } from '../../actors/lifecycle/registry.ts';
import { sha256 } from '../../models/index.ts';
import { countVersions, getVersion, listVersions } from '../../sql/registry.repo.ts';
import { modelActiveSchema } from '../../streams/index.ts';
import { readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { registryEnv } from './fixtures.ts';
import { scheduleTick, DEFAULT_SCHEDULE } from '../../actors/lifecycle/scheduler.ts';
import { retrainCommandSchema } from '../../streams/index.ts';
import { WeightsScoreFeed } from '../../actors/lifecycle/weights-score-feed.ts';
import type { LiveScore } from '../../actors/lifecycle/auto-rollback.ts';
import { encodeJson } from '../../streams/index.ts';
import { eventually } from '../helpers/stream-reader.ts';

let sys: TestSystem;
let env: RegistryEnv;
let kv: KV;

/** Registry operations do not decode models: any bytes with their sha256 will do here. */
const fakeArtifact = (i: number) => {
  const bytes = Buffer.from(`model-${i}`);
  return { bytes, sha256: sha256(bytes) };
};

beforeAll(async () => {
  sys = await startTestSystem('lifecycle_registry');
  ({ env, kv } = await registryEnv(sys));
});
afterAll(async () => {
  await sys?.dispose();
});

describe('registry', () => {
  it('keeps the last N artifacts per scope plus every version ever active; rows stay', async () => {
    const scope = 'kraken.XBTUSD';
    const versions: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      versions.push(await registerCandidate(sys.db, { scope, role: 'pretrained', kind: 'mlp', runId: `r${i}`, artifact: fakeArtifact(i) }));
      // created_at must differ for a stable order.
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(versions[0]).toBe('v1.0.0');
    expect(new Set(versions).size, 'unique names').toBe(12);
    await activateVersion(env, { version: versions[0] ?? '', reason: 'first', actor: 'test', keep: 10 });
    const last = await activateVersion(env, { version: versions[11] ?? '', reason: 'newest', actor: 'test', keep: 10 });
    expect(last.from).toBe(versions[0]);
    const rows = await listVersions(sys.db, { scope });
    expect(rows, 'every row is kept').toHaveLength(12);
    const removed = rows.filter((r) => r.artifactBytes === null).map((r) => r.version);
    expect(removed, 'only the 2nd oldest lost its artifact: outside the newest 10 and never active').toEqual([versions[1]]);
    expect((await getVersion(sys.db, versions[0] ?? ''))?.artifactBytes, 'the once-active first version keeps its artifact').not.toBeNull();

    const err = await rollback(env, { scope, toVersion: versions[1] ?? '', reason: 'x', actor: 'test' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LifecycleError);
    expect((err as LifecycleError).code, 'a version without artifact cannot be activated').toBe('no_artifact');
    const other = await rollback(env, { scope: 'kraken.ETHUSD', toVersion: versions[0] ?? '', reason: 'x', actor: 'test' }).catch((e: unknown) => e);
    expect((other as LifecycleError).code, 'a version of another scope is refused').toBe('invalid');
  });

  it('keeps one active version per role and regime, and the KV entry names each', async () => {
    const scope = 'kraken.SOLUSD';
    const calm = await registerCandidate(sys.db, { scope, role: 'pretrained', kind: 'mlp', regime: 'calm', runId: 'c', artifact: fakeArtifact(100) });
    const volatile = await registerCandidate(sys.db, { scope, role: 'pretrained', kind: 'lstm', regime: 'volatile', runId: 'v', artifact: fakeArtifact(101) });
    const online = await registerCandidate(sys.db, { scope, role: 'online', kind: 'mlp', runId: 'o', artifact: fakeArtifact(102), parentVersion: calm });
    for (const v of [calm, volatile, online]) await activateVersion(env, { version: v, reason: 'setup', actor: 'test' });
    const e = await kv.get(scope);
    const value = modelActiveSchema.parse(e?.json());
    expect(value.pretrained, 'one pretrained version per regime').toEqual({ calm, volatile });
    expect(value.online).toBe(online);
    expect((await getVersion(sys.db, online))?.parentVersion, 'lineage').toBe(calm);

    const calm2 = await registerCandidate(sys.db, { scope, role: 'pretrained', kind: 'mlp', regime: 'calm', runId: 'c2', artifact: fakeArtifact(103) });
    const r = await activateVersion(env, { version: calm2, reason: 'new calm model', actor: 'test' });
    expect(r.from, 'only the same regime is replaced').toBe(calm);
    expect(modelActiveSchema.parse((await kv.get(scope))?.json()).pretrained).toEqual({ calm: calm2, volatile });
    const back = await rollback(env, { scope, regime: 'calm', reason: 'undo', actor: 'test' });
    expect(back.version).toBe(calm);
    const events = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.rolledback')).map((x) => x.data);
    expect(events.at(-1)).toMatchObject({ scope, regime: 'calm', version: calm, from: calm2 });
    expect(await countVersions(sys.db)).toBe(16);
  });

  it('turns the confidence weigher\'s signal.weights messages into live scores exp(-meanLogLoss)', async () => {
    const feed = new WeightsScoreFeed(sys.nc, sys.log);
    const got: LiveScore[] = [];
    const off = feed.subscribe((s) => got.push(s));
    await sys.nc.flush();
    const msg = {
      venue: 'binance',
      symbol: 'BTCUSDT',
      ts: Date.UTC(2026, 0, 1),
      createdAt: Date.UTC(2026, 0, 1, 0, 1),
      regime: 'calm',
      scored: 10,
      components: [
        { role: 'pretrained', version: 'v1.0.0', weight: 0.6, meanAbsError: 0.001, meanLogLoss: Math.LN2, scored: 10 },
        { role: 'online', version: 'v1.2611.20-2', weight: 0.4, meanAbsError: null, meanLogLoss: null, scored: 0 },
        { role: 'baseline', version: 'ewma', weight: 0, meanAbsError: 0.001, meanLogLoss: 0.5, scored: 10 },
      ],
      history: [],
    };
    sys.nc.publish('signal.weights.binance.BTCUSDT', encodeJson(msg));
    sys.nc.publish('signal.weights.binance.BTCUSDT', encodeJson({ not: 'weights' }));
    await eventually(() => got.length >= 1, 5_000, 'a score');
    await new Promise((r) => setTimeout(r, 100));
    off();
    expect(got, 'one score: unscored components, other roles and invalid messages are skipped').toHaveLength(1);
    expect(got[0]).toMatchObject({ venue: 'binance', symbol: 'BTCUSDT', role: 'pretrained', version: 'v1.0.0' });
    expect(got[0]?.score, 'a coin flip scores 0.5').toBeCloseTo(0.5, 10);
  });

  it('publishes scheduled and due feedback retrain commands once per scope and time slot', async () => {
    const js = env.js;
    const now = Date.UTC(2026, 10, 20, 12, 0, 30);
    const sched = { ...DEFAULT_SCHEDULE, everyMs: 3_600_000, feedbackCheckMs: 60_000, policy: { minNewBars: 1, minDays: 0, urgentBars: 10 } };
    const first = await scheduleTick({ db: sys.db, js }, sched, now, { schedule: true, feedback: false });
    const again = await scheduleTick({ db: sys.db, js }, sched, now + 1_000, { schedule: true, feedback: false });
    expect(first.sort(), 'one command per scope with an active model').toEqual([`schedule-kraken.SOLUSD-${Math.floor(now / 3_600_000)}`, `schedule-kraken.XBTUSD-${Math.floor(now / 3_600_000)}`]);
    expect(again.sort(), 'the same slot gives the same ids').toEqual(first.sort());
    const cmds = (await readStream(sys.nc, 'MODEL_EVENTS', 'model.retrain.cmd')).map((m) => retrainCommandSchema.parse(m.data));
    expect(cmds.filter((c) => c.trigger === 'schedule'), 'deduplicated in the stream').toHaveLength(2);
    // No bars were stored for these scopes: the feedback policy is not due.
    expect(await scheduleTick({ db: sys.db, js }, sched, now, { schedule: false, feedback: true })).toEqual([]);
  });
});
