import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelActive } from '../streams/index.ts';

/**
 * Prometheus metrics of one process (`GET /metrics`, see ops/http.ts). Every metric
 * is prefixed `signals_`; process metrics (RSS, heap, event-loop lag, GC) come from
 * prom-client's defaults with the `signals_` prefix too.
 *
 * Actors update them through this object and never import prom-client:
 * `metrics.ticksStored.inc(n)`, `metrics.batchSeconds.observe(ms / 1000)`,
 * `metrics.setQualityState(venue, symbol, 'degraded')`.
 */

/** Quality state as a number, for a gauge: 0 healthy, 1 degraded, 2 quarantined. */
export const QUALITY_STATE_VALUE = { healthy: 0, degraded: 1, quarantined: 2 } as const;
export type QualityStateName = keyof typeof QUALITY_STATE_VALUE;

export const GAP_EVENTS = ['found', 'filled', 'unfillable'] as const;
export type GapEventName = (typeof GAP_EVENTS)[number];

export type OpsMetrics = {
  readonly registry: Registry;
  /** Ticks written to `ticks` (new rows). */
  readonly ticksStored: Counter;
  /** Ticks dead-lettered by validation. */
  readonly ticksInvalid: Counter;
  /** Ticks already stored (redeliveries, republished ids). */
  readonly ticksDuplicate: Counter;
  /** Closed 1m bars published on `md.bar.1m.>`. */
  readonly barsPublished: Counter;
  /** Batches stored by the ingest path. */
  readonly ingestBatches: Counter;
  /** Pull → validate → store → publish → ack time of one ingest batch, seconds. */
  readonly batchSeconds: Histogram;
  /** Messages not yet delivered to a durable consumer (`num_pending`). */
  readonly consumerPending: Gauge<'stream' | 'consumer'>;
  /** Messages delivered and not yet acked (`num_ack_pending`). */
  readonly consumerAckPending: Gauge<'stream' | 'consumer'>;
  /** Gap events by kind of event (found / filled / unfillable). */
  readonly gaps: Counter<'event'>;
  /** Data health per symbol: 0 healthy, 1 degraded, 2 quarantined. */
  readonly qualityState: Gauge<'venue' | 'symbol'>;
  /** Predictions published. */
  readonly predictions: Counter;
  /** Bar published on `md.bar.1m.>` → its prediction published on `signal.pred.>`, seconds. */
  readonly predictionSeconds: Histogram;
  readonly predictionsAheadOfBar: Counter;
  /** 1 for every (scope, role, regime, version) active in KV `model_active`. */
  readonly modelVersionActive: Gauge<'scope' | 'role' | 'regime' | 'version'>;
  /** Changes of an active version (hot swaps), by scope. */
  readonly modelSwaps: Counter<'scope'>;
  /** Rollbacks by trigger (`auto`, `manual`). */
  readonly modelRollbacks: Counter<'trigger'>;
  /** Alerts published on `ops.alert.<kind>`. */
  readonly alerts: Counter<'kind'>;
  /** Supervised child restarts, by child name. */
  readonly childRestarts: Counter<'child'>;
  /** The running phase: 1 for the current one, 0 for the others. */
  readonly phase: Gauge<'phase'>;

  /** Sets a symbol's data health (`healthy` 0, `degraded` 1, `quarantined` 2). */
  setQualityState(venue: string, symbol: string, state: QualityStateName): void;
  /** Counts `n` gap events of one kind. */
  gap(event: GapEventName, n?: number): void;
  /** Replaces the active-version series of one scope by the value now in KV `model_active`. */
  setActiveVersions(scope: string, value: ModelActive | undefined): void;
  /** Marks `name` as the running phase. */
  setPhase(name: string): void;
  /** Consumer lag of one durable, from `consumers.info`. */
  setConsumerLag(stream: string, consumer: string, pending: number, ackPending: number): void;
  /** Prometheus text exposition of every metric. */
  text(): Promise<string>;
};

export type OpsMetricsOptions = {
  /** Process metrics (RSS, heap, event loop lag); default true. */
  defaultMetrics?: boolean;
  /** Labels added to every series, e.g. `{ instance: 'proc-a' }` when several processes run. */
  labels?: Record<string, string>;
};

/** Latencies from 1 ms to ~16 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 16];

/**
 * Creates a fresh registry with every metric of the system. One per process; tests
 * create their own so they never share counters.
 */
