import { Writable } from 'node:stream';
import { jetstream } from '@nats-io/jetstream';
import { Svcm } from '@nats-io/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIFECYCLE_SERVICE } from '../../../actors/lifecycle/model-lifecycle.effects.ts';
import { startModelLifecycle, type ModelLifecycleHandle } from '../../../actors/lifecycle/model-lifecycle.ts';
import { startBaselinePredictor, type BaselinePredictorHandle } from '../../../bench/support/baseline-predictor.ts';
import { startMarketSync, type MarketSyncHandle } from '../../../actors/ingest/market-sync.ts';
import { createRootLogger } from '../../../config/index.ts';
import type { Trainer } from '../../../actors/lifecycle/trainer.ts';
import {
  alertSchema,
  bindMarketSync,
  createAlerter,
  createOpsMetrics,
  databaseCheck,
  HealthChecks,
  InvalidAlertError,
  LIFECYCLE_SERVICE_NAME,
  natsCheck,
  observeBus,
  publishAlert,
  startLagMonitor,
  startOps,
  startSystemService,
  stateName,
  SYSTEM_SERVICE,
  type BusObserver,
  type OpsMetrics,
  type SystemServiceHandle,
} from '../../../ops/index.ts';
import { countTicks } from '../../../sql/index.ts';
import { encodeJson, KV_BUCKETS, msgIds, openBucket, publishJson, publishPipelined, subjects, type Tick } from '../../../streams/index.ts';
import { eventually, readStream } from '../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../helpers/system.ts';

