import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { retryWaiter } from '../../streams/index.ts';
import { startSystem, type SystemHandle } from '../../actors/system/index.ts';
import { startDashboard, type DashboardHandle } from '../../dashboard/index.ts';
import { createRootLogger, loadSettings, redactUrl, type Logger, type Settings } from '../../config/index.ts';
import { interleavedSynthTicks, readBars, synthSymbol, tickMessages, type SynthOptions } from '../../market/index.ts';
import { MS_TO_TS, predictionAccuracy, type Db } from '../../sql/index.ts';
import { ackPublisher, connectNats, ensureTopology, predictionSchema, publishPaced, type PublishStats, type Speed, type TimedMessage } from '../../streams/index.ts';
import { intFlag, parseFlags, parseSpeed, tokenFlag, type CliCommand } from '../command.ts';
import { openMigratedDatabase } from '../database.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { reportRejected } from './replay.ts';
import { renderPanel, renderSummary } from './run-view.ts';
import { runSkill } from './run-skill.ts';

const options = {
  csv: { type: 'string' },
  venue: { type: 'string' },
  symbol: { type: 'string' },
  symbols: { type: 'string' },
  minutes: { type: 'string' },
  seed: { type: 'string' },
  speed: { type: 'string' },
  live: { type: 'boolean' },
  'exit-after-replay': { type: 'boolean' },
} as const;

type Source = {
  describe: string;
  venue: string;
  bars: number;
  /** The symbols of the source and the open time of its last bar (the same for each). */
  symbols: string[];
  lastTs: number;
  messages: Iterable<TimedMessage>;
};

/** Open time of the last stored bar of a venue, if any. */
async function lastBarTs(db: Db, venue: string): Promise<number | undefined> {
  const r = await db.query<{ ms: number | null }>(`SELECT (extract(epoch FROM max(ts)) * 1000)::bigint AS ms FROM bars_1m WHERE venue = $1`, [venue]);
  const ms = r.rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}

async function buildSource(values: { [K in keyof typeof options]?: string | boolean }, db: Db): Promise<Source | undefined> {
  if (values.live) return undefined;
  if (typeof values.csv === 'string') {
    const venue = tokenFlag(typeof values.venue === 'string' ? values.venue : 'replay', 'venue');
    const symbol = tokenFlag(typeof values.symbol === 'string' ? values.symbol : undefined, 'symbol');
    const { bars, rejected } = await readBars(values.csv);
    reportRejected(values.csv, rejected);
    if (bars.length === 0) throw new CliError(`${values.csv}: no valid bars to replay`, EXIT.input);
    const file = values.csv;
    function* messages() {
      let prev: number | undefined;
      for (const b of bars) {
        yield* tickMessages(venue, symbol, b, prev);
        prev = b.close;
      }
    }
    return { describe: `${file} as ticks on md.tick.${venue}.${symbol}`, venue, bars: bars.length, symbols: [symbol], lastTs: bars[bars.length - 1]!.ts, messages: messages() };
  }
  const venue = tokenFlag(typeof values.venue === 'string' ? values.venue : 'sim', 'venue');
  const symbols = intFlag(values.symbols as string | undefined, 'symbols', 5, 1);
  const minutes = intFlag(values.minutes as string | undefined, 'minutes', 240, 1);
  const seed = intFlag(values.seed as string | undefined, 'seed', 42, 0);
  // The market ends at the current minute. A re-run continues after the last stored bar
  // instead of publishing different ticks for minutes that already exist.
  const now = Date.now();
  const end = now - (now % 60_000);
  const last = await lastBarTs(db, venue);
  const start = Math.max(end - minutes * 60_000, last === undefined ? 0 : last + 60_000);
  const span = Math.floor((end - start) / 60_000);
  if (span < 1) throw new CliError(`venue ${venue} already has bars up to ${new Date(end).toISOString()}: wait a minute or use another --venue`, EXIT.input);
  const opts: SynthOptions = { symbols, minutes: span, seed, start };
  return {
    describe: `synthetic market (seed ${seed}): ${symbols} symbols x ${span} minutes as ticks on md.tick.${venue}.SYN*`,
    venue,
    bars: symbols * span,
    symbols: Array.from({ length: symbols }, (_, i) => synthSymbol(i)),
    lastTs: start + (span - 1) * 60_000,
    messages: interleavedSynthTicks(venue, opts),
  };
}

