import { loadSettings } from '../../config/index.ts';
import {
  createTrainProgress,
  DEFAULT_SPLIT,
  DEFAULT_VOL_WINDOW,
  loadModelDir,
  packArtifact,
  readArtifactDir,
  readModelBars,
  runTraining,
  selectBackend,
  type OhlcvBar,
  type TrainRunConfig,
} from '../../models/index.ts';
import { createPool, readBars } from '../../sql/index.ts';
import { saveModelArtifact } from '../../sql/index.ts';
import { isToken } from '../../streams/index.ts';
import { cliLogger, commandLine, fractionFlag, intFlag, parseFlags, positiveFlag, requireFlag, unitsFlag, type CliCommand } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';

/*
 * `signals train`: fit a model on a CSV file or on `bars_1m`, save its checkpoint and register it.
 */

/** Bars of one series from `bars_1m` in DATABASE_URL. */
async function barsFromDb(venue: string, symbol: string): Promise<OhlcvBar[]> {
  const pool = createPool(loadSettings().DATABASE_URL, 2);
  try {
    return (await readBars(pool, venue, symbol)).map((b) => ({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume }));
  } finally {
    await pool.end();
  }
}

const options = {
  'run-id': { type: 'string' },
  csv: { type: 'string' },
  venue: { type: 'string' },
  symbol: { type: 'string' },
  model: { type: 'string' },
  lookback: { type: 'string' },
  horizon: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'learning-rate': { type: 'string' },
  'hidden-units': { type: 'string' },
  dropout: { type: 'string' },
  seed: { type: 'string' },
  patience: { type: 'string' },
  'vol-window': { type: 'string' },
  'train-fraction': { type: 'string' },
  'val-fraction': { type: 'string' },
  'context-csv': { type: 'string' },
  'context-symbol': { type: 'string' },
  'artifacts-dir': { type: 'string' },
  'init-from': { type: 'string' },
  horizons: { type: 'string' },
  features: { type: 'string' },
  overwrite: { type: 'boolean' },
  'skip-bad-rows': { type: 'boolean' },
  register: { type: 'boolean' },
  version: { type: 'string' },
  scope: { type: 'string' },
  role: { type: 'string' },
} as const;

const usage = `usage: signals train --run-id ID (--csv FILE [--symbol S] | --venue V --symbol S) [options]

Trains an LSTM or MLP on 1-minute bars (time-ordered 70/15/15 split, normalisation fitted
on train only, early stopping on val loss, seeded) and writes run-scoped artifacts:
  <artifacts>/checkpoints/<run_id>/best/ and last/   model.json, weights.bin, preprocessor.json
  <artifacts>/metrics/<run_id>.json                  sizes, metrics, baselines, timings, backend
  <artifacts>/reports/<run_id>.md (+ .svg chart)     command, config, comparison with naive baselines

data:
  --csv FILE               bars file (.csv or .jsonl; header timestamp,open,high,low,close,volume)
  --symbol S               with --csv: keep this symbol of a long-format file; without: read bars_1m
  --venue V                read bars_1m of V/S from DATABASE_URL instead of a file
  --context-csv FILE       market-context series (e.g. an index) adding the contextReturn feature
  --context-symbol S       symbol of the context series in a long-format file
  --skip-bad-rows          train although rows were rejected (they leave gaps; default: fail)
model:
  --model lstm|mlp         (default lstm)
  --lookback N             bars per window (default 24)
  --horizon N              bars ahead of the target (default 1)
  --hidden-units A,B       units per hidden layer (default 128,64)
  --dropout R              (default 0.2)
  --vol-window N           rolling window of volatility/volume features (default ${DEFAULT_VOL_WINDOW})
  --horizons 1,5,15,60     add multi-horizon heads: per horizon (bars) a return, P(up) and
                           volatility forecast (default: none)
  --features full|univariate
                           univariate: logReturn only (X [N, lookback, 1]) and the next
                           --horizon one-step returns as target (y [N, horizon]) (default full)
training:
  --epochs N               (default 50)       --batch-size N      (default 32)
  --learning-rate R        (default 0.001)    --patience N        early stopping (default 5)
  --seed N                 (default 42)       --train-fraction F / --val-fraction F (default 0.7 / 0.15)
  --init-from DIR          warm start from a checkpoint directory (same architecture and features)
artifacts:
  --artifacts-dir DIR      (default ARTIFACTS_DIR or ./artifacts)
  --overwrite              replace the artifacts of an earlier run with the same run_id
  --register               also store the best checkpoint in model_versions (DATABASE_URL)
  --version V              registry version (default: the run_id)
  --scope S                registry scope (default <venue>.<symbol> or global)
  --role pretrained|online (default pretrained)

TFJS_BACKEND=tensorflow-gpu|tensorflow|wasm|cpu forces a backend (default: first that loads).
exit codes: 2 usage, 3 bad input, 4 shape mismatch, 5 run_id mismatch, 6 not enough data,
            7 non-finite values, 8 backend unavailable, 9 checksum mismatch, 10 not found`;

