import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelLifecycle, type ModelLifecycleHandle } from '../../../../actors/lifecycle/model-lifecycle.ts';
import type { ModelEvent } from '../../../../actors/lifecycle/events.schema.ts';
import { childProcessTrainer, type Trainer } from '../../../../actors/lifecycle/trainer.ts';
import { getRetrainRun, getVersion, listDeployments, listVersions } from '../../../../sql/registry.repo.ts';
import { openRollouts } from '../../../../sql/rollouts.repo.ts';
import { rollBackRollout } from '../../../../actors/lifecycle/index.ts';
import { runRetrain } from '../../../../actors/lifecycle/retrain.ts';
import { modelActiveSchema, publishJson, retrainResultSchema, subjects, type RetrainCommand, type RetrainResult } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { marketBars, tempDir } from '../../../support/models/fixtures.ts';
import { registryEnv, storeBars } from '../../../support/actors/lifecycle/fixtures.ts';

const SCOPE = 'binance.BTCUSDT';
let sys: TestSystem;
let kv: KV;
let lifecycle: ModelLifecycleHandle;
let artifacts: { path: string; dispose: () => Promise<void> };
/** Training attempts seen, with start/end times, per request. */
const attempts: { runId: string; start: number; end: number; ok: boolean }[] = [];

/** The real child-process trainer; requests whose id contains `fail` fail like a crashed worker would. */
const real = childProcessTrainer({ env: { TFJS_BACKEND: 'wasm' } });
const trainer: Trainer = async (job) => {
  const start = performance.now();
  try {
    if (job.config.runId.includes('fail')) {
      await new Promise((r) => setTimeout(r, 30));
      throw new Error('simulated: training worker crashed (out of memory)');
    }
    const out = await real(job);
    attempts.push({ runId: job.config.runId, start, end: performance.now(), ok: true });
    return out;
  } catch (err) {
    attempts.push({ runId: job.config.runId, start, end: performance.now(), ok: false });
    throw err;
  }
};

/** The lifecycle reads its gate and verification limits from these objects at every decision: each test sets what it needs. */
const gate: Record<string, number | boolean> = {};
const verification: Record<string, number> = {};
const setGate = (g: Record<string, number | boolean>, v: Record<string, number> = {}) => {
  for (const k of Object.keys(gate)) delete gate[k];
  for (const k of Object.keys(verification)) delete verification[k];
  Object.assign(gate, g);
  Object.assign(verification, v);
};
const passAll = { aucFloor: 0, maxAucDropPct: 100, maxF1DropPct: 100, baselineMargin: 100, baselineRmseTolerancePct: 1e6, baselineAuc: false, onlineMargin: 100 };

// The lifecycle's mechanics on the 1-minute head alone; the last test trains the default horizon heads.
const tiny = { kind: 'mlp', lookback: 12, volWindow: 20, epochs: 2, hiddenUnits: [8], batchSize: 64, maxBars: 900, dropout: 0, patience: 2, horizons: [] };

async function command(cmd: RetrainCommand): Promise<void> {
  await publishJson(jetstream(sys.nc), { subject: subjects.retrainCmd, payload: cmd, msgId: `retrain-cmd:${cmd.requestId}` });
}

async function resultOf(requestId: string, timeoutMs = 60_000): Promise<RetrainResult> {
  let found: RetrainResult | undefined;
  await eventually(
    async () => {
      const all = await readStream(sys.nc, 'MODEL_EVENTS', subjects.retrainResult);
      const hit = all.map((m) => retrainResultSchema.parse(m.data)).find((r) => r.requestId === requestId);
      found = hit;
      return hit !== undefined;
    },
    timeoutMs,
    `the result of ${requestId}`,
  );
  if (!found) throw new Error('unreachable');
  return found;
}

async function activeNow(): Promise<string | undefined> {
  const e = await kv.get(SCOPE);
  return e ? modelActiveSchema.parse(e.json()).pretrained.any : undefined;
}