async function connectAll(settings: Settings, log: Logger): Promise<{ nc: NatsConnection; db: Db }> {
  const { db } = await openMigratedDatabase(settings, log, { size: 8, onIdleError: (err) => log.warn({ err }, 'idle database client error') });
  let nc: NatsConnection;
  try {
    nc = await connectNats(settings, 'signals-run');
  } catch (err) {
    await db.end();
    throw new CliError(`cannot connect to NATS at ${redactUrl(settings.NATS_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
  }
  await ensureTopology(nc, {
    maxAgeDays: settings.STREAM_MAX_AGE_DAYS,
    replicas: settings.NATS_REPLICAS,
    maxBytesMb: settings.STREAM_MAX_BYTES_MB,
    duplicateWindowS: settings.DUPLICATE_WINDOW_S,
  });
  return { nc, db };
}

/**
 * True when the predictors' durables on MD_BARS have every bar message acked. A bar is
 * acked after its prediction is published and stored, so this is the moment the
 * run's counters include the last bar (the engine sees a bar before it publishes it).
 */
async function predictorsAcked(nc: NatsConnection): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  for await (const c of jsm.consumers.list('MD_BARS')) {
    if (c.name.startsWith('predictor') && (c.num_pending > 0 || c.num_ack_pending > 0)) return false;
  }
  return true;
}

/**
 * Everything published has been stored, every bar of the source closed, stored and
 * published, the predictor has seen the last bar of every symbol and acked every bar
 * message. Read from the database and the stream rather than from counters, which
 * count a message delivered twice (after a NATS restart) twice.
 */
async function drained(system: SystemHandle, db: Db, nc: NatsConnection, source: Source, published: number): Promise<boolean> {
  const sync = system.status().sync.stats;
  if (sync === undefined || sync.received < published || sync.pending !== 0) return false;
  const seen = new Map(system.symbols().map((s) => [`${s.venue}.${s.symbol}`, s.lastTs]));
  if (!source.symbols.every((s) => seen.get(`${source.venue}.${s}`) === source.lastTs)) return false;
  const r = await db.query<{ stored: number; outbox: number }>(
    `SELECT (SELECT count(*) FROM bars_1m WHERE venue = $1 AND symbol = ANY($2) AND ts = ${MS_TO_TS('$3::bigint')})::int AS stored,
            (SELECT count(*) FROM bar_outbox WHERE venue = $1)::int AS outbox`,
    [source.venue, source.symbols, source.lastTs],
  );
  return r.rows[0]?.stored === source.symbols.length && r.rows[0]?.outbox === 0 && (await predictorsAcked(nc));
}

/** Model versions deployed, rejected and rolled back since `since` (epoch ms). */
async function versionCounts(db: Db, since: number): Promise<{ deployed: number; rejected: number; rolledBack: number }> {
  const r = await db.query<{ deployed: number; rolledback: number; rejected: number }>(
    `SELECT (SELECT count(*) FROM model_deployments WHERE action = 'activate' AND at >= to_timestamp($1 / 1000.0))::int AS deployed,
            (SELECT count(*) FROM model_deployments WHERE action = 'rollback' AND at >= to_timestamp($1 / 1000.0))::int AS rolledback,
            (SELECT count(*) FROM model_versions WHERE status = 'rejected' AND created_at >= to_timestamp($1 / 1000.0))::int AS rejected`,
    [since],
  );
  const row = r.rows[0];
  return { deployed: row?.deployed ?? 0, rejected: row?.rejected ?? 0, rolledBack: row?.rolledback ?? 0 };
}

/** Keeps the last few predictions (core NATS subscription on signal.pred.>) for the live view. */
function watchPredictions(nc: NatsConnection, keep = 6): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  const sub = nc.subscribe('signal.pred.>', {
    callback: (err, msg) => {
      if (err) return;
      const p = predictionSchema.safeParse(msg.json());
      if (!p.success) return;
      const d = p.data;
      const comps = d.components.map((c) => `${c.role}:${c.version}@${c.weight.toFixed(2)}`).join(' ');
      lines.push(`  ${new Date(d.ts).toISOString().slice(0, 16)} ${d.venue}.${d.symbol.padEnd(8)} value ${d.value.toExponential(2).padStart(10)}  pUp ${d.pUp.toFixed(3)}  conf ${d.confidence.toFixed(2)}  ${d.regime.padEnd(13)} ${d.quality}  ${comps}`);
      if (lines.length > keep) lines.shift();
    },
  });
  return { lines, stop: () => sub.unsubscribe() };
}

/** The live dashboard of this run on DASHBOARD_PORT, its address printed; undefined when off or it cannot listen. */
async function startRunDashboard(nc: NatsConnection, db: Db, settings: Settings, log: Logger): Promise<DashboardHandle | undefined> {
  if (settings.DASHBOARD_PORT === 'off') return undefined;
  try {
    const d = await startDashboard({ nc, db, log, settings });
    process.stdout.write(`dashboard: ${d.url}\n`);
    return d;
  } catch (err) {
    log.warn({ err }, 'dashboard not started');
    process.stderr.write(`signals: no dashboard: ${(err as Error).message}\n`);
    return undefined;
  }
}

export const runCommand: CliCommand = {
  name: 'run',
  summary: 'run the system: ingest, bars, predictions, on synthetic data, a CSV, or live ticks',
  usage: [
    'usage: signals run [--csv FILE --symbol S [--venue V]] [--symbols N --minutes M --seed S]',
    '                   [--speed N|max] [--live] [--exit-after-replay]',
    '',
    'Migrates the database, starts marketSync (md.tick.> -> ticks, bars_1m, md.bar.1m.>) and the',
    'predictor (md.bar.1m.> -> signal.pred.>), then replays a source as live ticks and shows progress.',
    '  (default)            the seeded synthetic market: 5 symbols x 240 minutes ending now, venue "sim"',
    '  --csv FILE           a bars file (timestamp,open,high,low,close,volume) as ticks for --symbol',
    '  --live               no replay: wait for ticks published by others (nats pub md.tick.<venue>.<symbol>)',
    '  --speed N|max        market minutes per wall second x 60 (60 = real time x 60 ... ); default 600, max with',
    '                       --exit-after-replay',
    '  --exit-after-replay  when the replay is stored and predicted, print a summary table and exit 0',
    'The live dashboard is served on DASHBOARD_HOST:DASHBOARD_PORT (default http://127.0.0.1:8080/; off = none);',
    'its address is printed at start-up.',
    'Ctrl-C (SIGINT) or SIGTERM drains: stops consuming, finishes and acks batches in hand, closes; a drain',
    'that takes longer than STOP_TIMEOUT_MS (default 10 s), or a second signal, ends the process anyway (exit 11).',
    'Exit codes: 0 ok, 2 usage, 3 bad input file, 8 NATS or PostgreSQL unavailable, 11 stop timed out.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseFlags(argv, options);
    if (values.live && (values.csv || values['exit-after-replay'])) throw new UsageError('--live cannot be combined with --csv or --exit-after-replay');
    const exitAfter = values['exit-after-replay'] === true;
    const speed: Speed = parseSpeed(values.speed, exitAfter ? 'max' : 600);
    const settings = loadSettings();
    const tty = process.stdout.isTTY === true;
    // On a terminal the panel owns stdout and logs go to stderr only from warn up.
    const log = tty ? createRootLogger('warn', process.stderr) : createRootLogger(settings.LOG_LEVEL);
    const { nc, db } = await connectAll(settings, log);
    const source = await buildSource(values, db).catch(async (err: unknown) => {
      await nc.close();
      await db.end();
      throw err;
    });
    const started = Date.now();
    // The page is there from the first moment (Phase 1 shows as such); a dashboard that cannot
    // listen is reported and the run goes on: ingest and prediction matter more than the view.
    const dashboard = await startRunDashboard(nc, db, settings, log);
    const system: SystemHandle = startSystem({ nc, db, settings, log });
    const predictions = watchPredictions(nc);
    const abort = new AbortController();
    let stopping = false;
    let published: PublishStats | undefined;
    let lastReceived = 0;
    let lastAt = Date.now();
    const timer = setInterval(() => {
      const s = system.status();
      const now = Date.now();
      const received = s.sync.stats?.received ?? 0;
      const rate = ((received - lastReceived) * 1000) / Math.max(1, now - lastAt);
      lastReceived = received;
      lastAt = now;
      if (tty) {
        const view = renderPanel({ status: s, ticksPerSecond: rate, elapsedMs: now - started, source: source?.describe ?? 'live (waiting for md.tick.>)', published: published?.published, recent: predictions.lines, ...(dashboard ? { dashboard: dashboard.url } : {}) });
        process.stdout.write(`\x1b[H\x1b[2J${view}\n`);
      } else {
        log.info({ phase: s.phase, sync: s.sync.state, ticks: s.sync.stats?.stored ?? 0, ticksPerSecond: Math.round(rate), bars: s.sync.stats?.barsPublished ?? 0, predictions: s.predictor.stats?.predictions ?? 0, invalid: s.sync.stats?.invalid ?? 0, versions: s.versions }, 'progress');
      }
    }, 1_000);
    const stop = async (code: number): Promise<number> => {
      if (stopping) return code;
      stopping = true;
      abort.abort();
      clearInterval(timer);
      predictions.stop();
      await system.stop();
      await dashboard?.close().catch((err: unknown) => log.warn({ err }, 'dashboard close'));
      await nc.drain().catch(() => undefined);
      await db.end();
      return code;
    };

    return new Promise<number>((resolve) => {
      let signalled = false;
      const giveUp = (why: string) => {
        log.error({ stopTimeoutMs: settings.STOP_TIMEOUT_MS }, why);
        process.stderr.write(`signals: ${why}; messages in hand stay unacked and are delivered again\n`);
        process.exit(EXIT.uncleanStop);
      };
      // Stop means stop: a drain stuck on an unreachable server ends after STOP_TIMEOUT_MS (a second signal ends it at once).
      const onSignal = () => {
        if (signalled) return giveUp('second signal: stopping without draining');
        signalled = true;
        setTimeout(() => giveUp(`stop did not finish within ${settings.STOP_TIMEOUT_MS} ms`), settings.STOP_TIMEOUT_MS).unref();
        resolve(stop(EXIT.ok));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // A long-running service: a rejection nobody handled is a bug to see in the logs, not a reason to stop
      // ingesting every venue (Node's default would end the process).
      process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection (a bug); the run goes on'));
      void (async () => {
        await system.ready();
        if (!source || abort.signal.aborted) return;
        // The replay is a publisher like any other: a NATS outage delays it, never ends the run.
        published = await publishPaced(ackPublisher(nc), source.messages, speed, abort.signal, undefined, {
          wait: retryWaiter({ minMs: settings.RETRY_MIN_MS, maxMs: settings.RETRY_MAX_MS, signal: abort.signal }),
          onRetry: (err, attempt, failed) => {
            if (attempt === 0) log.warn({ err, failed }, 'replay: publishes failed; sending them again with their msg ids');
          },
          onRecovered: () => log.warn('replay: publishing again'),
        });
        if (!exitAfter || abort.signal.aborted) return;
        while (!abort.signal.aborted && !(await drained(system, db, nc, source, published.published))) {
          await new Promise((r) => setTimeout(r, 200));
        }
        if (abort.signal.aborted) return;
        const status = system.status();
        const [accuracy, versions, skill] = await Promise.all([
          predictionAccuracy(db, source.venue, started),
          versionCounts(db, started),
          runSkill(db, source.venue, started, join(settings.ARTIFACTS_DIR, 'reports', `run-${new Date(started).toISOString().replace(/[:.]/g, '-')}`)),
        ]);
        const summary = renderSummary(status, { source: source.describe, published: published.published, seconds: (Date.now() - started) / 1000, accuracy, versions, skill });
        const code = await stop(EXIT.ok);
        process.stdout.write(`${summary}\n`);
        resolve(code);
      })().catch((err: unknown) => {
        log.error({ err }, 'run failed');
        process.stderr.write(`signals: ${(err as Error).message}\n`);
        resolve(stop(EXIT.internal));
      });
    });
  },
};