export function createOpsMetrics(options: OpsMetricsOptions = {}): OpsMetrics {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'signals_' });
  const registers = [registry];

  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });

  const ticksStored = counter('signals_ticks_stored_total', 'Ticks stored (new rows in ticks).');
  const ticksInvalid = counter('signals_ticks_invalid_total', 'Ticks dead-lettered by validation (md.invalid.>).');
  const ticksDuplicate = counter('signals_ticks_duplicate_total', 'Ticks received that were already stored.');
  const barsPublished = counter('signals_bars_published_total', 'Closed 1m bars published on md.bar.1m.>.');
  const ingestBatches = counter('signals_ingest_batches_total', 'Ingest batches stored and acked.');
  const batchSeconds = new Histogram({
    name: 'signals_ingest_batch_duration_seconds',
    help: 'Time to validate, store, publish and ack one ingest batch.',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const consumerPending = gauge('signals_consumer_pending_messages', 'Messages not yet delivered to a durable consumer.', ['stream', 'consumer']);
  const consumerAckPending = gauge('signals_consumer_ack_pending_messages', 'Messages delivered to a durable consumer and not yet acked.', ['stream', 'consumer']);
  const gaps = counter('signals_gaps_total', 'Gap events: found, filled, unfillable.', ['event']);
  for (const e of GAP_EVENTS) gaps.inc({ event: e }, 0); // every series exists from the start
  const qualityState = gauge('signals_quality_state', 'Data health per symbol: 0 healthy, 1 degraded, 2 quarantined.', ['venue', 'symbol']);
  const predictions = counter('signals_predictions_total', 'Predictions published on signal.pred.>.');
  const predictionSeconds = new Histogram({
    name: 'signals_prediction_latency_seconds',
    help: 'From a bar published on md.bar.1m.> to its prediction published on signal.pred.> (predictions published before their bar are counted in signals_predictions_ahead_of_bar_total instead).',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const predictionsAheadOfBar = counter(
    'signals_predictions_ahead_of_bar_total',
    'Predictions published before their bar reached md.bar.1m.> (made on the fast lane from the bar marketSync handed over in memory).',
  );
  const modelVersionActive = gauge('signals_model_version_active', 'Active model versions (1 per active scope/role/regime/version).', ['scope', 'role', 'regime', 'version']);
  const modelSwaps = counter('signals_model_swaps_total', 'Active model version changes (hot swaps) seen in KV model_active.', ['scope']);
  const modelRollbacks = counter('signals_model_rollbacks_total', 'Model rollbacks by trigger.', ['trigger']);
  for (const t of ['auto', 'manual']) modelRollbacks.inc({ trigger: t }, 0);
  const alerts = counter('signals_alerts_total', 'Alerts published on ops.alert.<kind>.', ['kind']);
  const childRestarts = counter('signals_child_restarts_total', 'Supervised child actor restarts.', ['child']);
  const phase = gauge('signals_phase', 'The running phase (1) among the phases seen (0).', ['phase']);

  /** The label sets of each scope's active series, so a swap removes the old ones. */
  const activeSeries = new Map<string, { scope: string; role: string; regime: string; version: string }[]>();
  let currentPhase: string | undefined;

  return {
    registry,
    ticksStored,
    ticksInvalid,
    ticksDuplicate,
    barsPublished,
    ingestBatches,
    batchSeconds,
    consumerPending,
    consumerAckPending,
    gaps,
    qualityState,
    predictions,
    predictionSeconds,
    predictionsAheadOfBar,
    modelVersionActive,
    modelSwaps,
    modelRollbacks,
    alerts,
    childRestarts,
    phase,
    setQualityState(venue, symbol, state) {
      qualityState.set({ venue, symbol }, QUALITY_STATE_VALUE[state]);
    },
    gap(event, n = 1) {
      gaps.inc({ event }, n);
    },
    setActiveVersions(scope, value) {
      for (const labels of activeSeries.get(scope) ?? []) modelVersionActive.remove(labels);
      const series: { scope: string; role: string; regime: string; version: string }[] = [];
      if (value) {
        for (const [regime, version] of Object.entries(value.pretrained)) series.push({ scope, role: 'pretrained', regime, version });
        if (value.online) series.push({ scope, role: 'online', regime: 'any', version: value.online });
      }
      for (const labels of series) modelVersionActive.set(labels, 1);
      activeSeries.set(scope, series);
    },
    setPhase(name) {
      if (currentPhase !== undefined && currentPhase !== name) phase.set({ phase: currentPhase }, 0);
      phase.set({ phase: name }, 1);
      currentPhase = name;
    },
    setConsumerLag(stream, consumer, pending, ackPending) {
      consumerPending.set({ stream, consumer }, pending);
      consumerAckPending.set({ stream, consumer }, ackPending);
    },
    text: () => registry.metrics(),
  };
}
