import {
  checkSynthOptions,
  parseTimestamp,
  synthBars,
  synthBarStream,
  writeBarsCsv,
  SYNTH_DEFAULT_START,
  barMessage,
  interleavedSynthTicks,
  type SynthOptions,
} from '../../market/index.ts';
import { intFlag, parseFlags, parseMode, parseSpeed, requireFlag, tokenFlag, type CliCommand, type PublishMode } from '../command.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { publishPaced, type TimedMessage } from '../../streams/index.ts';
import { reportDuplicates, withMarketPublisher } from './replay.ts';

const MINUTE_MS = 60_000;

/** `--start`: ISO-8601 or epoch ms on a whole minute, or `now` = the current minute minus `minutes`. */
function parseStart(value: string | undefined, minutes: number, now = Date.now()): number {
  if (value === undefined) return SYNTH_DEFAULT_START;
  if (value === 'now') return Math.floor(now / MINUTE_MS) * MINUTE_MS - minutes * MINUTE_MS;
  const t = parseTimestamp(value);
  if (!t.ok) throw new UsageError(`--start ${t.message}`);
  if (t.ts % MINUTE_MS !== 0) throw new UsageError(`--start must be on a whole minute (got ${JSON.stringify(value)})`);
  return t.ts;
}

function* barMessages(venue: string, opts: SynthOptions): Generator<TimedMessage> {
  for (const bar of synthBars(opts)) yield barMessage(venue, bar.symbol, bar);
}

const options = {
  venue: { type: 'string' },
  symbols: { type: 'string' },
  minutes: { type: 'string' },
  seed: { type: 'string' },
  start: { type: 'string' },
  out: { type: 'string' },
  as: { type: 'string' },
  speed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const synthCommand: CliCommand = {
  name: 'synth',
  summary: 'seeded synthetic market: write a bars CSV (--out) or publish ticks/bars',
  usage: [
    'usage: signals synth --venue V --symbols N --minutes M --seed S [--out FILE] [--start ISO|now]',
    '                     [--as ticks|bars] [--speed N|max] [--json]',
    '',
    'Generates M one-minute bars for N symbols SYN000, SYN001, ... (regime-switching drift, GARCH',
    'volatility clusters, volume following volatility). The same seed gives the same bars.',
    '  --out FILE      write a bars CSV (timestamp,open,high,low,close,volume,symbol); --venue not needed',
    '  (no --out)      publish to NATS like `signals replay`, all symbols interleaved in time order:',
    '                  --as ticks (default) on md.tick.<venue>.SYNnnn, --as bars on md.bar.1m.<venue>.SYNnnn',
    '  --start ISO     first bar open time (default 2024-01-01T00:00:00Z, reproducible);',
    '                  "now" = the current minute minus M minutes (bars end at the current minute)',
    '  --speed N|max   pacing when publishing (default max)',
    'Exit codes: 0 ok, 2 usage, 3 cannot write FILE, 8 NATS unavailable, 130 interrupted.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseFlags(argv, options);
    const symbols = intFlag(requireFlag(values.symbols, 'symbols'), 'symbols', 1, 1);
    const minutes = intFlag(requireFlag(values.minutes, 'minutes'), 'minutes', 1, 1);
    const seed = intFlag(requireFlag(values.seed, 'seed'), 'seed', 0, 0);
    const opts: SynthOptions = { symbols, minutes, seed, start: parseStart(values.start, minutes) };
    try {
      checkSynthOptions(opts);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const started = performance.now();

    if (values.out !== undefined) {
      const out = values.out;
      let rows: number;
      try {
        rows = await writeBarsCsv(out, synthBarStream(opts));
      } catch (err) {
        throw new CliError(`cannot write ${out}: ${(err as Error).message}`, EXIT.input, { cause: err });
      }
      const seconds = (performance.now() - started) / 1000;
      const summary = { file: out, symbols, minutes, seed, start: new Date(opts.start ?? SYNTH_DEFAULT_START).toISOString(), rows, seconds };
      process.stdout.write(
        `${values.json ? JSON.stringify(summary) : `synth: wrote ${rows} bars (${symbols} symbols x ${minutes} minutes, seed ${seed}, from ${summary.start}) to ${out} in ${seconds.toFixed(2)} s`}\n`,
      );
      return EXIT.ok;
    }

    if (values.venue === undefined) throw new UsageError('missing required option --venue (needed to publish; or give --out FILE)');
    const venue = tokenFlag(values.venue, 'venue');
    const mode: PublishMode = parseMode(values.as);
    const speed = parseSpeed(values.speed);
    const total = symbols * minutes * (mode === 'ticks' ? 4 : 1);
    const messages = mode === 'ticks' ? interleavedSynthTicks(venue, opts) : barMessages(venue, opts);
    const stats = await withMarketPublisher('signals-synth', (js, signal) =>
      publishPaced(js, messages, speed, signal, (n) => process.stderr.write(`synth: ${n}/${total} messages sent\n`)),
    );
    reportDuplicates(stats);
    const summary = {
      venue,
      as: mode,
      symbols,
      minutes,
      seed,
      bars: symbols * minutes,
      ticks: mode === 'ticks' ? total : 0,
      published: stats.published,
      duplicates: stats.duplicates,
      seconds: stats.seconds,
      msgsPerSecond: stats.seconds > 0 ? stats.published / stats.seconds : 0,
      interrupted: stats.interrupted,
    };
    process.stdout.write(
      `${
        values.json
          ? JSON.stringify(summary)
          : `synth -> md.${mode === 'ticks' ? 'tick' : 'bar.1m'}.${venue}.SYN*: ${summary.bars} bars, ${summary.ticks} ticks, ` +
            `published ${stats.published} (${stats.duplicates} duplicates) in ${stats.seconds.toFixed(2)} s, ` +
            `${Math.round(summary.msgsPerSecond)} msgs/s${stats.interrupted ? ', INTERRUPTED' : ''}`
      }\n`,
    );
    return stats.interrupted ? 130 : EXIT.ok;
  },
};
