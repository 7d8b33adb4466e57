import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SystemStatus } from '../../actors/system/index.ts';
import { loadSettings, redactUrl, type Settings } from '../../config/index.ts';
import { createPool, listRollouts, type Db } from '../../sql/index.ts';
import { connectNats, isNotFound, KV_BUCKETS, modelActiveSchema, openBucket, STREAMS } from '../../streams/index.ts';
import { parseFlags, type CliCommand } from '../command.ts';
import { CliError, EXIT } from '../errors.ts';

/** What `signals status` reports: the running system's own status when one answers, plus what the servers say. */
export type StatusReport = {
  system: SystemStatus | null;
  consumers: { stream: string; consumer: string; pending: number; ackPending: number }[];
  /** Every stream (KV buckets are streams `KV_<bucket>`): replicas, the node that leads it, and followers that are behind or gone. */
  streams: { stream: string; replicas: number; leader: string | null; lagging: string[]; messages: number }[];
  activeModels: Record<string, unknown>;
  /** Staged rollouts, the open ones and the latest ended (table model_rollouts). */
  rollouts: { id: number; scope: string; stage: string; version: string; champion: string; canary: string[]; since: string; reason: string }[];
  symbols: { venue: string; symbol: string; bars: number; lastBar: string | null; predictions: number }[];
};

async function systemStatus(nc: NatsConnection): Promise<SystemStatus | null> {
  try {
    const reply = await nc.request('signals.status', '', { timeout: 2_000 });
    if (reply.headers?.get('Nats-Service-Error-Code')) return null;
    return reply.json<SystemStatus>();
  } catch {
    return null; // no system running (no responders) or it did not answer
  }
}

async function consumerLag(nc: NatsConnection): Promise<StatusReport['consumers']> {
  // No account check: it is one more request that times out while a cluster elects a leader.
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 3_000 });
  const out: StatusReport['consumers'] = [];
  for (const stream of ['MD_TICKS', 'MD_BARS', 'MODEL_EVENTS']) {
    try {
      for await (const c of jsm.consumers.list(stream)) {
        out.push({ stream, consumer: c.name, pending: c.num_pending, ackPending: c.num_ack_pending });
      }
    } catch {
      // stream not created yet, or no leader to answer while a cluster elects one
    }
  }
  return out;
}

/**
 * One entry per stream, asked one by one: while a node is lost, a stream whose leader
 * it was has none until its election ends, and its requests time out; that stream is
 * reported as such, the others as usual.
 */
async function streamReplicas(nc: NatsConnection): Promise<StatusReport['streams']> {
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 3_000 });
  const names = [...Object.keys(STREAMS), ...Object.values(KV_BUCKETS).map((b) => `KV_${b}`)];
  const out: StatusReport['streams'] = [];
  for (const name of names) {
    const info = await jsm.streams.info(name).catch((err: unknown) => err as Error);
    if (info instanceof Error) {
      if (isNotFound(info)) continue;
      out.push({ stream: name, replicas: 0, leader: null, lagging: [`no answer (${info.message}): no leader yet?`], messages: 0 });
      continue;
    }
    const followers = info.cluster?.replicas ?? [];
    out.push({
      stream: name,
      replicas: info.config.num_replicas,
      leader: info.cluster?.leader ?? null,
      lagging: followers.filter((f) => !f.current || (f.lag ?? 0) > 0).map((f) => `${f.name}${f.offline ? ' (offline)' : ` (lag ${f.lag ?? 0})`}`),
      messages: info.state.messages,
    });
  }
  return out;
}

async function activeModels(nc: NatsConnection): Promise<Record<string, unknown>> {
  const kv = await openBucket(nc, KV_BUCKETS.modelActive);
  const out: Record<string, unknown> = {};
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (!e || e.operation !== 'PUT') continue;
    const parsed = modelActiveSchema.safeParse(e.json());
    const ro = parsed.success ? parsed.data.rollout : undefined;
    out[key] = parsed.success
      ? { pretrained: parsed.data.pretrained, online: parsed.data.online ?? null, ...(ro ? { rollout: { stage: ro.stage, version: ro.version, champion: ro.champion, canary: ro.canary } } : {}) }
      : 'invalid entry';
  }
  return out;
}

async function symbols(db: Db): Promise<StatusReport['symbols']> {
  const r = await db.query<{ venue: string; symbol: string; bars: number; last: string | null; predictions: number }>(
    `SELECT b.venue, b.symbol, b.bars, b.last, coalesce(p.n, 0)::int AS predictions
     FROM (SELECT venue, symbol, count(*)::int AS bars, to_char(max(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') AS last
           FROM bars_1m GROUP BY 1, 2) b
     LEFT JOIN (SELECT venue, symbol, count(*) AS n FROM predictions GROUP BY 1, 2) p USING (venue, symbol)
     ORDER BY 1, 2 LIMIT 200`,
  );
  return r.rows.map((x) => ({ venue: x.venue, symbol: x.symbol, bars: x.bars, lastBar: x.last, predictions: x.predictions }));
}