type TrainFlags = ReturnType<typeof parseFlags<typeof options>>['values'];

/** "60,1,5" -> [1, 5, 60]: whole bars >= 1, sorted, duplicates dropped. */
function horizonsFlag(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map((s) => Number(s.trim()));
  if (parts.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`--horizons must be comma-separated integers >= 1, e.g. 1,5,15,60 (got ${JSON.stringify(value)})`);
  return [...new Set(parts)].sort((x, y) => x - y);
}

/** The run configuration of a `signals train` command line (its data flags aside); UsageError on bad flags. */
export function trainConfigFromArgv(argv: string[], artifactsDir: string): TrainRunConfig {
  return trainConfigFromFlags(parseFlags(argv, options).values, artifactsDir);
}

function trainConfigFromFlags(v: TrainFlags, artifactsDir: string): TrainRunConfig {
  const runId = requireFlag(v['run-id'], 'run-id');
  const kind = v.model ?? 'lstm';
  if (kind !== 'lstm' && kind !== 'mlp') throw new UsageError(`--model must be lstm or mlp (got ${JSON.stringify(kind)})`);
  const trainFraction = fractionFlag(v['train-fraction'], 'train-fraction', DEFAULT_SPLIT.train);
  const valFraction = fractionFlag(v['val-fraction'], 'val-fraction', DEFAULT_SPLIT.val);
  if (!(trainFraction > 0 && valFraction > 0 && trainFraction + valFraction < 1)) {
    throw new UsageError('--train-fraction and --val-fraction must be > 0 and leave room for a test part');
  }
  const features = v.features ?? 'full';
  if (features !== 'full' && features !== 'univariate') throw new UsageError(`--features must be full or univariate (got ${JSON.stringify(features)})`);
  if (features === 'univariate' && v['context-csv'] !== undefined) throw new UsageError('--features univariate takes no --context-csv (its only feature is the log return)');
  const config: TrainRunConfig = {
    runId,
    kind,
    lookback: intFlag(v.lookback, 'lookback', 24, 1),
    horizon: intFlag(v.horizon, 'horizon', 1, 1),
    volWindow: intFlag(v['vol-window'], 'vol-window', DEFAULT_VOL_WINDOW, 2),
    context: v['context-csv'] !== undefined,
    epochs: intFlag(v.epochs, 'epochs', 50, 1),
    batchSize: intFlag(v['batch-size'], 'batch-size', 32, 1),
    learningRate: positiveFlag(v['learning-rate'], 'learning-rate', 0.001),
    hiddenUnits: unitsFlag(v['hidden-units'], 'hidden-units', [128, 64]),
    dropout: fractionFlag(v.dropout, 'dropout', 0.2),
    seed: intFlag(v.seed, 'seed', 42, 0),
    patience: intFlag(v.patience, 'patience', 5, 1),
    split: { train: trainFraction, val: valFraction },
    artifactsDir,
  };
  if (v.overwrite) config.overwrite = true;
  if (v['init-from'] !== undefined) config.initFrom = v['init-from'];
  const horizons = horizonsFlag(v.horizons);
  if (horizons !== undefined) config.horizons = horizons;
  if (features === 'univariate') config.features = features;
  return config;
}

