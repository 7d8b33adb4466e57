import { z } from 'zod';
import { ModelInputError, ShapeMismatchError } from './errors.ts';
import { featureNames, type FeatureSpec, type WindowSet } from './features.ts';

const positiveInt = z.number().int().min(1);

const common = {
  runId: z.string().min(1),
  kind: z.enum(['lstm', 'mlp']),
  lookback: positiveInt,
  horizon: positiveInt,
  volWindow: positiveInt,
  context: z.boolean(),
  featureNames: z.array(z.string().min(1)).min(1),
  featureMean: z.array(z.number()),
  featureStd: z.array(z.number().positive()),
  targetMean: z.number(),
  targetStd: z.number().positive(),
  fittedOn: z.strictObject({ windows: z.number().int().min(1), fromTs: z.number(), toTs: z.number() }),
  createdAt: z.string(),
};

/**
 * Format 2 adds the feature layout and the multi-horizon heads' scales:
 * `horizonTargetMean` / `horizonTargetStd` standardise each horizon's return,
 * `varianceScale` s_h (the mean realised variance of horizon h on the train split)
 * scales its variance head: σ²_h = s_h · exp(z_h). With `univariate` features the
 * value head has `horizon` units, one per future one-step return, and
 * `targetMean` / `targetStd` are those one-step returns' statistics.
 * Written only for a spec with horizons or univariate features, so models
 * without them keep format 1, byte for byte.
 */
const v2Fields = {
  features: z.enum(['full', 'univariate']),
  horizons: z.array(positiveInt),
  horizonTargetMean: z.array(z.number()),
  horizonTargetStd: z.array(z.number().positive()),
  varianceScale: z.array(z.number().positive()),
};

/**
 * preprocessor.json: how windows are cut and normalised. Fitted on the training
 * split only and saved beside the model, so inference normalises exactly as training did.
 */
export const preprocessorSchema = z
  .discriminatedUnion('format', [
    z.strictObject({ format: z.literal('signals-preprocessor/1'), ...common }),
    z.strictObject({ format: z.literal('signals-preprocessor/2'), ...common, ...v2Fields }),
  ])
  .superRefine((p, ctx) => {
    const n = p.featureNames.length;
    if (p.featureMean.length !== n || p.featureStd.length !== n) {
      ctx.addIssue({ code: 'custom', path: ['featureMean'], message: `featureMean and featureStd must have ${n} entries (one per feature)` });
    }
    if (p.format !== 'signals-preprocessor/2') return;
    const hs = p.horizons;
    if (hs.some((h, i) => i > 0 && h <= (hs[i - 1] ?? 0))) ctx.addIssue({ code: 'custom', path: ['horizons'], message: 'horizons must be ascending and unique' });
    for (const key of ['horizonTargetMean', 'horizonTargetStd', 'varianceScale'] as const) {
      if (p[key].length !== hs.length) ctx.addIssue({ code: 'custom', path: [key], message: `${key} must have ${hs.length} entries (one per horizon)` });
    }
    if (p.features === 'univariate' && p.context) ctx.addIssue({ code: 'custom', path: ['context'], message: 'univariate features take no context series' });
  });
export type Preprocessor = z.output<typeof preprocessorSchema>;

/** Per-horizon scales of a preprocessor with horizon heads (undefined without them). */
export type HorizonScales = {
  readonly horizons: readonly number[];
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly varianceScale: readonly number[];
};

export function horizonScales(p: Preprocessor): HorizonScales | undefined {
  if (p.format !== 'signals-preprocessor/2' || p.horizons.length === 0) return undefined;
  return { horizons: p.horizons, mean: p.horizonTargetMean, std: p.horizonTargetStd, varianceScale: p.varianceScale };
}

/** The feature spec a preprocessor was fitted with (horizons and layout only where they differ from the defaults). */
export function specOf(p: Preprocessor): FeatureSpec {
  const spec = { lookback: p.lookback, horizon: p.horizon, volWindow: p.volWindow, context: p.context };
  if (p.format !== 'signals-preprocessor/2') return spec;
  return {
    ...spec,
    ...(p.horizons.length > 0 ? { horizons: [...p.horizons] } : {}),
    ...(p.features === 'univariate' ? { features: 'univariate' as const } : {}),
  };
}

/** Units of the `value` head: one, or with univariate features one per future one-step return. */
export function valueUnits(p: Pick<FeatureSpec, 'horizon' | 'features'>): number {
  return p.features === 'univariate' ? p.horizon : 1;
}

/** Units of each network output a preprocessor's model must have: value, pUp, then hValue, hUp, hLogVar with horizons. */
export function outputUnits(p: Preprocessor): number[] {
  const hs = horizonScales(p)?.horizons.length ?? 0;
  return [valueUnits(specOf(p)), 1, ...(hs > 0 ? [hs, hs, hs] : [])];
}

/** Parses preprocessor.json text; invalid content is a ModelInputError naming the file. */
export function parsePreprocessor(text: string, source: string): Preprocessor {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelInputError(`${source} is not valid JSON`, { cause: err });
  }
  const parsed = preprocessorSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelInputError(`${source} is not a valid preprocessor: ${issues}`);
  }
  const p = parsed.data;
  const expected = featureNames(p);
  if (expected.join(',') !== p.featureNames.join(',')) throw new ShapeMismatchError('feature names', expected, p.featureNames, source);
  return p;
}

