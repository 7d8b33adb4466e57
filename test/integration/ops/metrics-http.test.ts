import { describe, expect, it } from 'vitest';
import { createOpsMetrics, HealthChecks, startOpsServer, stateCheck, stateName } from '../../../ops/index.ts';

describe('ops metrics (prom-client registry)', () => {
  it('exposes every metric of the issue in the Prometheus text format', async () => {
    const m = createOpsMetrics({ defaultMetrics: false });
    m.ticksStored.inc(7);
    m.ticksInvalid.inc(2);
    m.ticksDuplicate.inc();
    m.batchSeconds.observe(0.02);
    m.setConsumerLag('MD_TICKS', 'market_sync', 12, 3);
    m.gap('found', 2);
    m.gap('filled');
    m.setQualityState('binance', 'BTCUSDT', 'quarantined');
    m.predictionSeconds.observe(0.004);
    m.modelRollbacks.inc({ trigger: 'auto' });
    m.setPhase('live_sync');
    const text = await m.text();
    const expected = [
      'signals_ticks_stored_total 7',
      'signals_ticks_invalid_total 2',
      'signals_ticks_duplicate_total 1',
      'signals_ingest_batch_duration_seconds_count 1',
      'signals_consumer_pending_messages{stream="MD_TICKS",consumer="market_sync"} 12',
      'signals_consumer_ack_pending_messages{stream="MD_TICKS",consumer="market_sync"} 3',
      'signals_gaps_total{event="found"} 2',
      'signals_gaps_total{event="filled"} 1',
      'signals_gaps_total{event="unfillable"} 0',
      'signals_quality_state{venue="binance",symbol="BTCUSDT"} 2',
      'signals_prediction_latency_seconds_count 1',
      'signals_model_rollbacks_total{trigger="auto"} 1',
      'signals_model_rollbacks_total{trigger="manual"} 0',
      'signals_phase{phase="live_sync"} 1',
    ];
    for (const line of expected) expect(text, `metrics text must contain "${line}"`).toContain(line);
  });

  it('replaces the active-version series of a scope on a swap, and keeps other scopes', async () => {
    const m = createOpsMetrics({ defaultMetrics: false });
    m.setActiveVersions('binance.BTCUSDT', { pretrained: { trend: 'v1', range: 'v2' }, online: 'o1', updatedAt: 1_700_000_000_000, reason: 't' });
    m.setActiveVersions('binance.ETHUSDT', { pretrained: { any: 'e1' }, updatedAt: 1_700_000_000_000, reason: 't' });
    m.setActiveVersions('binance.BTCUSDT', { pretrained: { trend: 'v3', range: 'v2' }, updatedAt: 1_700_000_000_000, reason: 't' });
    const series = (await m.modelVersionActive.get()).values.map((v) => `${v.labels.scope}/${v.labels.role}/${v.labels.regime}=${v.labels.version}`).sort();
    expect(series, 'old versions (v1, o1) are gone, the other scope stays').toEqual([
      'binance.BTCUSDT/pretrained/range=v2',
      'binance.BTCUSDT/pretrained/trend=v3',
      'binance.ETHUSDT/pretrained/any=e1',
    ]);
  });

  it('includes process metrics (RSS) by default', async () => {
    const text = await createOpsMetrics().text();
    expect(text).toMatch(/^signals_process_resident_memory_bytes \d+/m);
  });

  it('names nested XState state values with dots', () => {
    expect(stateName({ running: 'live' })).toBe('running.live');
    expect(stateName('connecting')).toBe('connecting');
    expect(stateName({ running: { degraded: 'waiting' } })).toBe('running.degraded.waiting');
  });
});

describe('ops HTTP server: /metrics, /healthz, /readyz', () => {
  it('serves metrics, liveness, and readiness that names what is not ready', async () => {
    const metrics = createOpsMetrics({ defaultMetrics: false });
    const health = new HealthChecks(300);
    let syncState = 'connecting';
    health.register('marketSync', stateCheck(() => syncState, ['running.live', 'running.catchingUp']));
    health.register('database', () => ({ ok: true }));
    const server = await startOpsServer({ port: 0, host: '127.0.0.1', metrics, health });
    try {
      expect(server.port, 'port 0 picks a free port').toBeGreaterThan(0);
      metrics.ticksStored.inc(42);
      const m = await fetch(`${server.url}/metrics`);
      expect(m.status).toBe(200);
      expect(m.headers.get('content-type')).toContain('text/plain');
      expect(await m.text()).toContain('signals_ticks_stored_total 42');

      expect((await fetch(`${server.url}/healthz`)).status, 'liveness does not depend on readiness').toBe(200);

      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status, 'marketSync still connecting: not ready').toBe(503);
      const body = (await notReady.json()) as { ready: boolean; notReady: string[]; checks: Record<string, { ok: boolean; reason?: string }> };
      expect(body.ready).toBe(false);
      expect(body.notReady, 'only the failing check is named').toEqual(['marketSync']);
      expect(body.checks.marketSync?.reason).toBe('state connecting');

      syncState = 'running.catchingUp';
      expect((await fetch(`${server.url}/readyz`)).status, 'catching up counts as ready').toBe(200);

      // A check that hangs or throws is "not ready", never a hung or failed endpoint.
      const removeHang = health.register('slow', () => new Promise(() => undefined));
      health.register('broken', () => {
        throw new Error('boom');
      });
      const r = await fetch(`${server.url}/readyz`);
      expect(r.status).toBe(503);
      const b = (await r.json()) as { notReady: string[]; checks: Record<string, { reason?: string }> };
      expect(b.notReady.sort()).toEqual(['broken', 'slow']);
      expect(b.checks.slow?.reason).toMatch(/no answer within 300 ms/);
      expect(b.checks.broken?.reason).toBe('boom');
      removeHang();
      expect(health.names().sort()).toEqual(['broken', 'database', 'marketSync']);

      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('fails with OpsServerError when the port is taken', async () => {
    const metrics = createOpsMetrics({ defaultMetrics: false });
    const a = await startOpsServer({ port: 0, host: '127.0.0.1', metrics, health: new HealthChecks() });
    try {
      await expect(startOpsServer({ port: a.port, host: '127.0.0.1', metrics, health: new HealthChecks() })).rejects.toMatchObject({
        name: 'OpsServerError',
        port: a.port,
        retryable: false,
      });
    } finally {
      await a.close();
    }
  });
});