async function rollouts(db: Db): Promise<StatusReport['rollouts']> {
  return (await listRollouts(db, { limit: 10 })).map((r) => ({
    id: r.id,
    scope: r.scope,
    stage: r.stage,
    version: r.version,
    champion: r.champion,
    canary: r.canary,
    since: new Date(r.stageAt).toISOString(),
    reason: r.reason,
  }));
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function render(r: StatusReport, settings: Settings): string {
  const s = r.system;
  const parts = [
    `NATS ${redactUrl(settings.NATS_URL)}   PostgreSQL ${redactUrl(settings.DATABASE_URL)}`,
    '',
    s
      ? table(['phase', 'marketSync', 'predictor', 'lifecycle', 'quality', 'event loop'], [[
          s.phase,
          `${s.sync.state} (${s.sync.stats?.stored ?? 0} ticks)${s.sync.stalled ? `, STALLED since ${new Date(s.sync.stalled.since).toISOString()} (${s.sync.stalled.bufferedMessages} buffered, ${s.sync.stalled.batchesInFlight} batches in flight)` : ''}`,
          `${s.predictor.state} (${s.predictor.ready} ready, ${s.predictor.warmingUp} warming up)`,
          s.lifecycle.state,
          `${s.quality.healthy} healthy, ${s.quality.degraded} degraded, ${s.quality.quarantined} quarantined`,
          s.eventLoop ? `p99 ${s.eventLoop.p99Ms.toFixed(1)} ms, max ${s.eventLoop.maxMs.toFixed(1)} ms` : '-',
        ]])
      : 'system: not running (no answer on signals.status)',
    '',
    table(['stream', 'replicas', 'leader', 'lagging replicas', 'messages'], r.streams.map((x) => [x.stream, String(x.replicas), x.leader ?? '-', x.lagging.join(', ') || '-', String(x.messages)])),
    '',
    table(['stream', 'consumer', 'pending', 'ack pending'], r.consumers.map((c) => [c.stream, c.consumer, String(c.pending), String(c.ackPending)])),
    '',
    table(['KV model_active', 'versions'], Object.entries(r.activeModels).map(([k, v]) => [k, JSON.stringify(v)])),
    '',
    table(['rollout', 'scope', 'stage', 'challenger', 'champion', 'canary', 'since', 'why'], r.rollouts.map((x) => [String(x.id), x.scope, x.stage, x.version, x.champion, x.canary.join(' ') || '-', x.since, x.reason.slice(0, 120)])),
    '',
    table(['venue', 'symbol', 'bars', 'last bar', 'predictions'], r.symbols.map((x) => [x.venue, x.symbol, String(x.bars), x.lastBar ?? '-', String(x.predictions)])),
  ];
  return parts.join('\n');
}

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'phase, actors, symbols, versions and consumer lag (--json for scripts)',
  usage: [
    'usage: signals status [--json]',
    '',
    "Asks the running system (NATS service endpoint signals.status) for its phase and actors, and",
    'reads the rest from the servers: streams with their replicas, leader and lagging replicas,',
    'consumer lag (JetStream), active model versions and rollouts in progress (KV',
    'model_active; the latest rollouts from PostgreSQL), symbols with their bars and predictions (PostgreSQL). Works when no system runs.',
    'Exit codes: 0 ok, 8 NATS or PostgreSQL unavailable.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } });
    const settings = loadSettings();
    let nc: NatsConnection;
    try {
      nc = await connectNats(settings, 'signals-status');
    } catch (err) {
      throw new CliError(`cannot connect to NATS at ${redactUrl(settings.NATS_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
    }
    const db = createPool(settings.DATABASE_URL, 2);
    try {
      const report: StatusReport = {
        system: await systemStatus(nc),
        consumers: await consumerLag(nc),
        streams: await streamReplicas(nc),
        activeModels: await activeModels(nc).catch((err: unknown) => ({ error: `KV model_active did not answer: ${(err as Error).message}` })),
        rollouts: await rollouts(db).catch(() => []),
        symbols: await symbols(db).catch((err: unknown) => {
          throw new CliError(`cannot read PostgreSQL at ${redactUrl(settings.DATABASE_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
        }),
      };
      process.stdout.write(`${values.json ? JSON.stringify(report) : render(report, settings)}\n`);
      return EXIT.ok;
    } finally {
      await nc.close();
      await db.end();
    }
  },
};