/** Mean and population std of the finite values of `m` in column `j` of width `w` (std 1 when degenerate, as for a flat target). */
function columnStats(m: Float64Array, j: number, w: number): { mean: number; std: number } {
  let sum = 0;
  let n = 0;
  for (let i = j; i < m.length; i += w) {
    const v = m[i] ?? Number.NaN;
    if (Number.isFinite(v)) {
      sum += v;
      n += 1;
    }
  }
  const mean = n > 0 ? sum / n : 0;
  let sq = 0;
  for (let i = j; i < m.length; i += w) {
    const v = m[i] ?? Number.NaN;
    if (Number.isFinite(v)) sq += (v - mean) ** 2;
  }
  const std = n > 1 ? Math.sqrt(sq / n) : 0;
  return { mean, std: std > 1e-12 ? std : 1 };
}

/** Statistics of every value of a row-major matrix (all columns pooled). */
function pooledStats(m: Float64Array): { mean: number; std: number } {
  return columnStats(m, 0, 1);
}

/** Smallest variance scale: a flat train split must not make s_h zero (the head divides by it). */
const MIN_VARIANCE_SCALE = 1e-12;

/**
 * Fits per-feature mean/std and the target's mean/std on training windows.
 * Each bar's feature row counts once even though windows overlap. With horizons
 * or univariate features (format 2) it also fits each horizon's return mean/std
 * and variance scale.
 */
export function fitPreprocessor(
  train: WindowSet,
  meta: { runId: string; kind: 'lstm' | 'mlp' },
): Preprocessor {
  const f = train.featureNames.length;
  const { lookback } = train.spec;
  const sum = new Float64Array(f);
  const sq = new Float64Array(f);
  let rows = 0;
  let lastBar = -1;
  for (let i = 0; i < train.count; i += 1) {
    const end = train.end[i] ?? 0;
    for (let k = 0; k < lookback; k += 1) {
      const bar = end - lookback + 1 + k;
      if (bar <= lastBar) continue;
      lastBar = bar;
      rows += 1;
      for (let j = 0; j < f; j += 1) {
        const v = train.x[(i * lookback + k) * f + j] ?? 0;
        sum[j] = (sum[j] ?? 0) + v;
        sq[j] = (sq[j] ?? 0) + v * v;
      }
    }
  }
  const featureMean = Array.from(sum, (s) => s / rows);
  const featureStd = Array.from(sq, (s, j) => {
    const m = featureMean[j] ?? 0;
    const sd = Math.sqrt(Math.max(0, s / rows - m * m));
    // A constant feature (e.g. a flat context) is only centred.
    return sd > 1e-12 ? sd : 1;
  });
  let tSum = 0;
  let tN = 0;
  for (let i = 0; i < train.count; i += 1) {
    const t = train.target[i] ?? Number.NaN;
    if (Number.isFinite(t)) {
      tSum += t;
      tN += 1;
    }
  }
  const targetMean = tN > 0 ? tSum / tN : 0;
  let tSq = 0;
  for (let i = 0; i < train.count; i += 1) {
    const t = train.target[i] ?? Number.NaN;
    if (Number.isFinite(t)) tSq += (t - targetMean) ** 2;
  }
  const targetStdRaw = tN > 1 ? Math.sqrt(tSq / tN) : 0;
  const v1 = {
    format: 'signals-preprocessor/1' as const,
    runId: meta.runId,
    kind: meta.kind,
    lookback,
    horizon: train.spec.horizon,
    volWindow: train.spec.volWindow,
    context: train.spec.context,
    featureNames: [...train.featureNames],
    featureMean,
    featureStd,
    targetMean,
    targetStd: targetStdRaw > 1e-12 ? targetStdRaw : 1,
    fittedOn: { windows: train.count, fromTs: train.ts[0] ?? 0, toTs: train.ts[train.count - 1] ?? 0 },
    createdAt: new Date().toISOString(),
  };
  const horizons = [...(train.spec.horizons ?? [])];
  const features = train.spec.features ?? 'full';
  if (horizons.length === 0 && features === 'full') return v1;

  const { fittedOn, createdAt, ...head } = v1;
  const step = features === 'univariate' && train.stepReturn ? pooledStats(train.stepReturn) : undefined;
  const h = horizons.length;
  const ret = train.horizonReturn ?? new Float64Array(0);
  const rv = train.horizonVariance ?? new Float64Array(0);
  const hStats = horizons.map((_, j) => columnStats(ret, j, h));
  const varianceScale = horizons.map((_, j) => {
    const m = columnStats(rv, j, h).mean;
    return m > MIN_VARIANCE_SCALE ? m : MIN_VARIANCE_SCALE;
  });
  return {
    ...head,
    format: 'signals-preprocessor/2',
    ...(step ? { targetMean: step.mean, targetStd: step.std } : {}),
    features,
    horizons,
    horizonTargetMean: hStats.map((s) => s.mean),
    horizonTargetStd: hStats.map((s) => s.std),
    varianceScale,
    fittedOn,
    createdAt,
  };
}

/** Normalises flattened rows (any number of them, `featureNames.length` values each) into `out`. */
export function normaliseRows(p: Preprocessor, x: Float32Array, out = new Float32Array(x.length)): Float32Array {
  const f = p.featureNames.length;
  const mean = Float32Array.from(p.featureMean);
  const inv = Float32Array.from(p.featureStd, (s) => 1 / s);
  for (let i = 0; i < x.length; i += 1) {
    const j = i % f;
    out[i] = ((x[i] ?? 0) - (mean[j] ?? 0)) * (inv[j] ?? 1);
  }
  return out;
}
