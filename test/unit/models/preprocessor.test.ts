import { describe, expect, it } from 'vitest';
import {
  buildWindows,
  fitPreprocessor,
  horizonScales,
  ModelInputError,
  outputUnits,
  parsePreprocessor,
  sliceWindows,
  specOf,
  type FeatureSpec,
} from '../../../models/index.ts';
import { marketBars } from '../../support/models/fixtures.ts';

/** A format-1 preprocessor.json as models trained before horizon heads wrote it. */
const V1 = {
  format: 'signals-preprocessor/1',
  runId: 'old-run',
  kind: 'mlp',
  lookback: 4,
  horizon: 1,
  volWindow: 10,
  context: false,
  featureNames: ['logReturn', 'volatility', 'volumeZ', 'hlRange', 'todSin', 'todCos'],
  featureMean: [0, 0.001, 0, 0.002, 0, 0],
  featureStd: [0.001, 0.0005, 1, 0.001, 0.7, 0.7],
  targetMean: 0,
  targetStd: 0.001,
  fittedOn: { windows: 100, fromTs: 0, toTs: 1 },
  createdAt: '2024-01-01T00:00:00.000Z',
};

const base: FeatureSpec = { lookback: 8, horizon: 1, volWindow: 10, context: false };
const bars = marketBars(600, 2_000);

describe('preprocessor formats', () => {
  it('still parses format 1 (old artifacts keep loading), with no horizons', () => {
    const p = parsePreprocessor(JSON.stringify(V1), 'old/preprocessor.json');
    expect(p.format).toBe('signals-preprocessor/1');
    expect(specOf(p), 'the spec of an old model is exactly the four fields').toEqual({ lookback: 4, horizon: 1, volWindow: 10, context: false });
    expect(horizonScales(p)).toBeUndefined();
    expect(outputUnits(p), 'value and pUp heads only').toEqual([1, 1]);
  });

  it('keeps writing format 1, byte for byte the same fields, for a spec without horizons', () => {
    const p = fitPreprocessor(buildWindows(bars, base), { runId: 'plain', kind: 'mlp' });
    expect(p.format).toBe('signals-preprocessor/1');
    expect(Object.keys(p)).toEqual(Object.keys(V1));
  });

  it('round-trips format 2 with per-horizon scales', () => {
    const set = buildWindows(bars, { ...base, horizons: [1, 5, 15] });
    const train = sliceWindows(set, 0, set.labelled);
    const p = fitPreprocessor(train, { runId: 'hz', kind: 'lstm' });
    expect(p.format).toBe('signals-preprocessor/2');
    const parsed = parsePreprocessor(JSON.stringify(p), 'hz/preprocessor.json');
    expect(parsed, 'JSON round trip').toEqual(p);
    expect(specOf(parsed)).toEqual({ ...base, horizons: [1, 5, 15] });
    const scales = horizonScales(parsed);
    expect(scales?.horizons).toEqual([1, 5, 15]);
    // s_h is the train mean of the realised variance: it grows about linearly with h.
    const [s1 = 0, s5 = 0, s15 = 0] = scales?.varianceScale ?? [];
    expect(s5 / s1).toBeGreaterThan(3);
    expect(s15 / s5).toBeGreaterThan(2);
    let sum = 0;
    for (let i = 0; i < train.labelled; i += 1) sum += train.horizonVariance?.[i * 3 + 1] ?? 0;
    expect(s5, 'mean realised 5-bar variance on train').toBeCloseTo(sum / train.labelled, 15);
    expect(scales?.std.every((s) => s > 0)).toBe(true);
    expect(outputUnits(parsed), 'value, pUp, then three heads of three horizons').toEqual([1, 1, 3, 3, 3]);
  });

  it('round-trips the univariate layout: one feature, `horizon` value units', () => {
    const set = buildWindows(bars, { ...base, horizon: 5, features: 'univariate' });
    const p = parsePreprocessor(JSON.stringify(fitPreprocessor(sliceWindows(set, 0, set.labelled), { runId: 'uni', kind: 'mlp' })), 'uni');
    expect(p.format).toBe('signals-preprocessor/2');
    expect(p.featureNames).toEqual(['logReturn']);
    expect(specOf(p)).toEqual({ ...base, horizon: 5, features: 'univariate' });
    expect(outputUnits(p)).toEqual([5, 1]);
  });

  it('refuses a format 2 file whose per-horizon arrays do not match its horizons', () => {
    const set = buildWindows(bars, { ...base, horizons: [1, 5] });
    const p = fitPreprocessor(sliceWindows(set, 0, set.labelled), { runId: 'bad', kind: 'mlp' });
    const broken = { ...p, varianceScale: [1e-6] };
    expect(() => parsePreprocessor(JSON.stringify(broken), 'bad/preprocessor.json')).toThrow(ModelInputError);
    expect(() => parsePreprocessor(JSON.stringify(broken), 'bad/preprocessor.json')).toThrow(/varianceScale must have 2 entries/);
    expect(() => parsePreprocessor(JSON.stringify({ ...V1, horizons: [1] }), 'v1-with-horizons'), 'format 1 stays strict').toThrow(ModelInputError);
  });
});