async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, options);
  const settings = loadSettings();
  const runId = requireFlag(v['run-id'], 'run-id');
  const kind = v.model ?? 'lstm';
  if (kind !== 'lstm' && kind !== 'mlp') throw new UsageError(`--model must be lstm or mlp (got ${JSON.stringify(kind)})`);
  if (v.csv === undefined && (v.venue === undefined || v.symbol === undefined)) {
    throw new UsageError('give the data as --csv FILE, or as --venue V --symbol S (reads bars_1m)');
  }
  if (v.csv !== undefined && v.venue !== undefined) throw new UsageError('--csv and --venue exclude each other');
  const config = trainConfigFromFlags(v, v['artifacts-dir'] ?? settings.ARTIFACTS_DIR);
  const role = v.role ?? 'pretrained';
  if (role !== 'pretrained' && role !== 'online') throw new UsageError(`--role must be pretrained or online (got ${JSON.stringify(role)})`);

  const log = cliLogger();
  let bars: OhlcvBar[];
  const warnings: string[] = [];
  let source: string;
  if (v.csv !== undefined) {
    const read = await readModelBars(v.csv, { symbol: v.symbol, skipBadRows: v['skip-bad-rows'] === true });
    bars = read.bars;
    warnings.push(...read.warnings);
    source = v.symbol === undefined ? v.csv : `${v.csv} (symbol ${v.symbol})`;
  } else {
    const venue = requireFlag(v.venue, 'venue');
    const symbol = requireFlag(v.symbol, 'symbol');
    if (!isToken(venue) || !isToken(symbol)) throw new UsageError('--venue and --symbol must match [A-Za-z0-9_-]{1,32}');
    bars = await barsFromDb(venue, symbol);
    source = `bars_1m ${venue}/${symbol}`;
  }
  let context: OhlcvBar[] | undefined;
  if (v['context-csv'] !== undefined) {
    const read = await readModelBars(v['context-csv'], { symbol: v['context-symbol'], skipBadRows: v['skip-bad-rows'] === true });
    context = read.bars;
    warnings.push(...read.warnings);
  }

  const backend = await selectBackend({ force: settings.TFJS_BACKEND, log });
  const result = await runTraining(config, {
    bars,
    ...(context ? { context } : {}),
    source,
    command: commandLine('train', argv),
    backend,
    log,
    progress: createTrainProgress(process.stderr),
    warnings,
  });
  const m = result.metrics;
  const out = [
    `run ${m.runId}: ${m.kind} ${m.epochsRan}/${m.epochsRequested} epochs (best ${m.bestEpoch}${m.stoppedEarly ? ', early stop' : ''}) on ${m.backend.name} in ${(m.timings.totalMs / 1000).toFixed(1)} s`,
    `test (${m.test.n} windows): RMSE ${m.test.rmse.toExponential(4)}  MAE ${m.test.mae.toExponential(4)}  dir.acc ${m.test.directionAccuracy.toFixed(4)}  AUC ${m.test.rocAuc?.toFixed(4) ?? 'n/a'}`,
    `best baseline ${m.bestBaseline.kind}: RMSE ${m.bestBaseline.rmse.toExponential(4)} -> model ${m.beatsBestBaseline.rmse ? 'beats it' : 'does NOT beat it'} on RMSE`,
    ...Object.entries(m.horizonValidation ?? {}).map(([label, h]) =>
      h
        ? `horizon ${label} (val ${h.n}): QLIKE ${h.qlike.toFixed(4)} (EWMA ${h.qlikeEwma.toFixed(4)}, historical ${h.qlikeHistorical.toFixed(4)})  MAE ${h.mae.toExponential(4)}  AUC ${h.rocAuc?.toFixed(4) ?? 'n/a'}`
        : `horizon ${label}: no metrics`,
    ),
    ...m.warnings.map((w) => `warning: ${w}`),
    `best checkpoint  ${result.paths.best}`,
    `metrics          ${result.paths.metrics}`,
    `report           ${result.paths.report}`,
  ];

  if (v.register) {
    const version = v.version ?? runId;
    const scope = v.scope ?? (v.venue !== undefined && v.symbol !== undefined ? `${v.venue}.${v.symbol}` : 'global');
    // The registry gets exactly the bytes of best/, checked on the way out.
    await loadModelDir(result.paths.best, { expectRunId: runId }).then((l) => l.model.dispose());
    const packed = packArtifact(await readArtifactDir(result.paths.best));
    const pool = createPool(settings.DATABASE_URL, 2);
    try {
      await saveModelArtifact(pool, {
        version,
        scope,
        role,
        kind,
        runId,
        artifact: packed.bytes,
        artifactSha256: packed.sha256,
        params: { ...config },
        metrics: { test: m.test, baselines: m.baselines, bestEpoch: m.bestEpoch },
        ...(m.data.fromTs !== null ? { dataFrom: m.data.fromTs } : {}),
        ...(m.data.toTs !== null ? { dataTo: m.data.toTs } : {}),
      });
    } finally {
      await pool.end();
    }
    out.push(`registered       version ${version} (scope ${scope}, role ${role}, sha256 ${packed.sha256.slice(0, 12)}…)`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'train an LSTM/MLP with run-scoped artifacts (checkpoints, metrics, report)',
  usage,
  run,
};
