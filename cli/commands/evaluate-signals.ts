import { join } from 'node:path';
import { activeVersions, createPool } from '../../sql/index.ts';
import { loadSettings } from '../../config/index.ts';
import { DEFAULT_PREDICTOR_SPEC, evaluateSignals, StaticModelSource, type ServingModel } from '../../actors/prediction/index.ts';
import {
  DEFAULT_SIGNAL_SETTINGS,
  formatSkillReport,
  loadPredictor,
  parseHorizons,
  readModelBars,
  selectBackend,
  skillReport,
  specOf,
  writeSkillReport,
  type FeatureSpec,
} from '../../models/index.ts';
import { cliLogger, intFlag, numberFlag, parseFlags, requireFlag } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';

export const signalOptions = {
  csv: { type: 'string' },
  symbol: { type: 'string' },
  venue: { type: 'string' },
  horizons: { type: 'string' },
  models: { type: 'string' },
  registry: { type: 'boolean' },
  'warm-up': { type: 'string' },
  bootstrap: { type: 'string' },
  'cost-bps': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  'skip-bad-rows': { type: 'boolean' },
} as const;

export const signalUsage = `usage: signals evaluate --csv FILE [options]

What the published signal is worth on any bars file: the bars go through the same
engine as the live predictor (every horizon's forecast from the baselines and the
learned models, blended and calibrated as live), and every horizon is scored as it
realises, against every baseline, with moving-block bootstrap 95 % intervals:
volatility (QLIKE, MSE and R² of log realised variance, Mincer–Zarnowitz), bands
(50 %/90 % coverage, pinball), direction (ROC AUC, Brier, reliability, ECE) and
economics after costs. Writes metrics.json and SVG charts to --out.

  --csv FILE             bars file (--symbol S for a long-format file)
  --horizons LIST        (default ${DEFAULT_SIGNAL_SETTINGS.horizons.map((h) => `${h}m`).join(',')})
  --models DIR[@REGIME],...   trained model directories to serve as pretrained components
  --registry             serve the active global pretrained versions of the registry (DATABASE_URL)
                         (neither: the baselines only)
  --warm-up N            bars not scored at the start (default 1440: the fits' first day)
  --bootstrap N          resamples (default 1000)   --cost-bps N   per unit of turnover (default 5)
  --out DIR              report directory (default <ARTIFACTS_DIR>/reports/evaluate-<time>)
  --json                 print the report as JSON
  --walk-forward         the models' own walk-forward instead (see signals evaluate --walk-forward --help)`;

async function servingModels(v: { models?: string | undefined; registry?: boolean | undefined }): Promise<{ models: ServingModel[]; close: () => Promise<void> }> {
  const out: ServingModel[] = [];
  if (v.models !== undefined && v.registry) throw new UsageError('give --models or --registry, not both');
  if (v.models !== undefined) {
    for (const entry of v.models.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [dir = '', regime = 'any'] = entry.split('@');
      const predictor = await loadPredictor({ dir });
      out.push({ role: 'pretrained', version: predictor.preprocessor.runId, regime, predictor });
    }
    return { models: out, close: async () => {} };
  }
  if (!v.registry) return { models: out, close: async () => {} };
  const settings = loadSettings();
  const db = createPool(settings.DATABASE_URL, 2);
  for (const row of await activeVersions(db, 'global')) {
    if (row.role !== 'pretrained') continue;
    out.push({ role: 'pretrained', version: row.version, regime: row.regime ?? 'any', predictor: await loadPredictor({ version: row.version, db }) });
  }
  return { models: out, close: () => db.end() };
}

export async function runSignalEvaluation(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, signalOptions);
  const csv = requireFlag(v.csv, 'csv');
  const settings = loadSettings();
  const log = cliLogger();
  let horizons: number[];
  try {
    horizons = v.horizons === undefined ? [...DEFAULT_SIGNAL_SETTINGS.horizons] : parseHorizons(v.horizons);
  } catch (err) {
    throw new UsageError(`--horizons: ${(err as Error).message}`);
  }
  const { bars, warnings } = await readModelBars(csv, { symbol: v.symbol, skipBadRows: v['skip-bad-rows'] === true });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const backend = await selectBackend({ force: settings.TFJS_BACKEND, log });
  const served = await servingModels(v);
  try {
    const first = served.models[0]?.predictor;
    const spec: FeatureSpec = first && 'preprocessor' in first ? specOf((first as { preprocessor: Parameters<typeof specOf>[0] }).preprocessor) : DEFAULT_PREDICTOR_SPEC;
    const started = performance.now();
    const evaluation = evaluateSignals(bars, {
      venue: v.venue ?? 'eval',
      symbol: v.symbol ?? 'SERIES',
      models: new StaticModelSource(served.models),
      spec,
      signals: { ...DEFAULT_SIGNAL_SETTINGS, horizons },
    });
    const warmUp = intFlag(v['warm-up'], 'warm-up', 1_440, 0);
    const from = bars[Math.min(warmUp, Math.max(0, bars.length - 1))]?.ts ?? 0;
    const outcomes = evaluation.outcomes.filter((o) => o.ts >= from);
    const report = skillReport(outcomes, {
      bootstrap: { resamples: intFlag(v.bootstrap, 'bootstrap', 1_000, 10) },
      economics: { costPerTurnover: numberFlag(v['cost-bps'], 'cost-bps', 5) / 1e4 },
    });
    const dir = v.out ?? join(settings.ARTIFACTS_DIR, 'reports', `evaluate-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    const files = await writeSkillReport(dir, report);
    if (v.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const models = served.models.length ? served.models.map((m) => m.version).join(', ') : 'none (baselines only)';
      process.stdout.write(
        `signal evaluation of ${csv}: ${bars.length} bars (first ${warmUp} not scored), ${outcomes.length} outcomes, learned models: ${models}, ` +
          `backend ${backend.backend}, ${((performance.now() - started) / 1000).toFixed(1)} s\n\n${formatSkillReport(report)}\n\nwritten: ${files.join(', ')}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    for (const m of served.models) m.predictor.dispose();
    await served.close();
  }
}
