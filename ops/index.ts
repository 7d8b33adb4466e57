/**
 * Public door of ops/: Prometheus metrics, the /metrics /healthz /readyz HTTP server,
 * readiness checks, alerts on `ops.alert.<kind>`, the `signals` NATS service, and
 * the helpers that feed metrics from actors and from the bus. See docs/operations.md.
 */
export * from './metrics.ts';
export * from './health.ts';
export * from './http.ts';
export * from './alerts.ts';
export * from './system-service.ts';
export * from './bus-metrics.ts';
export * from './actor-metrics.ts';
export * from './start-ops.ts';
export * from './event-loop.ts';
export * from './backup/index.ts';
