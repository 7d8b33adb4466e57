import type { Logger } from '../../config/index.ts';
import {
  buildWindows,
  encodeModel,
  fitNetwork,
  fitPreprocessor,
  NeuralPredictor,
  packArtifact,
  specHorizons,
  targetReach,
  type ArtifactFiles,
  type FeatureSpec,
  type ModelKind,
  type OhlcvBar,
  type PackedArtifact,
  type WindowSet,
} from '../../models/index.ts';
import type { ServingModel } from './model-source.ts';
import { ANY_REGIME, DEFAULT_REGIME_THRESHOLDS, labelRegimes, REGIME_NAMES, type RegimeThresholds } from './regimes.ts';

/**
 * Phase 1 of the hybrid predictor (cold start): one small pretrained model per
 * market regime, trained on history that is NOT the symbol it will serve (other
 * symbols, synthetic series, earlier periods). Every window is labelled with the
 * regime of its last bar, by the same `labelRegimes` the live predictor uses, and
 * each regime's model trains on that regime's windows only; an `any` model
 * trained on every window serves regimes that had too few windows.
 * `spec.horizons` gives every model the multi-horizon heads (a return, P(up) and
 * volatility per horizon), `spec.features: 'univariate'` the one-feature layout.
 */
export type PretrainConfig = {
  readonly spec: FeatureSpec;
  readonly kind: ModelKind;
  readonly hiddenUnits: readonly number[];
  readonly dropout: number;
  readonly learningRate: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly patience: number;
  readonly seed: number;
  /** Training windows a regime needs for its own model. */
  readonly minRegimeWindows: number;
  /** Fraction of each series (its latest windows) used for early stopping. */
  readonly valFraction: number;
  readonly regime: RegimeThresholds;
  /** Version prefix: model versions are `<prefix>-<regime>`. */
  readonly versionPrefix: string;
};

export const DEFAULT_PRETRAIN: Omit<PretrainConfig, 'spec'> = {
  kind: 'mlp',
  hiddenUnits: [32, 16],
  dropout: 0.1,
  learningRate: 1e-3,
  epochs: 8,
  batchSize: 64,
  patience: 2,
  seed: 42,
  minRegimeWindows: 400,
  valFraction: 0.2,
  regime: DEFAULT_REGIME_THRESHOLDS,
  versionPrefix: 'pretrained',
};

export type PretrainSeries = { readonly name: string; readonly bars: readonly OhlcvBar[] };

export type PretrainedModel = {
  readonly regime: string;
  readonly version: string;
  readonly predictor: NeuralPredictor;
  readonly files: ArtifactFiles;
  readonly packed: PackedArtifact;
  readonly metrics: { trainWindows: number; valWindows: number; bestValLoss: number; epochsRan: number; bestEpoch: number; trainMs: number };
};

export type PretrainResult = {
  readonly models: PretrainedModel[];
  /** Labelled windows per regime over all series (train + val). */
  readonly windowsPerRegime: Record<string, number>;
  /** Regimes without their own model (too few windows): served by `any`. */
  readonly fallbackRegimes: string[];
};

type Part = { set: WindowSet; indices: number[] };

/** Windows picked from several sets into one, in the given order; `end` is offset per set so rows of different series never merge. */
export function mergeWindows(parts: readonly Part[], spec: FeatureSpec): WindowSet {
  const first = parts.find((p) => p.indices.length > 0)?.set ?? parts[0]?.set;
  const names = first?.featureNames ?? [];
  const per = spec.lookback * names.length;
  const count = parts.reduce((n, p) => n + p.indices.length, 0);
  const x = new Float32Array(count * per);
  const ts = new Float64Array(count);
  const end = new Int32Array(count);
  const close = new Float64Array(count);
  const target = new Float64Array(count);
  // Row-major per-window targets (horizons, univariate steps) are copied row by row.
  const hs = specHorizons(spec).length;
  const rows = (pick: (s: WindowSet) => Float64Array | undefined, width: number) => {
    if (width === 0 || !parts.some((p) => p.indices.length > 0 && pick(p.set))) return undefined;
    const out = new Float64Array(count * width).fill(Number.NaN);
    let at = 0;
    for (const { set, indices } of parts) {
      const m = pick(set);
      for (const i of indices) {
        if (m) out.set(m.subarray(i * width, (i + 1) * width), at * width);
        at += 1;
      }
    }
    return out;
  };
  let k = 0;
  let offset = 0;
  for (const { set, indices } of parts) {
    for (const i of indices) {
      x.set(set.x.subarray(i * per, (i + 1) * per), k * per);
      ts[k] = set.ts[i] ?? Number.NaN;
      end[k] = (set.end[i] ?? 0) + offset;
      close[k] = set.close[i] ?? Number.NaN;
      target[k] = set.target[i] ?? Number.NaN;
      k += 1;
    }
    offset += (set.end[set.count - 1] ?? 0) + spec.lookback + 1;
  }
  const horizonReturn = rows((s) => s.horizonReturn, hs);
  const horizonVariance = rows((s) => s.horizonVariance, hs);
  const stepReturn = rows((s) => s.stepReturn, spec.features === 'univariate' ? spec.horizon : 0);
  return {
    spec,
    featureNames: names,
    count,
    labelled: count,
    x,
    ts,
    end,
    close,
    target,
    ...(horizonReturn ? { horizonReturn } : {}),
    ...(horizonVariance ? { horizonVariance } : {}),
    ...(stepReturn ? { stepReturn } : {}),
  };
}

