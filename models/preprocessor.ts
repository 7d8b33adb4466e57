import { z } from 'zod';
import { ModelInputError, ShapeMismatchError } from './errors.ts';
import { featureNames, type FeatureSpec, type WindowSet } from './features.ts';

const positiveInt = z.number().int().min(1);

/**
 * preprocessor.json: how windows are cut and normalised. Fitted on the training
 * split only and saved beside the model, so inference normalises exactly as training did.
 */
export const preprocessorSchema = z
  .strictObject({
    format: z.literal('signals-preprocessor/1'),
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
  })
  .superRefine((p, ctx) => {
    const n = p.featureNames.length;
    if (p.featureMean.length !== n || p.featureStd.length !== n) {
      ctx.addIssue({ code: 'custom', path: ['featureMean'], message: `featureMean and featureStd must have ${n} entries (one per feature)` });
    }
  });
export type Preprocessor = z.output<typeof preprocessorSchema>;

/** The feature spec a preprocessor was fitted with. */
export function specOf(p: Preprocessor): FeatureSpec {
  return { lookback: p.lookback, horizon: p.horizon, volWindow: p.volWindow, context: p.context };
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

/**
 * Fits per-feature mean/std and the target's mean/std on training windows.
 * Each bar's feature row counts once even though windows overlap.
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
  return {
    format: 'signals-preprocessor/1',
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
