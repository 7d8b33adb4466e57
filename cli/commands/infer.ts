import type { NatsConnection } from '@nats-io/transport-node';
import { loadSettings, redactUrl } from '../../config/index.ts';
import { connectNats } from '../../streams/index.ts';
import { inferLive } from './infer-live.ts';
import {
  loadPredictor,
  predictSeries,
  readModelBars,
  selectBackend,
  ShapeMismatchError,
  writeFileAtomic,
  type NeuralPredictor,
  type OhlcvBar,
} from '../../models/index.ts';
import { createPool } from '../../sql/index.ts';
import { cliLogger, intFlag, parseFlags, requireFlag, tokenFlag, type CliCommand } from '../command.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';

const options = {
  model: { type: 'string' },
  version: { type: 'string' },
  csv: { type: 'string' },
  symbol: { type: 'string' },
  'context-csv': { type: 'string' },
  'context-symbol': { type: 'string' },
  out: { type: 'string' },
  'run-id': { type: 'string' },
  lookback: { type: 'string' },
  horizon: { type: 'string' },
  'skip-bad-rows': { type: 'boolean' },
  live: { type: 'boolean' },
  venue: { type: 'string' },
  count: { type: 'string' },
} as const;

const usage = `usage: signals infer (--model DIR | --version V) --csv FILE [--out FILE] [options]
       signals infer (--model DIR | --version V) --live --venue V --symbol S [--count N]

Predicts after every bar of a bars file that completes a window, in batches.
Output columns: ts (epoch ms, open time of the bar the prediction is made after),
value (predicted log return over the model's horizon), pUp (probability it is > 0).

  --model DIR            checkpoint directory (e.g. artifacts/checkpoints/<run_id>/best)
  --version V            registry version in model_versions (DATABASE_URL)
  --csv FILE             bars file (.csv or .jsonl)
  --symbol S             symbol of a long-format file
  --context-csv FILE     context series, for models trained with one (--context-symbol S)
  --out FILE             write CSV, or JSON lines when FILE ends with .jsonl (default: CSV on stdout)
  --run-id ID            refuse a model of another run (exit 5)
  --lookback N / --horizon N   refuse a model with another lookback / horizon (exit 4)
  --skip-bad-rows        predict although rows were rejected
  --live                 predict on the live bar stream md.bar.1m.<venue>.<symbol> (NATS_URL), warmed
                         up from bars_1m (DATABASE_URL); prints ts,value,pUp per closed bar until
                         Ctrl-C or --count N predictions

exit codes: 2 usage, 3 bad input, 4 shape mismatch, 5 run_id mismatch, 7 non-finite values,
            9 checksum mismatch, 10 model not found`;

function checkExpected(p: NeuralPredictor, flag: 'lookback' | 'horizon', value: string | undefined): void {
  if (value === undefined) return;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be an integer >= 1 (got ${JSON.stringify(value)})`);
  const actual = p.preprocessor[flag];
  if (actual !== n) throw new ShapeMismatchError(`${flag} (--${flag} vs model)`, n, actual);
}

async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, options);
  if ((v.model === undefined) === (v.version === undefined)) throw new UsageError('give exactly one of --model DIR or --version V');
  if (v.live) return runLive(v);
  const csv = requireFlag(v.csv, 'csv');
  const settings = loadSettings();
  const log = cliLogger();
  const { bars, warnings } = await readModelBars(csv, { symbol: v.symbol, skipBadRows: v['skip-bad-rows'] === true });
  let context: OhlcvBar[] | undefined;
  if (v['context-csv'] !== undefined) {
    context = (await readModelBars(v['context-csv'], { symbol: v['context-symbol'], skipBadRows: v['skip-bad-rows'] === true })).bars;
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  await selectBackend({ force: settings.TFJS_BACKEND, log });

  let predictor: NeuralPredictor;
  if (v.model !== undefined) {
    predictor = await loadPredictor({ dir: v.model }, { expectRunId: v['run-id'] });
  } else {
    const pool = createPool(settings.DATABASE_URL, 2);
    try {
      predictor = await loadPredictor({ version: requireFlag(v.version, 'version'), db: pool }, { expectRunId: v['run-id'] });
    } finally {
      await pool.end();
    }
  }
  try {
    checkExpected(predictor, 'lookback', v.lookback);
    checkExpected(predictor, 'horizon', v.horizon);
    const started = performance.now();
    const forecasts = predictSeries(predictor, bars, context);
    const ms = performance.now() - started;
    const jsonl = v.out?.toLowerCase().endsWith('.jsonl') === true;
    const body = jsonl
      ? forecasts.map((f) => JSON.stringify(f)).join('\n')
      : ['ts,value,pUp', ...forecasts.map((f) => `${f.ts},${f.value},${f.pUp}`)].join('\n');
    const text = forecasts.length || !jsonl ? `${body}\n` : '';
    if (v.out === undefined) process.stdout.write(text);
    else await writeFileAtomic(v.out, text);
    process.stderr.write(
      `${forecasts.length} predictions from ${bars.length} bars (${predictor.kind} ${predictor.version ?? ''}, lookback ${predictor.lookback}) in ${ms.toFixed(0)} ms${v.out ? ` -> ${v.out}` : ''}\n`,
    );
  } finally {
    predictor.dispose();
  }
  return EXIT.ok;
}

async function runLive(v: ReturnType<typeof parseFlags<typeof options>>['values']): Promise<number> {
  if (v.csv !== undefined) throw new UsageError('--live and --csv are exclusive');
  const venue = tokenFlag(v.venue, 'venue');
  const symbol = tokenFlag(v.symbol, 'symbol');
  const count = v.count === undefined ? undefined : intFlag(v.count, 'count', 1, 1);
  const settings = loadSettings();
  await selectBackend({ force: settings.TFJS_BACKEND, log: cliLogger() });
  const db = createPool(settings.DATABASE_URL, 2);
  let nc: NatsConnection | undefined;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const predictor = v.model !== undefined
      ? await loadPredictor({ dir: v.model }, { expectRunId: v['run-id'] })
      : await loadPredictor({ version: requireFlag(v.version, 'version'), db }, { expectRunId: v['run-id'] });
    try {
      checkExpected(predictor, 'lookback', v.lookback);
      checkExpected(predictor, 'horizon', v.horizon);
      try {
        nc = await connectNats(settings, 'signals-infer');
      } catch (err) {
        throw new CliError(`cannot connect to NATS at ${redactUrl(settings.NATS_URL)}: ${(err as Error).message}`, EXIT.unavailable, { cause: err });
      }
      process.stdout.write('ts,value,pUp\n');
      const made = await inferLive({
        nc, db, predictor, venue, symbol, signal: abort.signal,
        ...(count !== undefined ? { count } : {}),
        onForecast: (f) => process.stdout.write(`${f.ts},${f.value},${f.pUp}\n`),
      });
      process.stderr.write(`${made} live predictions for ${venue}.${symbol}\n`);
    } finally {
      predictor.dispose();
    }
  } finally {
    process.off('SIGINT', onSigint);
    await nc?.close();
    await db.end();
  }
  return EXIT.ok;
}

export const inferCommand: CliCommand = {
  name: 'infer',
  summary: 'predictions for every window of a bars file (CSV or JSON lines)',
  usage,
  run,
};
