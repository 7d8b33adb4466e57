import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

/** Stream names (contract) and the subjects each one captures. */
export const STREAMS = {
  MD_TICKS: ['md.tick.>'],
  MD_BARS: ['md.bar.>'],
  MD_DLQ: ['md.invalid.>'],
  MD_EVENTS: ['md.quality.>', 'md.gap.>'],
  SIGNALS: ['signal.>'],
  MODEL_EVENTS: ['model.>'],
  OPS_EVENTS: ['ops.>'],
} as const satisfies Record<string, readonly string[]>;
export type StreamName = keyof typeof STREAMS;

export const KV_BUCKETS = { modelActive: 'model_active', workClaims: 'work_claims' } as const;

export type TopologyLimits = {
  maxAgeDays: number;
  maxBytesMb: number;
  duplicateWindowS: number;
};

const DAY_MS = 86_400_000;

function streamConfig(name: StreamName, limits: TopologyLimits): Partial<StreamConfig> & { name: string } {
  // Dead letters and model/ops events are kept longer than market data: they are
  // small and they are the audit trail.
  const longLived = name === 'MD_DLQ' || name === 'MODEL_EVENTS' || name === 'OPS_EVENTS';
  return {
    name,
    subjects: [...STREAMS[name]],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos((longLived ? Math.max(30, limits.maxAgeDays) : limits.maxAgeDays) * DAY_MS),
    max_bytes: (longLived ? 256 : limits.maxBytesMb) * 1024 * 1024,
    duplicate_window: nanos(limits.duplicateWindowS * 1000),
    num_replicas: 1,
  };
}

/**
 * Creates or updates every stream. Idempotent: running it again changes nothing,
 * and a changed limit is applied with an update.
 */
export async function ensureStreams(jsm: JetStreamManager, limits: TopologyLimits): Promise<void> {
  for (const name of Object.keys(STREAMS) as StreamName[]) {
    const config = streamConfig(name, limits);
    try {
      await jsm.streams.info(name);
      await jsm.streams.update(name, config);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.streams.add(config);
    }
  }
}

export type DurableSpec = {
  stream: StreamName;
  durable: string;
  /**
   * Omit to read the whole stream: nats-server 2.9 reads an unfiltered consumer
   * sequentially, while a wildcard filter was measured to cost it a full core and
   * slow delivery to ~1k msgs/s once the messages are no longer cached.
   */
  filterSubject?: string;
  ackWaitMs: number;
  maxAckPending: number;
  deliverPolicy?: DeliverPolicy;
  /** `All`: acking a message acks every earlier one (for consumers that handle messages strictly in order). */
  ackPolicy?: AckPolicy;
  /** The server deletes the durable after this long with no reader (a per-process durable of a dead process). */
  inactiveThresholdMs?: number;
};

/** Creates (or updates) a durable pull consumer with explicit acks. */
export async function ensureDurable(jsm: JetStreamManager, spec: DurableSpec): Promise<void> {
  const config: Partial<ConsumerConfig> = {
    durable_name: spec.durable,
    ack_policy: spec.ackPolicy ?? AckPolicy.Explicit,
    // A string, not an array: nats-server 2.9 has no filter_subjects.
    ...(spec.filterSubject ? { filter_subject: spec.filterSubject } : {}),
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
    deliver_policy: spec.deliverPolicy ?? DeliverPolicy.All,
    max_deliver: -1,
    ...(spec.inactiveThresholdMs ? { inactive_threshold: nanos(spec.inactiveThresholdMs) } : {}),
  };
  try {
    await jsm.consumers.info(spec.stream, spec.durable);
    await jsm.consumers.update(spec.stream, spec.durable, {
      ack_wait: nanos(spec.ackWaitMs),
      max_ack_pending: spec.maxAckPending,
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(spec.stream, config);
  }
}

/**
 * After an unclean stop (a crash, a killed process) a durable still holds the
 * messages the dead reader had in hand: the server redelivers them only after
 * the ack wait, AFTER newer messages, and its pull requests still take new ones
 * until they expire. When the durable has unacked messages, it is re-created to
 * start right after its ack floor, so everything from there is delivered again,
 * at once and in stream order (readers must store idempotently). Assumes one
 * reader process per durable. Returns what it did (undefined: nothing to do).
 */
export async function resumeFromAckFloor(jsm: JetStreamManager, stream: string, durable: string): Promise<{ startSeq: number; unacked: number } | undefined> {
  const info = await jsm.consumers.info(stream, durable);
  if (info.num_ack_pending === 0) return undefined;
  const { name: _name, ...config } = info.config;
  // A durable re-created here reports an ack floor of 0 until its first ack: its floor is then the start sequence.
  const floor = Math.max(info.ack_floor.stream_seq, config.deliver_policy === DeliverPolicy.StartSequence && config.opt_start_seq ? config.opt_start_seq - 1 : 0);
  const startSeq = floor + 1;
  await jsm.consumers.delete(stream, durable);
  await jsm.consumers.add(stream, { ...config, durable_name: durable, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq });
  return { startSeq, unacked: info.num_ack_pending };
}

/** Opens (creating when missing) a KV bucket. */
export async function openBucket(nc: NatsConnection, bucket: string, history = 20): Promise<KV> {
  return new Kvm(nc).create(bucket, { history });
}

/** Streams, the KV buckets, and returns the manager for further consumers. */
export async function ensureTopology(nc: NatsConnection, limits: TopologyLimits): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, limits);
  await openBucket(nc, KV_BUCKETS.modelActive);
  await openBucket(nc, KV_BUCKETS.workClaims, 1);
  return jsm;
}

export function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown; api_error?: { err_code?: number } }).api_error?.err_code;
  return code === 10059 || code === 10014 || /not found/i.test(err.message);
}
