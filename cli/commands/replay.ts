import type { NatsConnection } from '@nats-io/transport-node';
import { loadSettings, redactUrl } from '../../config/index.ts';
import { barMessage, readBars, tickMessages, type RowError } from '../../market/index.ts';
import {
  ackPublisher,
  barSchema,
  connectNats,
  ensureTopology,
  formatIssues,
  publishPaced,
  subjects,
  type PublishStats,
  type JsPublisher,
  type TimedMessage,
} from '../../streams/index.ts';
import { parseFlags, parseMode, parseSpeed, requireFlag, tokenFlag, type CliCommand, type PublishMode } from '../command.ts';
import { CliError, EXIT } from '../errors.ts';

/*
 * `signals replay` and the publishing helpers it shares with `signals synth`
 * (pacing, tick/bar messages, the NATS session and the summary).
 */


/**
 * Connects (NATS_URL and friends from the environment), makes sure every stream
 * exists (so a replay works on an empty server), runs `fn`, drains. Ctrl-C aborts
 * `signal` instead of killing the process, so what was sent is still confirmed.
 */
export async function withMarketPublisher<T>(
  name: string,
  fn: (js: JsPublisher, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const settings = loadSettings();
  let nc: NatsConnection;
  try {
    nc = await connectNats(settings, name);
  } catch (err) {
    throw new CliError(`cannot connect to NATS at ${redactUrl(settings.NATS_URL)}: ${(err as Error).message}`, EXIT.unavailable, {
      cause: err,
    });
  }
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    await ensureTopology(nc, {
      maxAgeDays: settings.STREAM_MAX_AGE_DAYS,
      replicas: settings.NATS_REPLICAS,
      maxBytesMb: settings.STREAM_MAX_BYTES_MB,
      duplicateWindowS: settings.DUPLICATE_WINDOW_S,
    });
    return await fn(ackPublisher(nc), controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
    await nc.drain().catch(() => undefined);
  }
}

/** Rejected rows on stderr: the count and the first few. */
export function reportRejected(file: string, rejected: readonly RowError[], shown = 5): void {
  if (rejected.length === 0) return;
  const lines = rejected.slice(0, shown).map((e) => `  line ${e.line}, ${e.field}: ${e.message}`);
  const more = rejected.length > shown ? [`  ... and ${rejected.length - shown} more`] : [];
  process.stderr.write(`${file}: ${rejected.length} rejected row(s), the other rows are published\n${[...lines, ...more].join('\n')}\n`);
}

/**
 * Duplicates are messages whose Nats-Msg-Id was already seen within the stream's
 * duplicate window: JetStream dropped them. Right for a re-run of the same data;
 * a different data set for the same venue/symbol/minutes is dropped too, so say so.
 */
export function reportDuplicates(stats: PublishStats): void {
  if (stats.duplicates === 0) return;
  process.stderr.write(
    `${stats.duplicates} of ${stats.published} messages were already in the stream (same venue, symbol and time) ` +
      'and were dropped as duplicates; publish different data under another --venue or --symbol\n',
  );
}

export type ReplaySummary = {
  file: string;
  subject: string;
  as: PublishMode;
  bars: number;
  rejected: number;
  ticks: number;
  published: number;
  duplicates: number;
  seconds: number;
  msgsPerSecond: number;
  interrupted: boolean;
};

function summaryLine(s: ReplaySummary): string {
  return (
    `replay ${s.file} -> ${s.subject}: ${s.bars} bars (${s.rejected} rejected), ${s.ticks} ticks, ` +
    `published ${s.published} (${s.duplicates} duplicates) in ${s.seconds.toFixed(2)} s, ` +
    `${Math.round(s.msgsPerSecond)} msgs/s${s.interrupted ? ', INTERRUPTED' : ''}`
  );
}

const options = {
  csv: { type: 'string' },
  venue: { type: 'string' },
  symbol: { type: 'string' },
  select: { type: 'string' },
  as: { type: 'string' },
  speed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const replayCommand: CliCommand = {
  name: 'replay',
  summary: 'publish a bars file through the live path (as ticks or bars)',
  usage: [
    'usage: signals replay --csv FILE --venue V --symbol S [--as ticks|bars] [--speed N|max] [--select SYM] [--json]',
    '',
    'Publishes a bars file (CSV, or .jsonl/.ndjson) to NATS JetStream:',
    '  --as ticks (default)  four ticks per bar on md.tick.<venue>.<symbol> (open, low/high, close;',
    '                        they aggregate back to the same OHLCV), Nats-Msg-Id <venue>:<symbol>:<tradeId>',
    '  --as bars             one closed bar per row on md.bar.1m.<venue>.<symbol>, source "replay",',
    '                        Nats-Msg-Id <venue>:<symbol>:<ts>',
    '  --speed N             N minutes of market per minute of wall time (60 = one bar per second)',
    '  --speed max (default) as fast as the server acks, pipelined',
    '  --select SYM          rows of this symbol in a long-format file (default: --symbol)',
    '  --json                print the summary as JSON',
    'Rows are published in timestamp order. Rejected rows are listed on stderr; the good rows are',
    'still published. A re-run within the stream duplicate window is deduplicated by JetStream.',
    'Environment: NATS_URL (and NATS_* credentials). Ctrl-C stops after confirming what was sent.',
    'Exit codes: 0 ok, 2 usage, 3 bad or empty file, 8 NATS unavailable, 130 interrupted.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseFlags(argv, options);
    const file = requireFlag(values.csv, 'csv');
    const venue = tokenFlag(values.venue, 'venue');
    const symbol = tokenFlag(values.symbol, 'symbol');
    const mode = parseMode(values.as);
    const speed = parseSpeed(values.speed);
    const select = values.select ?? symbol;

    // Both the bar contract and the tick split assume 1-minute bars opening on a whole minute.
    const { bars, rejected } = await readBars(file, { symbol: select, wholeMinutes: true });
    reportRejected(file, rejected);
    if (bars.length === 0) {
      const why = rejected.length > 0 ? 'every row was rejected' : `the file has no rows for symbol ${JSON.stringify(select)}`;
      throw new CliError(`${file}: no valid bars to publish (${why})`, EXIT.input);
    }
    bars.sort((a, b) => a.ts - b.ts);

    // Bars are checked against the Bar contract before anything is sent (the reader's
    // checks should make this a formality); ticks are built lazily, four per bar.
    const barMessages = mode === 'bars' ? bars.map((bar) => barMessage(venue, symbol, bar)) : [];
    for (const m of barMessages) {
      const parsed = barSchema.safeParse(m.payload);
      if (!parsed.success) throw new Error(`bar at ${m.ts} breaks the Bar contract: ${formatIssues(parsed.error).join('; ')}`);
    }
    const messages = function* (): Generator<TimedMessage> {
      if (mode === 'bars') return yield* barMessages;
      let prevClose: number | undefined;
      for (const bar of bars) {
        yield* tickMessages(venue, symbol, bar, prevClose);
        prevClose = bar.close;
      }
    };
    const subject = mode === 'ticks' ? subjects.tick(venue, symbol) : subjects.bar1m(venue, symbol);
    const total = mode === 'ticks' ? bars.length * 4 : bars.length;
    const stats = await withMarketPublisher('signals-replay', (js, signal) =>
      publishPaced(js, messages(), speed, signal, (n) => process.stderr.write(`replay: ${n}/${total} messages sent\n`)),
    );
    reportDuplicates(stats);
    const summary: ReplaySummary = {
      file,
      subject,
      as: mode,
      bars: bars.length,
      rejected: rejected.length,
      ticks: mode === 'ticks' ? bars.length * 4 : 0,
      published: stats.published,
      duplicates: stats.duplicates,
      seconds: stats.seconds,
      msgsPerSecond: stats.seconds > 0 ? stats.published / stats.seconds : 0,
      interrupted: stats.interrupted,
    };
    process.stdout.write(`${values.json ? JSON.stringify(summary) : summaryLine(summary)}\n`);
    return stats.interrupted ? 130 : EXIT.ok;
  },
};