beforeAll(async () => {
  artifacts = await tempDir('retrain');
  sys = await startTestSystem('lifecycle_retrain', { ARTIFACTS_DIR: artifacts.path });
  ({ kv } = await registryEnv(sys));
  await storeBars(sys, 'binance', 'BTCUSDT', marketBars(900, 5_000));
  lifecycle = startModelLifecycle({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, trainer, retryBaseMs: 100, gate, verification });
  await lifecycle.ready();
});

afterAll(async () => {
  await lifecycle?.stop();
  await sys?.dispose();
  await artifacts?.dispose();
});

describe('retraining on model.retrain.cmd', () => {
  it('trains in a child process, passes the gate as the first model of the scope, deploys and reports', async () => {
    setGate({ aucFloor: 0, baselineMargin: 100 }, { minDirectionAccuracy: 0.3 });
    await command({ requestId: 'first', venue: 'binance', symbol: 'BTCUSDT', trigger: 'manual', config: tiny });
    const r = await resultOf('first');
    expect(r, r.error).toMatchObject({ requestId: 'first', status: 'succeeded', deployed: true, version: 'v1.0.0' });
    expect(r.metrics?.test, 'test metrics are in the result').toMatchObject({ n: expect.any(Number), rocAuc: expect.any(Number) });
    expect(r.comparison, 'the comparison says why').toMatchObject({ decision: 'deploy', firstModel: true, reasons: [] });
    expect(await activeNow(), 'KV names the new version').toBe('v1.0.0');
    expect(await getRetrainRun(sys.db, 'first')).toMatchObject({ status: 'succeeded', attempts: 1, version: 'v1.0.0', deployed: true });
    const row = await getVersion(sys.db, 'v1.0.0');
    expect(row?.status).toBe('active');
    expect(row?.metrics.verification, 'verification numbers are stored with the version').toMatchObject({ ok: true });
  });

  it('rejects a challenger that fails the gate, keeps the champion and publishes why', async () => {
    setGate({ aucFloor: 0.99 });
    await command({ requestId: 'strict', venue: 'binance', symbol: 'BTCUSDT', trigger: 'drift', config: { ...tiny, seed: 5 } });
    const r = await resultOf('strict');
    expect(r, r.error).toMatchObject({ status: 'succeeded', deployed: false });
    expect(r.version, 'the challenger got a version').toMatch(/^v1\.\d{4}\.\d{2}-1$/);
    expect(r.comparison).toMatchObject({ decision: 'reject', firstModel: false, championVersion: 'v1.0.0' });
    expect(JSON.stringify(r.comparison?.reasons)).toMatch(/floor/);
    expect(r.comparison?.champion, 'the champion was judged on the same window, not by its stored metrics').toMatchObject({ n: expect.any(Number), rocAuc: expect.any(Number) });
    expect(r.comparison?.intervals, 'and against the naive baselines with a bootstrap interval').toMatchObject({ vsBaseline: { n: expect.any(Number), confidence: 0.95 } });
    expect(await activeNow(), 'the champion keeps serving').toBe('v1.0.0');
    expect((await getVersion(sys.db, r.version ?? '?'))?.status).toBe('rejected');
    const rejected = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.rejected')).map((e) => e.data);
    expect(rejected.at(-1)).toMatchObject({ version: r.version, stage: 'gate' });
  });

  it('keeps the champion when verification fails (performance limits), and publishes the reasons', async () => {
    setGate(passAll, { minDirectionAccuracy: 0, maxLatencyP99Ms: 0.000_001 });
    await command({
      requestId: 'slow',
      venue: 'binance',
      symbol: 'BTCUSDT',
      trigger: 'manual',
      config: { ...tiny, seed: 6 },
    });
    const r = await resultOf('slow');
    expect(r.comparison, 'the gate alone would deploy it').toMatchObject({ decision: 'deploy' });
    expect(r).toMatchObject({ status: 'succeeded', deployed: false });
    expect(r.error).toMatch(/verification failed: batch-1 latency p99 [\d.]+ ms > 0\.000001 ms/);
    expect(await activeNow(), 'the champion keeps serving').toBe('v1.0.0');
    const ev = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.verification_failed')).map((e) => e.data).at(-1);
    expect(ev).toMatchObject({ version: r.version, stage: 'verification' });
    expect(ev?.reasons.join(' ')).toMatch(/latency p99/);
  });

  it('retries a failing training 3 times with backoff, then reports failed with the champion untouched; one run at a time per scope', async () => {
    setGate({ aucFloor: 0.99 });
    const versionsBefore = (await listVersions(sys.db)).length;
    await command({ requestId: 'will-fail', venue: 'binance', symbol: 'BTCUSDT', trigger: 'schedule', config: tiny });
    await command({ requestId: 'next-one', venue: 'binance', symbol: 'BTCUSDT', trigger: 'manual', config: { ...tiny, seed: 9 } });
    const r = await resultOf('will-fail');
    expect(r).toMatchObject({ requestId: 'will-fail', status: 'failed', deployed: false });
    expect(r.error).toMatch(/training failed after 4 attempt\(s\): Error: simulated: training worker crashed/);
    expect(await getRetrainRun(sys.db, 'will-fail')).toMatchObject({ status: 'failed', attempts: 4 });
    const failing = attempts.filter((a) => a.runId.includes('will-fail'));
    expect(failing, 'first attempt + 3 retries').toHaveLength(4);
    const gaps = failing.slice(1).map((a, i) => a.start - (failing[i]?.end ?? 0));
    expect(gaps[2] ?? 0, `backoff grows (gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms)`).toBeGreaterThan((gaps[0] ?? 0) * 1.5);
    expect(await activeNow(), 'champion untouched in KV').toBe('v1.0.0');
    expect((await getVersion(sys.db, 'v1.0.0'))?.status, 'and in the database').toBe('active');

    await resultOf('next-one');
    expect((await listVersions(sys.db)).length, 'the failed request registered nothing; the next one registered one candidate').toBe(versionsBefore + 1);
    const next = attempts.find((a) => a.runId.includes('next-one'));
    const lastFail = failing.at(-1);
    expect(next && lastFail && next.start >= lastFail.end, 'the second request of the scope started only after the first finished').toBe(true);
  });

  it('trains an online model on a feedback command through the service endpoint and judges it against the model it serves beside', async () => {
    setGate({ onlineMargin: 100 }, { minDirectionAccuracy: 0 });
    const reply = await sys.nc.request(
      'model-lifecycle.retrain',
      new TextEncoder().encode(JSON.stringify({ venue: 'binance', symbol: 'BTCUSDT', trigger: 'feedback', config: { ...tiny, role: 'online' } })),
      { timeout: 5_000 },
    );
    const { requestId, scope } = reply.json<{ requestId: string; scope: string }>();
    expect(scope).toBe(SCOPE);
    const r = await resultOf(requestId, 60_000);
    expect(r, r.error).toMatchObject({ status: 'succeeded', deployed: true });
    expect(r.comparison).toMatchObject({ mode: 'online', championVersion: 'v1.0.0', decision: 'deploy' });
    expect((r.comparison?.rules as { rule: string }[]).map((x) => x.rule), 'non-inferiority, not the AUC floor').toEqual(['nonInferior']);
    const kvNow = modelActiveSchema.parse((await kv.get(SCOPE))?.json());
    expect(kvNow.online, 'the online model is active beside the pretrained one').toBe(r.version);
    expect(kvNow.pretrained.any).toBe('v1.0.0');
    await eventually(() => lifecycle.actor.getSnapshot().context.stats.succeeded === 5, 2_000, 'the machine counted it');
    expect(lifecycle.actor.getSnapshot().context.stats, 'the machine counted every outcome').toMatchObject({ succeeded: 5, failed: 1, deployed: 2 });
  });

  it('a command that names no horizons trains the predictors\' heads its bars allow, and the gate judges their volatility against HAR', async () => {
    setGate({ aucFloor: 0, baselineMargin: 100 }, { minDirectionAccuracy: 0 });
    const { horizons: _only1m, ...defaults } = tiny;
    await command({ requestId: 'heads', venue: 'binance', symbol: 'BTCUSDT', trigger: 'manual', config: { ...defaults, seed: 11 } });
    const r = await resultOf('heads');
    expect(r.status, r.error).toBe('succeeded');
    const vol = (r.comparison?.rules as { rule: string; detail?: string }[] | undefined)?.find((x) => x.rule === 'volatilityHar');
    expect(vol, JSON.stringify(r.comparison?.rules)).toBeDefined();
    // 900 bars train the 1, 5 and 15-minute heads; the 60-minute one needs 931 (target reach and embargoes).
    expect(JSON.stringify(vol)).toMatch(/1m .*5m .*15m/);
    expect(JSON.stringify(vol)).not.toMatch(/60m/);
  });

  it('with staged rollouts, a challenger that passes against a serving champion starts in shadow instead of being activated', async () => {
    setGate(passAll, { minDirectionAccuracy: 0 });
    const { env } = await registryEnv(sys);
    const champion = await activeNow();
    const r = await runRetrain(
      { env, trainer, artifactsDir: artifacts.path, gate, verification, rollout: 'staged' },
      { requestId: 'staged', scope: SCOPE, trigger: 'manual', config: { ...tiny, seed: 13 } },
    );
    expect(r, r.error).toMatchObject({ status: 'succeeded', deployed: false });
    expect(r.comparison?.rollout, 'the result says the rollout started').toMatchObject({ stage: 'shadow' });
    expect(await activeNow(), 'the champion keeps serving').toBe(champion);
    const value = modelActiveSchema.parse((await kv.get(SCOPE))?.json());
    expect(value.rollout, 'KV model_active names the stage and the challenger').toMatchObject({ stage: 'shadow', version: r.version, champion });
    expect((await getVersion(sys.db, r.version ?? '?'))?.status, 'the challenger stays a candidate').toBe('candidate');
    const rows = await listDeployments(sys.db, { scope: SCOPE, limit: 1 });
    expect(rows[0]).toMatchObject({ action: 'shadow', fromVersion: champion, toVersion: r.version });
    const ev = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.shadow_started')).map((e) => e.data);
    expect(ev.at(-1)).toMatchObject({ kind: 'shadow_started', scope: SCOPE, version: r.version, from: champion });
    const [rollout] = await openRollouts(sys.db, SCOPE);
    // One rollout per scope: a second challenger is not rolled out beside it.
    const second = await runRetrain(
      { env, trainer, artifactsDir: artifacts.path, gate, verification, rollout: 'staged' },
      { requestId: 'staged-2', scope: SCOPE, trigger: 'manual', config: { ...tiny, seed: 14 } },
    );
    expect(second).toMatchObject({ status: 'succeeded', deployed: false });
    expect(second.error).toMatch(/rollout in progress/);
    if (rollout) await rollBackRollout(env, rollout, { reason: 'test: end it' });
    expect(modelActiveSchema.parse((await kv.get(SCOPE))?.json()).rollout, 'ended: KV has no rollout').toBeUndefined();
  });

  it('raises model.events.retrain_failed for a run that failed for good', async () => {
    const ev = (await readStream<ModelEvent>(sys.nc, 'MODEL_EVENTS', 'model.events.retrain_failed')).map((e) => e.data);
    expect(ev.find((e) => (e.comparison as { requestId?: string } | undefined)?.requestId === 'will-fail')).toMatchObject({ kind: 'retrain_failed', scope: SCOPE, version: 'v1.0.0', stage: 'training' });
  });
});