/** Trains the per-regime models (and `any`). Deterministic for a seed. */
export async function pretrainRegimeModels(
  series: readonly PretrainSeries[],
  config: PretrainConfig,
  options: { log?: Logger } = {},
): Promise<PretrainResult> {
  const regimes = [...REGIME_NAMES, ANY_REGIME];
  const train = new Map<string, Part[]>(regimes.map((r) => [r, []]));
  const val = new Map<string, Part[]>(regimes.map((r) => [r, []]));
  const windowsPerRegime: Record<string, number> = Object.fromEntries(regimes.map((r) => [r, 0]));
  for (const s of series) {
    const set = buildWindows(s.bars, config.spec);
    const labels = labelRegimes(s.bars, config.regime);
    const cut = Math.floor(set.labelled * (1 - config.valFraction));
    const byRegime = new Map<string, { tr: number[]; va: number[] }>(regimes.map((r) => [r, { tr: [], va: [] }]));
    for (let i = 0; i < set.labelled; i += 1) {
      const regime = labels[set.end[i] ?? -1];
      // Embargo: the first `reach` windows after the cut would share their target bars with training.
      if (i >= cut && i < cut + targetReach(config.spec)) continue;
      for (const r of regime === undefined ? [ANY_REGIME] : [regime, ANY_REGIME]) {
        const b = byRegime.get(r);
        if (!b) continue;
        (i < cut ? b.tr : b.va).push(i);
        windowsPerRegime[r] = (windowsPerRegime[r] ?? 0) + 1;
      }
    }
    for (const [r, b] of byRegime) {
      train.get(r)?.push({ set, indices: b.tr });
      val.get(r)?.push({ set, indices: b.va });
    }
  }

  const models: PretrainedModel[] = [];
  const fallbackRegimes: string[] = [];
  for (const regime of regimes) {
    const tr = mergeWindows(train.get(regime) ?? [], config.spec);
    const va = mergeWindows(val.get(regime) ?? [], config.spec);
    if (regime !== ANY_REGIME && (tr.count < config.minRegimeWindows || va.count < 30)) {
      fallbackRegimes.push(regime);
      options.log?.info({ regime, train: tr.count, val: va.count }, 'too few windows for a regime model; served by the any model');
      continue;
    }
    const version = `${config.versionPrefix}-${regime}`;
    const pre = fitPreprocessor(tr, { runId: version, kind: config.kind });
    const fit = await fitNetwork(tr, va, pre, {
      network: {
        kind: config.kind,
        lookback: config.spec.lookback,
        featureCount: tr.featureNames.length,
        hiddenUnits: config.hiddenUnits,
        dropout: config.dropout,
        learningRate: config.learningRate,
        seed: config.seed,
      },
      epochs: config.epochs,
      batchSize: config.batchSize,
      patience: config.patience,
    });
    const files = await encodeModel(fit.model, pre);
    models.push({
      regime,
      version,
      predictor: new NeuralPredictor(fit.model, pre, version),
      files,
      packed: packArtifact(files),
      metrics: {
        trainWindows: tr.count,
        valWindows: va.count,
        bestValLoss: fit.bestValLoss,
        epochsRan: fit.epochsRan,
        bestEpoch: fit.bestEpoch,
        trainMs: fit.trainMs,
      },
    });
    options.log?.info({ regime, version, train: tr.count, val: va.count, valLoss: fit.bestValLoss, epochs: fit.epochsRan }, 'regime model pretrained');
  }
  return { models, windowsPerRegime, fallbackRegimes };
}

/** The pretrained models as ServingModels (role `pretrained`, regime from training). */
export function servingModels(result: PretrainResult): ServingModel[] {
  return result.models.map((m) => ({ role: 'pretrained', version: m.version, regime: m.regime, predictor: m.predictor }));
}
