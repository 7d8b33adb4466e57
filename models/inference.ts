import type pg from 'pg';
import { loadModelArtifact } from '../sql/index.ts';
import { decodeModel, loadModelDir, unpackArtifact } from './artifact-io.ts';
import { ModelNotFoundError, RunIdMismatchError, ShapeMismatchError } from './errors.ts';
import { buildWindows } from './features.ts';
import { NeuralPredictor } from './neural-predictor.ts';
import { specOf } from './preprocessor.ts';
import type { FeatureWindow, Forecast, OhlcvBar } from './types.ts';

/** Where a trained model comes from: a checkpoint directory or a registry version in `model_versions`. */
export type ModelSource = { dir: string } | { version: string; db: pg.Pool | pg.ClientBase };

/** One forecast made after the bar that opened at `ts` (with `horizons` from a model with horizon heads). */
export type SeriesForecast = { ts: number; value: number; pUp: number; horizons?: Forecast['horizons'] };

/**
 * Loads a trained model as a Predictor. Every check of the artifact IO applies
 * (checksums, run ids, shapes); `expectRunId` additionally pins the run.
 */
export async function loadPredictor(source: ModelSource, options: { expectRunId?: string | undefined } = {}): Promise<NeuralPredictor> {
  if ('dir' in source) {
    const loaded = await loadModelDir(source.dir, options);
    return new NeuralPredictor(loaded.model, loaded.preprocessor, loaded.runId);
  }
  const row = await loadModelArtifact(source.db, source.version);
  if (!row) throw new ModelNotFoundError(`model version ${JSON.stringify(source.version)} is not in the registry`);
  if (row.artifact === null || row.artifactSha256 === null) {
    throw new ModelNotFoundError(`model version ${source.version} has no stored artifact (removed by retention?)`);
  }
  const what = `model version ${source.version}`;
  const files = unpackArtifact(row.artifact, row.artifactSha256, what);
  const loaded = await decodeModel(files, { source: what, expectRunId: options.expectRunId });
  if (row.runId !== null && row.runId !== loaded.runId) {
    loaded.model.dispose();
    throw new RunIdMismatchError(row.runId, loaded.runId, `${what} (registry row vs artifact)`);
  }
  return new NeuralPredictor(loaded.model, loaded.preprocessor, source.version);
}

/**
 * Forecasts after every bar of a series that completes a window (batched:
 * thousands of windows per tensor call). `context` is required iff the model
 * was trained with a market-context feature.
 */
export function predictSeries(predictor: NeuralPredictor, bars: readonly OhlcvBar[], context?: readonly OhlcvBar[]): SeriesForecast[] {
  const spec = specOf(predictor.preprocessor);
  if (spec.context && context === undefined) {
    throw new ShapeMismatchError('features (model vs data)', predictor.preprocessor.featureNames, 'no context series (--context-csv)');
  }
  const set = buildWindows(bars, spec, spec.context ? context : undefined);
  return predictor.predictSet(set).map((f, i) => {
    const ts = set.ts[i] ?? Number.NaN;
    return f.horizons ? { ts, value: f.value, pUp: f.pUp, horizons: f.horizons } : { ts, value: f.value, pUp: f.pUp };
  });
}

/**
 * The latest window of many symbols in ONE tensor call (the live hot path when a
 * minute closes for every symbol at once). Symbols still warming up map to undefined.
 */
export function predictMany(predictor: NeuralPredictor, windows: ReadonlyMap<string, FeatureWindow>): Map<string, Forecast | undefined> {
  const keys = [...windows.keys()];
  const out = predictor.predictBatch(keys.map((k) => windows.get(k) ?? { ts: 0, rows: [] }));
  return new Map(keys.map((k, i) => [k, out[i]]));
}
