import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelEvent } from '../../../../actors/lifecycle/events.schema.ts';
import { activateVersion, LifecycleError, registerCandidate, rollback, type RegistryEnv } from '../../../../actors/lifecycle/registry.ts';
import { sha256 } from '../../../../models/index.ts';
import { countVersions, getVersion, listVersions } from '../../../../sql/registry.repo.ts';
import { modelActiveSchema } from '../../../../streams/index.ts';
import { readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { registryEnv } from '../../../support/actors/lifecycle/fixtures.ts';
import { DEFAULT_SCHEDULE, feedbackTick, nextFire, scheduledRetrains } from '../../../../actors/lifecycle/scheduler.ts';
import { retrainCommandSchema, type Bar, type Prediction } from '../../../../streams/index.ts';
import { insertPredictions, saveIngestState, upsertBars } from '../../../../sql/index.ts';

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

  it('publishes scheduled retrains once per symbol and fire, and a feedback retrain once corrections reach the threshold', async () => {
    const js = env.js;
    const fire = Date.UTC(2026, 11, 1, 3, 0);
    expect(nextFire(DEFAULT_SCHEDULE.cron, Date.UTC(2026, 10, 20, 12)), 'the default: the 1st of the month at 03:00 UTC').toBe(fire);
    const t0 = Date.UTC(2026, 10, 20, 12);
    const client = await sys.db.connect();
    try {
      await saveIngestState(client, [
        { venue: 'fb', symbol: 'AAA', openMinute: undefined, lastTickTs: t0 },
        { venue: 'fb', symbol: 'BBB', openMinute: undefined, lastTickTs: t0 },
      ]);
      // AAA: 31 bars alternating up and down; every prediction says "up" with a small value: 15 are wrong.
      const bars: Bar[] = Array.from({ length: 31 }, (_, i) => {
        const close = i % 2 === 0 ? 100 : 100.1;
        return { venue: 'fb', symbol: 'AAA', interval: '1m', ts: t0 + i * 60_000, open: close, high: close, low: close, close, volume: 1, source: 'replay' } as Bar;
      });
      await upsertBars(client, bars);
    } finally {
      client.release();
    }
    const preds: Prediction[] = Array.from({ length: 30 }, (_, i) => ({
      venue: 'fb', symbol: 'AAA', ts: t0 + i * 60_000, horizon: '1m', createdAt: t0 + i * 60_000 + 1, value: 0.0005, pUp: 0.6, confidence: 0.5, regime: 'calm', components: [], quality: 'ok',
    }) as Prediction);
    await insertPredictions(sys.db, preds);

    const first = await scheduledRetrains({ db: sys.db, js }, DEFAULT_SCHEDULE, fire);
    const again = await scheduledRetrains({ db: sys.db, js }, DEFAULT_SCHEDULE, fire);
    expect(first.filter((id) => id.includes('fb.')).sort(), 'one command per symbol').toEqual([`schedule-fb.AAA-${fire}`, `schedule-fb.BBB-${fire}`]);
    expect(again.sort(), 'the same fire gives the same ids').toEqual(first.sort());
    const cmds = (await readStream(sys.nc, 'MODEL_EVENTS', 'model.retrain.cmd')).map((m) => retrainCommandSchema.parse(m.data));
    expect(cmds.filter((c) => c.trigger === 'schedule' && c.venue === 'fb'), 'deduplicated in the stream').toHaveLength(2);
    expect(cmds.find((c) => c.symbol === 'AAA')?.config).toMatchObject({ role: 'pretrained' });

    const policy = { ...DEFAULT_SCHEDULE.policy, minCorrections: 16, urgentCorrections: 1_000 };
    const below = await feedbackTick({ db: sys.db, js }, { ...DEFAULT_SCHEDULE, policy }, t0 + 3_600_000);
    expect(below.published, '15 corrections < 16').toEqual([]);
    expect(below.scopes.find((x) => x.scope === 'fb.AAA')).toMatchObject({ correctionsSinceTraining: 15, lastTrainedAt: null, nextScheduledAt: fire });
    const at = await feedbackTick({ db: sys.db, js }, { ...DEFAULT_SCHEDULE, policy: { ...policy, minCorrections: 15 } }, t0 + 3_600_000);
    expect(at.published, 'at the threshold, never trained before: due').toEqual(['feedback-fb.AAA-0']);
    const fb = (await readStream(sys.nc, 'MODEL_EVENTS', 'model.retrain.cmd')).map((m) => retrainCommandSchema.parse(m.data)).filter((c) => c.trigger === 'feedback');
    expect(fb).toHaveLength(1);
    expect(fb[0]).toMatchObject({ venue: 'fb', symbol: 'AAA', config: { role: 'online' } });
    const bound = await feedbackTick({ db: sys.db, js }, { ...DEFAULT_SCHEDULE, policy: { ...policy, minCorrections: 30, errorBound: 0.0001 } }, t0 + 3_600_000);
    expect(bound.scopes.find((x) => x.scope === 'fb.AAA')?.correctionsSinceTraining, 'right direction but missed by more than the bound counts too').toBe(30);
  });
});