const M0 = Date.UTC(2024, 4, 1);
const value = async (m: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }, labels: Record<string, string> = {}) =>
  (await m.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;

describe('ops on real nats-server and PostgreSQL', () => {
  let sys: TestSystem;
  let sync: MarketSyncHandle;
  let predictor: BaselinePredictorHandle;
  let metrics: OpsMetrics;
  let observer: BusObserver;
  let unbind: () => void;

  beforeAll(async () => {
    sys = await startTestSystem('ops', { BAR_GRACE_MS: 60_000 });
    const deps = { nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log };
    sync = startMarketSync(deps);
    await sync.ready();
    predictor = await startBaselinePredictor(deps);
    metrics = createOpsMetrics({ defaultMetrics: false });
    observer = await observeBus(sys.nc, metrics, sys.log);
  });
  afterAll(async () => {
    unbind?.();
    await observer?.stop();
    await predictor?.stop();
    await sync?.stop();
    await sys?.dispose();
  });

  it('counts ingest from marketSync and prediction latency from the bus', async () => {
    unbind = bindMarketSync(sync.actor, metrics);
    // 2 symbols x 12 minutes x 5 ticks; the first 11 minutes close (BAR_GRACE_MS is long), 5 warm-up bars each.
    const ticks: Tick[] = [];
    for (let minute = 0; minute < 12; minute++)
      for (const symbol of ['AAA', 'BBB'])
        for (let k = 0; k < 5; k++) ticks.push({ venue: 'opsv', symbol, ts: M0 + minute * 60_000 + k * 10_000, price: 100 + minute + k / 10, size: 1, tradeId: `${minute}-${k}` });
    await publishPipelined(
      jetstream(sys.nc),
      ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) })),
    );
    await eventually(async () => (await value(metrics.ticksStored)) === ticks.length, 15_000, 'every tick counted as stored');
    expect(await countTicks(sys.db, 'opsv', 'AAA'), 'metric agrees with the table').toBe(60);
    await eventually(async () => (await value(metrics.predictions)) === 2 * (11 - 5), 15_000, 'one prediction per closed bar after the 5 warm-up bars');
    expect(await value(metrics.barsPublished), '11 closed bars per symbol').toBe(22);
    const latency = (await metrics.predictionSeconds.get()).values.find((v) => v.metricName === 'signals_prediction_latency_seconds_count');
    // A prediction made on the fast lane comes before its bar: it is counted apart, not observed as a latency.
    expect((latency?.value ?? 0) + (await value(metrics.predictionsAheadOfBar)), 'one latency observation per prediction matched to its bar, or one ahead of it').toBe(
      await value(metrics.predictions),
    );
    expect((await metrics.batchSeconds.get()).values.find((v) => v.metricName === 'signals_ingest_batch_duration_seconds_count')?.value).toBeGreaterThan(0);
  });

  it('derives gaps, quality, swaps and rollbacks from the bus and KV', async () => {
    const js = jetstream(sys.nc);
    const gap = { venue: 'opsv', symbol: 'AAA', from: M0, to: M0 + 60_000, kind: 'time', bars: 2, gapId: 1 };
    await publishJson(js, { subject: subjects.gap('opsv', 'AAA'), payload: { type: 'gap.detected', ...gap } });
    await publishJson(js, { subject: subjects.gap('opsv', 'AAA'), payload: { type: 'gap.filled', ...gap, rows: 2, method: 'backfill' } });
    await publishJson(js, { subject: subjects.gap('opsv', 'AAA'), payload: { type: 'gap.detected', ...gap, kind: 'nonsense' } }); // invalid: ignored
    await publishJson(js, {
      subject: subjects.quality('opsv', 'BBB'),
      payload: { type: 'quality.state_changed', venue: 'opsv', symbol: 'BBB', from: 'healthy', to: 'quarantined', reason: 'stale', windowFrom: M0, windowTo: M0 },
    });
    const kv = await openBucket(sys.nc, KV_BUCKETS.modelActive);
    await kv.put('opsv.AAA', encodeJson({ pretrained: { any: 'v1' }, updatedAt: M0, reason: 'first' }));
    await kv.put('opsv.AAA', encodeJson({ pretrained: { any: 'v2' }, updatedAt: M0 + 1, reason: 'swap' }));
    await publishJson(js, { subject: subjects.modelEvent('rolledback'), payload: { kind: 'rolledback', scope: 'opsv.AAA', role: 'pretrained', version: 'v1', reasons: [], actor: 'auto-rollback', at: M0 } });
    await publishJson(js, { subject: subjects.modelEvent('rolledback'), payload: { kind: 'rolledback', scope: 'opsv.AAA', role: 'pretrained', version: 'v1', reasons: [], actor: 'cli', at: M0 } });

    await eventually(async () => (await value(metrics.modelRollbacks, { trigger: 'manual' })) === 1, 5_000, 'rollbacks counted');
    expect(await value(metrics.gaps, { event: 'found' }), 'the invalid gap event is not counted').toBe(1);
    expect(await value(metrics.gaps, { event: 'filled' })).toBe(1);
    expect(await value(metrics.qualityState, { venue: 'opsv', symbol: 'BBB' }), 'quarantined = 2').toBe(2);
    expect(await value(metrics.modelRollbacks, { trigger: 'auto' })).toBe(1);
    await eventually(async () => (await value(metrics.modelSwaps, { scope: 'opsv.AAA' })) === 1, 5_000, 'one swap (v1 -> v2)');
    const active = (await metrics.modelVersionActive.get()).values.filter((v) => v.labels.scope === 'opsv.AAA').map((v) => v.labels.version);
    expect(active, 'only the version now active is reported').toEqual(['v2']);
  });

  it('polls consumer lag into gauges and raises consumer_lag / recovered alerts once each', async () => {
    const alerts: string[] = [];
    const mon = startLagMonitor({
      nc: sys.nc,
      metrics,
      log: sys.log,
      consumers: [{ stream: 'MD_TICKS', durable: sys.settings.INGEST_DURABLE }, { stream: 'MD_BARS', durable: 'does_not_exist' }],
      intervalMs: 60_000,
      alertThreshold: -1, // any lag >= 0 is "behind": exercises the alert path deterministically
      alert: async (kind) => {
        alerts.push(kind);
        return true;
      },
    });
    try {
      await mon.poll();
      await mon.poll();
      expect(mon.lag('MD_TICKS', sys.settings.INGEST_DURABLE), 'ingest is caught up').toBe(0);
      expect(mon.lag('MD_BARS', 'does_not_exist'), 'a missing consumer is skipped').toBeUndefined();
      expect(await value(metrics.consumerPending, { stream: 'MD_TICKS', consumer: sys.settings.INGEST_DURABLE })).toBe(0);
      expect(alerts, 'raised once, not on every poll').toEqual(['consumer_lag']);
    } finally {
      mon.stop();
    }
  });

  it('publishes alerts on ops.alert.<kind>, schema-valid, and logs them', async () => {
    const lines: string[] = [];
    const log = createRootLogger('info', new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const js = jetstream(sys.nc);
    const ack = await publishAlert(js, 'quarantined', { severity: 'critical', message: 'opsv.BBB quarantined: stale feed', venue: 'opsv', symbol: 'BBB', details: { bars: 3 } }, { log, metrics });
    expect(ack.stream).toBe('OPS_EVENTS');
    const msgs = await readStream(sys.nc, 'OPS_EVENTS', 'ops.alert.>');
    expect(msgs.map((m) => m.subject)).toEqual(['ops.alert.quarantined']);
    const parsed = alertSchema.safeParse(msgs[0]?.data);
    expect(parsed.success, 'the published alert passes its own schema').toBe(true);
    expect(parsed.data).toMatchObject({ kind: 'quarantined', severity: 'critical', venue: 'opsv', symbol: 'BBB', details: { bars: 3 } });
    expect(lines.join(''), 'logged at error level with the message').toMatch(/"level":50.*"alert":"quarantined".*opsv\.BBB quarantined/);
    expect(await value(metrics.alerts, { kind: 'quarantined' })).toBe(1);

    await expect(publishAlert(js, 'degraded', { severity: 'warning', message: '', symbol: 'bad.symbol' }), 'empty message and a dotted symbol are refused').rejects.toBeInstanceOf(InvalidAlertError);
    // createAlerter never fails the caller on a NATS error.
    const closed = await (await import('../../../streams/index.ts')).connectNats(sys.settings, 'closed');
    await closed.close();
    const alert = createAlerter(jetstream(closed), { log });
    expect(await alert('degraded', { severity: 'warning', message: 'nats gone' }), 'publish failure resolves false').toBe(false);
  });

  it('checks NATS and the database for readiness', async () => {
    const health = new HealthChecks(1_000);
    health.register('nats', natsCheck(sys.nc));
    health.register('database', databaseCheck(sys.db));
    const report = await health.evaluate();
    expect(report, JSON.stringify(report)).toMatchObject({ ready: true, notReady: [] });
  });

  describe('the signals NATS service', () => {
    let svc: SystemServiceHandle;
    let lifecycle: ModelLifecycleHandle | undefined;

    beforeAll(async () => {
      svc = await startSystemService({ nc: sys.nc, log: sys.log, status: () => ({ phase: 'live_sync', sync: stateName(sync.actor.getSnapshot().value) }), forwardTimeoutMs: 3_000 });
    });
    afterAll(async () => {
      await svc?.stop();
      await lifecycle?.stop();
    });

    it('forwards to the model-lifecycle service by its real name', () => {
      expect(LIFECYCLE_SERVICE_NAME).toBe(LIFECYCLE_SERVICE);
    });

    it('is listed with status, symbols, models, retrain and rollback endpoints and answers status', async () => {
      const client = new Svcm(sys.nc as unknown as ConstructorParameters<typeof Svcm>[0]).client();
      const infos = [];
      for await (const i of await client.info(SYSTEM_SERVICE)) infos.push(i);
      expect(infos, 'one instance').toHaveLength(1);
      expect(infos[0]?.endpoints.map((e) => e.subject).sort()).toEqual(['signals.models', 'signals.retrain', 'signals.rollback', 'signals.status', 'signals.symbols']);
      const status = (await sys.nc.request('signals.status', new Uint8Array(), { timeout: 3_000 })).json<{ phase: string; sync: string }>();
      expect(status).toEqual({ phase: 'live_sync', sync: 'running.live' });
      const stats = [];
      for await (const s of await client.stats(SYSTEM_SERVICE)) stats.push(s);
      expect(stats[0]?.endpoints?.find((e) => e.name === 'status')?.num_requests, '`nats micro stats` counts the request').toBe(1);
    });

    it('answers 503 while the model lifecycle is not running, and forwards to it once it is', async () => {
      const down = await sys.nc.request('signals.models', new Uint8Array(), { timeout: 5_000 });
      expect(down.headers?.get('Nats-Service-Error-Code'), 'no lifecycle service: unavailable').toBe('503');

      const neverTrain: Trainer = () => Promise.reject(new Error('not in this test'));
      lifecycle = startModelLifecycle({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, trainer: neverTrain });
      await lifecycle.ready();
      await eventually(async () => {
        const r = await sys.nc.request('signals.models', new Uint8Array(), { timeout: 3_000 });
        return !r.headers?.get('Nats-Service-Error-Code');
      }, 10_000, 'lifecycle service answering');
      const models = (await sys.nc.request('signals.models', encodeJson({ scope: 'opsv.AAA' }), { timeout: 3_000 })).json<{ versions: unknown[]; deployments: unknown[] }>();
      expect(models, 'empty registry').toEqual({ versions: [], deployments: [] });

      const bad = await sys.nc.request('signals.models', encodeJson({ limit: 'ten' }), { timeout: 3_000 });
      expect(bad.headers?.get('Nats-Service-Error-Code'), "the lifecycle's 400 passes through").toBe('400');

      const rb = await sys.nc.request('signals.rollback', encodeJson({ scope: 'opsv.AAA' }), { timeout: 3_000 });
      const code = rb.headers?.get('Nats-Service-Error-Code');
      expect(['404', '409'], `nothing to roll back: the lifecycle's error code passes through (got ${code}: ${rb.headers?.get('Nats-Service-Error')})`).toContain(code);
    });
  });
  describe('startOps: everything operational of a process in one call', () => {
    it('serves /readyz (NATS, database, marketSync), /metrics from the live system, and signals.status', async () => {
      const ops = await startOps({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, port: 0, host: '127.0.0.1', status: () => ({ phase: 'hybrid' }) });
      try {
        ops.attachMarketSync(sync.actor);
        const ready = await fetch(`${ops.server.url}/readyz`);
        const body = (await ready.json()) as { ready: boolean; checks: Record<string, { ok: boolean }> };
        expect(ready.status, JSON.stringify(body)).toBe(200);
        expect(Object.keys(body.checks).sort()).toEqual(['database', 'marketSync', 'nats']);
        await ops.lag.poll();
        const text = await (await fetch(`${ops.server.url}/metrics`)).text();
        expect(text).toContain(`signals_consumer_pending_messages{stream="MD_TICKS",consumer="${sys.settings.INGEST_DURABLE}"} 0`);
        expect(text).toMatch(/signals_process_resident_memory_bytes \d+/);
        const status = (await sys.nc.request('signals.status', new Uint8Array(), { timeout: 3_000 })).json<{ phase: string }>();
        expect(status.phase).toBe('hybrid');
      } finally {
        await ops.stop();
      }
      await expect(fetch(`${ops.server.url}/healthz`), 'the server is closed after stop').rejects.toThrow();
    });
  });
});
