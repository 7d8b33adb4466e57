import { loadSettings } from '../../config/index.ts';
import { DEFAULT_VOL_WINDOW, formatWalkForward, readModelBars, selectBackend, walkForward, type ModelKind, type OhlcvBar } from '../../models/index.ts';
import { cliLogger, fractionFlag, intFlag, parseFlags, positiveFlag, requireFlag, unitsFlag, type CliCommand } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';
import { runSignalEvaluation, signalUsage } from './evaluate-signals.ts';

const options = {
  csv: { type: 'string' },
  symbol: { type: 'string' },
  'context-csv': { type: 'string' },
  'context-symbol': { type: 'string' },
  models: { type: 'string' },
  folds: { type: 'string' },
  'train-windows': { type: 'string' },
  'test-windows': { type: 'string' },
  'val-fraction': { type: 'string' },
  lookback: { type: 'string' },
  horizon: { type: 'string' },
  'vol-window': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'learning-rate': { type: 'string' },
  'hidden-units': { type: 'string' },
  dropout: { type: 'string' },
  patience: { type: 'string' },
  seed: { type: 'string' },
  bootstrap: { type: 'string' },
  json: { type: 'boolean' },
  'skip-bad-rows': { type: 'boolean' },
} as const;

const walkForwardUsage = `usage: signals evaluate --walk-forward --csv FILE [options]

Walk-forward evaluation of the models themselves: each fold trains every model on the windows just before its
test block, tests it and every naive baseline (zero, last return, EWMA) on the block,
then rolls forward one block. Prints each fold's and the pooled metrics side by side,
and a moving-block bootstrap 95 % interval of (model - best baseline).

  --csv FILE              bars file (--symbol S for a long-format file)
  --context-csv FILE      context series (--context-symbol S)
  --models lstm,mlp       models to evaluate (default lstm,mlp)
  --folds N               (default 3)     --test-windows N   per fold (default 1000)
  --train-windows N       per fold, incl. validation (default 5000)
  --val-fraction F        of the train windows, for early stopping (default 0.15)
  --lookback N (24)  --horizon N (1)  --vol-window N (${DEFAULT_VOL_WINDOW})
  --epochs N (5)  --batch-size N (64)  --learning-rate R (0.001)  --patience N (2)
  --hidden-units A,B (32)  --dropout R (0.1)  --seed N (42)  --bootstrap N (1000)
  --json                  print the full result as JSON instead of tables`;

/** `signals evaluate` judges the published signal; `--walk-forward` the neural models on their own. */
async function run(argv: string[]): Promise<number> {
  if (!argv.includes('--walk-forward')) return runSignalEvaluation(argv);
  return runWalkForward(argv.filter((a) => a !== '--walk-forward'));
}

async function runWalkForward(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, options);
  const csv = requireFlag(v.csv, 'csv');
  const kinds = (v.models ?? 'lstm,mlp').split(',').map((s) => s.trim());
  const bad = kinds.filter((k) => k !== 'lstm' && k !== 'mlp');
  if (bad.length || kinds.length === 0) throw new UsageError(`--models must list lstm and/or mlp (got ${JSON.stringify(v.models)})`);
  const settings = loadSettings();
  const log = cliLogger();
  const skipBadRows = v['skip-bad-rows'] === true;
  const { bars, warnings } = await readModelBars(csv, { symbol: v.symbol, skipBadRows });
  let context: OhlcvBar[] | undefined;
  if (v['context-csv'] !== undefined) context = (await readModelBars(v['context-csv'], { symbol: v['context-symbol'], skipBadRows })).bars;
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const backend = await selectBackend({ force: settings.TFJS_BACKEND, log });
  const started = performance.now();
  const result = await walkForward(
    bars,
    {
      kinds: kinds.filter((k): k is ModelKind => k === 'lstm' || k === 'mlp'),
      spec: {
        lookback: intFlag(v.lookback, 'lookback', 24, 1),
        horizon: intFlag(v.horizon, 'horizon', 1, 1),
        volWindow: intFlag(v['vol-window'], 'vol-window', DEFAULT_VOL_WINDOW, 2),
        context: context !== undefined,
      },
      folds: intFlag(v.folds, 'folds', 3, 1),
      trainWindows: intFlag(v['train-windows'], 'train-windows', 5000, 50),
      testWindows: intFlag(v['test-windows'], 'test-windows', 1000, 10),
      valFraction: fractionFlag(v['val-fraction'], 'val-fraction', 0.15, 0.9),
      epochs: intFlag(v.epochs, 'epochs', 5, 1),
      batchSize: intFlag(v['batch-size'], 'batch-size', 64, 1),
      learningRate: positiveFlag(v['learning-rate'], 'learning-rate', 0.001),
      hiddenUnits: unitsFlag(v['hidden-units'], 'hidden-units', [32]),
      dropout: fractionFlag(v.dropout, 'dropout', 0.1),
      patience: intFlag(v.patience, 'patience', 2, 1),
      seed: intFlag(v.seed, 'seed', 42, 0),
      bootstrap: intFlag(v.bootstrap, 'bootstrap', 1000, 10),
    },
    log,
    context,
  );
  if (v.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    process.stdout.write(
      `walk-forward on ${csv}: ${bars.length} bars, backend ${backend.backend}, ${((performance.now() - started) / 1000).toFixed(1)} s\n\n${formatWalkForward(result)}\n`,
    );
  }
  return EXIT.ok;
}

export const evaluateCommand: CliCommand = {
  name: 'evaluate',
  summary: 'what the signal is worth per horizon against every baseline (--walk-forward: the models on their own)',
  usage: `${signalUsage}\n\n${walkForwardUsage}`,
  run,
};
