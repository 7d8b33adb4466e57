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
import { EXIT, SignalsError } from '../config/index.ts';

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
  /**
   * Replicas of every stream and KV bucket (NATS_REPLICAS; 3 on a JetStream cluster).
   * New ones are created with it; an existing one with fewer is raised in place; one
   * with more is left as it is (lowering redundancy is an operator's decision).
   * Undefined: 1 for new ones, existing ones untouched.
   */
  replicas?: number;
};

/** A stream or KV bucket the settings cannot describe, or a cluster that cannot hold it: a configuration error (exit 2). */
export class TopologyError extends SignalsError {
  override readonly name = 'TopologyError';
  override readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, exitCode: EXIT.usage });
  }
}

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
    num_replicas: limits.replicas ?? 1,
  };
}

function replicaError(what: string, replicas: number, err: unknown): TopologyError {
  return new TopologyError(
    `${what}: ${replicas} replicas refused by NATS (${(err as Error).message}); NATS_REPLICAS=${replicas} needs a JetStream cluster of at least ${replicas} servers`,
    { cause: err },
  );
}

/**
 * Creates or updates every stream. Idempotent: running it again changes nothing,
 * and a changed limit is applied with an update.
 */
export async function ensureStreams(jsm: JetStreamManager, limits: TopologyLimits): Promise<void> {
  for (const name of Object.keys(STREAMS) as StreamName[]) {
    const config = streamConfig(name, limits);
    let current: number | undefined;
    try {
      current = (await jsm.streams.info(name)).config.num_replicas;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const replicas = current === undefined ? (config.num_replicas ?? 1) : Math.max(current, limits.replicas ?? current);
    try {
      if (current === undefined) await jsm.streams.add(config);
      else await jsm.streams.update(name, { ...config, num_replicas: replicas });
    } catch (err) {
      if (replicas > 1) throw replicaError(`stream ${name}`, replicas, err);
      throw err;
    }
    if (current === undefined || replicas > current) await waitForReplicas(jsm, name, replicas);
  }
}

/**
 * After a stream is created or raised to `replicas` > 1, its new raft group elects a
 * leader; until then every request to it times out. Waits for the leader and its
 * followers, so start-up goes on with a stream that takes writes.
 */
async function waitForReplicas(jsm: JetStreamManager, name: string, replicas: number, timeoutMs = 30_000): Promise<void> {
  if (replicas <= 1) return;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const info = await jsm.streams.info(name).catch(() => undefined);
    if (info?.cluster?.leader && (info.cluster.replicas?.length ?? 0) >= replicas - 1) return;
    if (Date.now() > end) throw new TopologyError(`${name}: no leader with ${replicas - 1} followers ${timeoutMs / 1000} s after asking for ${replicas} replicas (are ${replicas} JetStream servers up?)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Raises a KV bucket's replicas (its stream `KV_<bucket>`) to `replicas` when it has fewer. */
async function ensureBucketReplicas(jsm: JetStreamManager, bucket: string, replicas: number | undefined): Promise<void> {
  if (replicas === undefined) return;
  const stream = `KV_${bucket}`;
  const info = await jsm.streams.info(stream);
  if (info.config.num_replicas >= replicas) return;
  try {
    await jsm.streams.update(stream, { ...info.config, num_replicas: replicas });
  } catch (err) {
    throw replicaError(`KV bucket ${bucket}`, replicas, err);
  }
  await waitForReplicas(jsm, stream, replicas);
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

/** Opens (creating when missing, with `replicas`) a KV bucket. */
export async function openBucket(nc: NatsConnection, bucket: string, history = 20, replicas?: number): Promise<KV> {
  try {
    return await new Kvm(nc).create(bucket, { history, ...(replicas !== undefined ? { replicas } : {}) });
  } catch (err) {
    if (replicas !== undefined && replicas > 1) throw replicaError(`KV bucket ${bucket}`, replicas, err);
    throw err;
  }
}

/** Streams, the KV buckets, and returns the manager for further consumers. */
export async function ensureTopology(nc: NatsConnection, limits: TopologyLimits): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, limits);
  for (const [bucket, history] of [[KV_BUCKETS.modelActive, 20], [KV_BUCKETS.workClaims, 1]] as const) {
    await openBucket(nc, bucket, history, limits.replicas);
    await ensureBucketReplicas(jsm, bucket, limits.replicas);
    await waitForReplicas(jsm, `KV_${bucket}`, limits.replicas ?? 1);
  }
  return jsm;
}

export function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown; api_error?: { err_code?: number } }).api_error?.err_code;
  return code === 10059 || code === 10014 || /not found/i.test(err.message);
}
