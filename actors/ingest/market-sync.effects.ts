import { AckPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import type { Alerter } from '../../ops/index.ts';
import type { Db } from '../../sql/index.ts';
import { ackPublisher, ensureDurable, ensureTopology, resumeFromAckFloor as resumeDurable } from '../../streams/index.ts';
import type { BarLane } from './bar-lane.ts';
import { IngestPipeline, type BatchOutcome } from './ingest-pipeline.ts';
import { startTickLoop, type IngestStall } from './tick-consume-loop.ts';

export type SyncDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  /** Hands closed bars to this process's predictor ahead of their commit (see BarLane). */
  lane?: BarLane;
  /** Raises `ops.alert.*` (ingest stalled, a dead letter NATS refused); without it they are only logged. */
  alert?: Alerter;
  now?: () => number;
};

/** See streams' `resumeFromAckFloor`: keeps event time in order after a crash (bars never close on partial data). */
async function resumeFromAckFloor(jsm: JetStreamManager, durable: string, log: Logger): Promise<void> {
  const r = await resumeDurable(jsm, 'MD_TICKS', durable);
  if (r) log.warn({ durable, ...r }, 'resuming ingest from the ack floor after an unclean stop');
}

/** What `connect` found: series restored from `ingest_state`, bars republished from the outbox. */
export type ConnectOutput = { series: number; republished: number };

/** Events the consume loop sends to the marketSync machine. */
export type SyncLoopEvent =
  | { type: 'sync.batch'; outcome: BatchOutcome }
  | { type: 'sync.degraded'; reason: string }
  | { type: 'sync.recovered' }
  | { type: 'sync.stalled'; stall: IngestStall }
  | { type: 'sync.unstalled' }
  | { type: 'sync.stopped' };

/**
 * Effects of the marketSync machine: `connect` (topology, durable consumer,
 * restored aggregation state, leftover outbox) and `consume` (the batched hot
 * loop, in a callback actor that sends one event per batch).
 */
export function createSyncActors(deps: SyncDeps) {
  const { settings } = deps;
  const log = deps.log.child({ actor: 'marketSync' });
  const js = ackPublisher(deps.nc);
  const pipeline = new IngestPipeline({
    js,
    db: deps.db,
    log,
    validation: {
      maxPayloadBytes: settings.MAX_PAYLOAD_BYTES,
      maxSkewMs: settings.TICK_MAX_SKEW_MS,
      acceptPast: settings.ACCEPT_PAST_TICKS,
    },
    ...(deps.lane ? { lane: deps.lane } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    onUndeliverable: (letter) => {
      void deps.alert?.('dead_letter_failed', {
        severity: 'warning',
        message: `NATS refused the dead letter of ${letter.subject} (stream seq ${letter.streamSeq}): ${letter.error}; the message was settled without it`,
        details: { ...letter },
      });
    },
  });

  const connect = fromPromise<ConnectOutput>(async () => {
    const jsm = await ensureTopology(deps.nc, {
      maxAgeDays: settings.STREAM_MAX_AGE_DAYS,
      replicas: settings.NATS_REPLICAS,
      maxBytesMb: settings.STREAM_MAX_BYTES_MB,
      duplicateWindowS: settings.DUPLICATE_WINDOW_S,
    });
    await ensureDurable(jsm, {
      stream: 'MD_TICKS',
      durable: settings.INGEST_DURABLE,
      // No filter: MD_TICKS holds only md.tick.> (see ensureDurable on why this matters).
      ackWaitMs: settings.INGEST_ACK_WAIT_MS,
      // Generous on purpose: with nats-server 2.9 a pull consumer held at its
      // max_ack_pending slows to a trickle (measured: ~1k msgs/s instead of ~50k).
      // The buffer this allows is bounded and its messages are kept alive while degraded.
      maxAckPending: settings.INGEST_BATCH_SIZE * 25,
      // Batches are stored strictly in stream order, so one ack per batch (its last message) is enough.
      ackPolicy: AckPolicy.All,
    });
    await resumeFromAckFloor(jsm, settings.INGEST_DURABLE, log);
    await pipeline.restore();
    const republished = await pipeline.drainOutbox();
    log.info({ series: pipeline.tracker.size, republished }, 'marketSync connected');
    return { series: pipeline.tracker.size, republished };
  });

  const consume = fromCallback<{ type: 'sync.stop' }>(({ sendBack, receive }) => {
    const loop = startTickLoop(deps.nc, pipeline, settings, log, {
      onBatch: (outcome) => sendBack({ type: 'sync.batch', outcome }),
      onDegraded: (reason) => sendBack({ type: 'sync.degraded', reason }),
      onRecovered: () => sendBack({ type: 'sync.recovered' }),
      onStalled: (stall) => {
        const seconds = Math.round(((deps.now ?? Date.now)() - stall.since) / 1000);
        log.error({ ...stall }, 'ingest stalled: work pending and nothing settled');
        void deps.alert?.('ingest_stalled', {
          severity: 'critical',
          message: `ingest has not settled a batch for ${seconds} s with ${stall.bufferedMessages} messages buffered and ${stall.batchesInFlight} batches in flight`,
          details: { ...stall },
        });
        sendBack({ type: 'sync.stalled', stall });
      },
      onUnstalled: (stalledMs) => {
        log.warn({ stalledMs }, 'ingest moving again');
        void deps.alert?.('recovered', { severity: 'info', message: `ingest moving again after a stall of ${Math.round(stalledMs / 1000)} s`, details: { stalledMs } });
        sendBack({ type: 'sync.unstalled' });
      },
    }, deps.now, settings.INGEST_STALL_MS);
    receive(() => loop.stop());
    let aborted = false;
    loop.done.then(
      () => sendBack({ type: 'sync.stopped' }),
      (err: unknown) => {
        if (aborted) return;
        log.error({ err }, 'consume loop failed');
        sendBack({ type: 'sync.degraded', reason: err instanceof Error ? err.message : String(err) });
        sendBack({ type: 'sync.stopped' });
      },
    );
    return () => {
      aborted = true;
      loop.abort();
    };
  });

  return { connect, consume, pipeline };
}
