import { jetstream } from '@nats-io/jetstream';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelEvent } from '../../actors/lifecycle/events.schema.ts';
import { activateVersion, chooseCanary, registerCandidate, type RegistryEnv } from '../../actors/lifecycle/index.ts';
import { DEFAULT_PREDICTOR_SPEC, DEFAULT_PRETRAIN, pretrainRegimeModels } from '../../actors/prediction/index.ts';
import { barMessage, type BarRow } from '../../market/index.ts';
import { encodeModel, packArtifact, selectBackend, type NeuralPredictor, type PackedArtifact } from '../../models/index.ts';
import { listDeployments, listRollouts, readPredictions, type Db } from '../../sql/index.ts';
import { modelActiveSchema, publishPipelined, shadowPredictionSchema, type ModelActive, type Prediction } from '../../streams/index.ts';
import { eventually, readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { registryEnv } from '../support/actors/lifecycle/fixtures.ts';
import { marketSlice, runCli, spawnSystem, type SystemProcess } from './harness.ts';

const VENUE = 'ro';
const SYMBOLS = ['AAA', 'BBB', 'CCC'] as const;
/** How long a KV change may take to reach the predictor and its batch in flight (measured: a few ms; the bound is generous). */
const SWAP_GRACE_MS = 1_500;

/** The model's weights multiplied by `k`: a forecaster far worse than the model itself. */
async function scaledArtifact(p: NeuralPredictor, k: number, runId: string): Promise<PackedArtifact> {
  const original = p.model.getWeights();
  p.model.setWeights(original.map((w) => tf.mul(w, k)));
  const packed = packArtifact(await encodeModel(p.model, { ...p.preprocessor, runId }));
  p.model.setWeights(original);
  return packed;
}

async function register(env: RegistryEnv, runId: string, artifact: PackedArtifact): Promise<string> {
  return registerCandidate(env.db, { scope: 'global', role: 'pretrained', kind: 'mlp', regime: 'any', runId, artifact });
}

/** The rollout events of `version`, in stream order. */
async function eventsOf(sys: TestSystem, version: string): Promise<ModelEvent[]> {
  const all = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.>')).map((m) => m.data);
  // A rollback event names the champion that serves again as `version`, the challenger as `from`.
  return all.filter((e) => (e.actor === 'rollout' || e.actor === 'auto-rollback') && (e.kind === 'rolledback' ? e.from === version : e.kind !== 'retired' && e.version === version));
}

/** Publishes one minute of bars of every symbol. */
async function publishMinute(sys: TestSystem, bars: readonly BarRow[][], i: number): Promise<void> {
  await publishPipelined(
    jetstream(sys.nc),
    SYMBOLS.map((s, k) => {
      const bar = bars[k]?.[i];
      if (!bar) throw new Error(`no bar ${i} of ${s}`);
      return barMessage(VENUE, s, bar);
    }),
  );
}

async function kvDefault(env: RegistryEnv): Promise<ModelActive> {
  return modelActiveSchema.parse((await env.kv.get('default'))?.json());
}

/** The predictions stored for every symbol. */
async function stored(db: Db): Promise<Prediction[]> {
  return (await Promise.all(SYMBOLS.map((s) => readPredictions(db, VENUE, s)))).flat();
}

/**
 * Staged rollouts as `signals run` ships them, with short stages: a challenger
 * started through the lifecycle service runs in shadow (forecasts on
 * signal.shadow.*, scored beside the champion), serves a canary of one of the
 * three symbols, and is promoted when it is better on the live outcomes; a
 * deliberately worse one goes shadow -> canary and is rolled back, across a
 * restart of the process in the middle of its canary. Every step is a
 * deployment row, an event, and visible in KV and `signals status`; no
 * prediction on signal.pred.* comes from a version not serving that symbol then.
 */
describe('staged rollout in `signals run`', () => {
  let sys: TestSystem;
  let env: NodeJS.ProcessEnv;
  let regEnv: RegistryEnv;
  let proc: SystemProcess | undefined;
  let good: PackedArtifact;
  let bad: PackedArtifact;
  let worse: PackedArtifact;
  let bars: BarRow[][];
  let champion: string;

  beforeAll(async () => {
    sys = await startTestSystem('rollout');
    ({ env: regEnv } = await registryEnv(sys));
    await selectBackend({ force: 'wasm' });
    const trained = await pretrainRegimeModels([{ name: 'm', bars: marketSlice(30_000, 900) }], {
      ...DEFAULT_PRETRAIN,
      spec: DEFAULT_PREDICTOR_SPEC,
      epochs: 2,
      minRegimeWindows: 1e9,
      versionPrefix: 'rollout',
    });
    const base = trained.models.find((m) => m.regime === 'any');
    if (!base) throw new Error('no `any` model trained');
    good = base.packed;
    bad = await scaledArtifact(base.predictor, 25, 'bad');
    worse = await scaledArtifact(base.predictor, 20, 'worse');
    for (const m of trained.models) m.predictor.dispose();
    // The champion serving at start: a broken model (Phase 1 is skipped, a pretrained version is active).
    champion = await register(regEnv, 'bad', bad);
    await activateVersion(regEnv, { version: champion, reason: 'test: the champion to beat', actor: 'test' });
    bars = SYMBOLS.map((_, k) => marketSlice(40_000 + 2_000 * k, 200));
    env = {
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      METRICS_PORT: '0',
      DASHBOARD_PORT: 'off',
      LOG_LEVEL: 'info',
      // Short stages, so that a rollout ends within a test: 15 outcomes (5 minutes of 3 symbols) in shadow,
      // a look every 45 (the first one in canary), a promotion from 90. Everything else is the default.
      ROLLOUT_SHADOW_OUTCOMES: '15',
      ROLLOUT_CHECK_EVERY: '45',
      ROLLOUT_PROMOTE_OUTCOMES: '90',
    };
  }, 120_000);
  afterAll(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await sys?.dispose();
  });

  const start = async () => {
    const run = spawnSystem(['run', '--live'], env);
    proc = run;
    await run.waitFor(/"phase":"running/, 60_000);
    return run;
  };
  const stop = async (run: SystemProcess) => {
    run.child.kill('SIGTERM');
    const exit = await run.exited;
    expect(exit.code, run.output().slice(-3_000)).toBe(0);
  };

  it('shadow -> canary -> promoted when better, shadow -> canary -> rolled back (across a restart) when worse', async () => {
    const t0 = Date.now();
    const mark = (what: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
    let run = await start();
    mark('running');
    let minute = 0;
    // Warm-up: the champion serves every symbol.
    for (; minute < 60; minute += 1) await publishMinute(sys, bars, minute);
    await eventually(async () => (await stored(sys.db)).length >= 3, 30_000, 'the first predictions').catch((err: unknown) => {
      throw new Error(`${String(err)}\n${run.output().split('\n').filter((l) => !/"level":30/.test(l) || /predict|model|swap|refus/i.test(l)).slice(-40).map((l) => l.slice(0, 500)).join('\n')}`);
    });
    mark('warmed up');

    const runUntil = async (what: string, done: () => Promise<boolean>, max = 60) => {
      for (let n = 0; n < max; n += 1) {
        if (await done()) return;
        await publishMinute(sys, bars, minute);
        minute += 1;
        await new Promise((r) => setTimeout(r, 120));
      }
      await eventually(done, 10_000, what);
    };
    const has = (version: string, kind: string) => async () => (await eventsOf(sys, version)).some((e) => e.kind === kind);

    // 1. A better challenger through the service endpoint production uses.
    const better = await register(regEnv, 'rollout-any', good);
    const reply = await sys.nc.request('model-lifecycle.rollout', JSON.stringify({ version: better, reason: 'test: a better challenger' }), { timeout: 10_000 });
    expect(reply.headers?.get('Nats-Service-Error-Code') ?? null, reply.string()).toBeNull();
    expect(reply.json<{ stage: string }>().stage).toBe('shadow');
    const shadowKv = await kvDefault(regEnv);
    expect(shadowKv.rollout, 'KV model_active says the stage and the challenger').toMatchObject({ stage: 'shadow', version: better });
    await runUntil('canary of the better challenger', has(better, 'canary_started'));
    mark('better: canary');
    const canaryKv = await kvDefault(regEnv);
    expect(canaryKv.rollout).toMatchObject({ stage: 'canary', version: better, canary: chooseCanary(SYMBOLS.map((s) => `${VENUE}.${s}`), 0.1) });
    expect(canaryKv.rollout?.canary, 'ROLLOUT_CANARY_FRACTION 0.10 of three symbols: one').toHaveLength(1);
    const live = await runCli(['status', '--json'], env);
    expect(live.code, live.out).toBe(0);
    const liveDoc = JSON.parse(live.out) as { system: { lifecycle: { rollouts: { stage: string; version: string; outcomes: number }[] } } | null };
    expect(liveDoc.system?.lifecycle.rollouts[0], '`signals status` shows the running rollout with its evidence').toMatchObject({ stage: 'canary', version: better });
    await runUntil('promotion of the better challenger', has(better, 'promoted'));
    mark('better: promoted');
    const promotedKv = await kvDefault(regEnv);
    expect(promotedKv.pretrained.any, 'promoted: the challenger serves every symbol').toBe(better);
    expect(promotedKv.rollout, 'no rollout after the promotion').toBeUndefined();

    // 2. A deliberately worse challenger: shadow, canary, then the process restarts in the middle of the canary.
    const worseVersion = await register(regEnv, 'worse', worse);
    const cli = await runCli(['models', 'rollout', worseVersion, '--reason', 'test: a worse challenger'], env);
    expect(cli.code, cli.out).toBe(0);
    await runUntil('canary of the worse challenger', has(worseVersion, 'canary_started'));
    mark('worse: canary');
    await stop(run);
    mark('stopped');
    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.out).toBe(0);
    const doc = JSON.parse(status.out) as { activeModels: Record<string, { rollout?: { stage: string; version: string } }>; rollouts: { stage: string; version: string }[] };
    expect(doc.activeModels.default?.rollout, '`signals status` shows the rollout in progress').toMatchObject({ stage: 'canary', version: worseVersion });
    expect(doc.rollouts[0]).toMatchObject({ stage: 'canary', version: worseVersion });
    run = await start();
    mark('restarted');
    await runUntil('rollback of the worse challenger', has(worseVersion, 'rolledback'));
    mark('worse: rolled back');
    const afterKv = await kvDefault(regEnv);
    expect(afterKv.pretrained.any, 'the champion serves again').toBe(better);
    expect(afterKv.rollout).toBeUndefined();
    // A few more minutes served by the champion alone.
    for (let n = 0; n < 3; n += 1, minute += 1) await publishMinute(sys, bars, minute);
    await eventually(async () => (await stored(sys.db)).some((p) => p.ts === (bars[0]?.[minute - 2]?.ts ?? 0)), 20_000, 'the last minutes predicted');
    await stop(run);
    mark('stopped');

    // Every step is a deployment row and an event, in order.
    const steps = (await listDeployments(sys.db, { scope: 'global', limit: 100 })).reverse();
    const of = (v: string) => steps.filter((d) => d.toVersion === v || d.fromVersion === v).map((d) => d.action);
    expect(of(better).slice(0, 3), 'deployments of the better challenger').toEqual(['shadow', 'canary', 'promote']);
    expect(of(worseVersion), 'deployments of the worse challenger').toEqual(['shadow', 'canary', 'rollback']);
    expect((await eventsOf(sys, better)).map((e) => e.kind)).toEqual(['shadow_started', 'canary_started', 'promoted']);
    const worseEvents = await eventsOf(sys, worseVersion);
    expect(worseEvents.map((e) => e.kind)).toEqual(['shadow_started', 'canary_started', 'rolledback']);
    expect(worseEvents[2]?.stage, 'rolled back from its canary').toBe('canary');
    expect(worseEvents[2]?.reasons.join(' ')).toMatch(/significantly worse/);
    const rows = await listRollouts(sys.db);
    expect(rows.map((r) => [r.version, r.stage])).toEqual([
      [worseVersion, 'rolledback'],
      [better, 'promoted'],
    ]);

    // Shadow forecasts went to signal.shadow.*, with the challenger's version.
    const shadows = await readStream(sys.nc, 'SIGNALS', `signal.shadow.${VENUE}.>`);
    expect(shadows.length).toBeGreaterThan(0);
    expect(shadows.every((m) => shadowPredictionSchema.safeParse(m.data).success)).toBe(true);
    expect(new Set(shadows.map((m) => shadowPredictionSchema.parse(m.data).version))).toEqual(new Set([better, worseVersion]));

    // No prediction on signal.pred.* from a version that was not serving its symbol at that time: per symbol, the
    // timeline of the serving pretrained version from the deployment rows. A version starts serving when its step is
    // recorded (the KV write follows it in the same transaction) and the one it replaces may finish the bar in flight
    // within SWAP_GRACE_MS.
    const at = (v: string, action: string) => steps.find((d) => (d.toVersion === v || d.fromVersion === v) && d.action === action)?.at ?? Number.NaN;
    const betterCanary = rows[1]?.canary ?? [];
    const worseCanary = rows[0]?.canary ?? [];
    const timeline = (key: string): { at: number; version: string }[] => [
      { at: Number.NEGATIVE_INFINITY, version: champion },
      ...(betterCanary.includes(key) ? [{ at: at(better, 'canary'), version: better }] : []),
      { at: at(better, 'promote'), version: better },
      ...(worseCanary.includes(key) ? [{ at: at(worseVersion, 'canary'), version: worseVersion }, { at: at(worseVersion, 'rollback'), version: better }] : []),
    ];
    const servingAt = (key: string, t: number) => timeline(key).filter((x) => x.at <= t).at(-1)?.version;
    const published = (await readStream<Prediction>(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.>`)).map((m) => m.data);
    const wrong: string[] = [];
    const byVersion = new Map<string, number>();
    let lateOld = 0;
    for (const p of published) {
      const key = `${p.venue}.${p.symbol}`;
      for (const c of p.components.filter((x) => x.role === 'pretrained')) {
        byVersion.set(c.version, (byVersion.get(c.version) ?? 0) + 1);
        const now = servingAt(key, p.createdAt);
        if (c.version === now) continue;
        if (c.version === servingAt(key, p.createdAt - SWAP_GRACE_MS)) {
          lateOld += 1;
          continue;
        }
        wrong.push(`${key}@${new Date(p.ts).toISOString()} by ${c.version} created ${p.createdAt}, serving then: ${now ?? '-'}`);
      }
    }
    console.log(`pretrained versions of the published predictions: ${JSON.stringify(Object.fromEntries(byVersion))}; ${lateOld} from the replaced version within the swap grace`);
    expect(byVersion.get(better), 'the better challenger served (canary, then promoted)').toBeGreaterThan(0);
    expect(byVersion.get(worseVersion), 'the worse challenger served its canary').toBeGreaterThan(0);
    expect(wrong, 'predictions from a version not serving that symbol then').toEqual([]);
    expect(published.filter((p) => 'version' in p).length, 'no shadow forecast on signal.pred.*').toBe(0);

    // Every outcome scored once: one evidence row per realised bar and symbol, each the outcome of a served prediction.
    const predicted = new Set((await stored(sys.db)).map((p) => `${p.symbol}@${p.ts}`));
    for (const r of rows) {
      const ev = await sys.db.query<{ symbol: string; ms: string; n: string }>(
        `SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS ms, count(*) OVER (PARTITION BY symbol, ts) AS n FROM rollout_outcomes WHERE rollout_id = $1`,
        [r.id],
      );
      expect(ev.rows.length, `rollout ${r.id} has evidence`).toBeGreaterThanOrEqual(15);
      expect(ev.rows.every((x) => Number(x.n) === 1), 'no outcome counted twice').toBe(true);
      expect(ev.rows.every((x) => predicted.has(`${x.symbol}@${Number(x.ms) - 60_000}`)), 'each outcome realises a stored prediction').toBe(true);
    }
    const scored = await sys.db.query<{ id: string; scored: number }>(`SELECT actor_id AS id, (snapshot->'state'->>'scored')::int AS scored FROM actor_snapshots WHERE actor_id LIKE $1`, [`confidenceWeighter:${VENUE}.%`]);
    const perSymbol = new Map<string, number>();
    for (const p of await stored(sys.db)) perSymbol.set(p.symbol, (perSymbol.get(p.symbol) ?? 0) + 1);
    for (const row of scored.rows) {
      const symbol = row.id.split('.').pop() ?? '';
      // Each stored prediction but the last is scored once (one outcome is lost at the restart: its pending forecast came from the snapshot, unscored until its bar).
      expect(row.scored, `${row.id}: every outcome scored once`).toBeLessThanOrEqual((perSymbol.get(symbol) ?? 0) - 1);
      expect(row.scored).toBeGreaterThanOrEqual((perSymbol.get(symbol) ?? 0) - 2);
    }
    mark('checked');
  }, 240_000);
});
