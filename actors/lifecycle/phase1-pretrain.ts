import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../config/index.ts';
import { activateVersion, registerCandidate, rejectVersion, repairKvFromRegistry } from './registry.ts';
import { ANY_REGIME, GLOBAL_SCOPE } from './versions.ts';
import { decideGate, type GateConfig } from './gate.ts';
import { windowLosses } from './paired-bootstrap.ts';
import type { WindowEvaluation } from './verification.ts';
import { poolVolatility, volatilityOnWindow } from './volatility-evaluation.ts';
import { synthBars } from '../../market/index.ts';
import {
  buildWindows,
  createBaselines,
  forecastMetrics,
  selectBackend,
  specOf,
  windowAt,
  type FeatureSpec,
  type FeatureWindow,
  type Forecast,
  type ForecastMetrics,
  type NeuralPredictor,
} from '../../models/index.ts';
import { DEFAULT_PRETRAIN, labelRegimes, TrainingThread, type PretrainResult, type PretrainSeries } from '../prediction/index.ts';
import type { Db } from '../../sql/index.ts';
import { KV_BUCKETS, modelActiveSchema, openBucket } from '../../streams/index.ts';

export type Phase1Options = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  spec: FeatureSpec;
  /** History to pretrain on: defaults to a synthetic market that is NOT the one replayed live. */
  history?: readonly PretrainSeries[];
  seed?: number;
  epochs?: number;
  backend?: string | undefined;
  /** Gate thresholds (from the configuration). */
  gate?: Partial<GateConfig>;
};

export type Phase1Result = { skipped: boolean; reason: string; versions: string[] };

/** Share of each pretraining series held out to judge the Phase 1 models. */
const TEST_FRACTION = 0.15;

/** A Phase 1 model and the naive baselines on the held-out tails (windows of its regime; all windows for `any` or when too few). */
function judgeOnTail(predictor: NeuralPredictor, split: readonly { s: PretrainSeries; cut: number }[], regime: string): WindowEvaluation {
  const fill = (fs: readonly (Forecast | undefined)[]) => fs.map((f) => f ?? { value: 0, pUp: 0.5 });
  const pick = (onlyRegime: boolean) => {
    const windows: FeatureWindow[] = [];
    const actual: number[] = [];
    for (const { s, cut } of split) {
      const set = buildWindows(s.bars, specOf(predictor.preprocessor));
      const labels = onlyRegime ? labelRegimes(s.bars) : [];
      for (let i = 0; i < set.count; i += 1) {
        const target = set.target[i] ?? Number.NaN;
        const end = set.end[i] ?? -1;
        if (!Number.isFinite(target) || end < cut) continue;
        if (onlyRegime && labels[end] !== regime) continue;
        windows.push(windowAt(set, i));
        actual.push(target);
      }
    }
    return { windows, actual };
  };
  let { windows, actual } = pick(regime !== ANY_REGIME);
  if (windows.length < 100) ({ windows, actual } = pick(false));
  if (windows.length === 0) throw new RangeError('phase 1: no held-out windows to judge the pretrained models on');
  const f = fill(predictor.predictBatch(windows));
  const baselines: Record<string, ForecastMetrics> = {};
  const baselineLosses: Record<string, Float64Array> = {};
  for (const b of createBaselines(predictor.lookback, predictor.preprocessor.horizon)) {
    const bf = fill(b.predictBatch(windows));
    baselines[b.kind] = forecastMetrics(actual, bf);
    baselineLosses[b.kind] = windowLosses(actual, bf);
  }
  // The volatility heads on every series' held-out tail (all regimes: volatility is judged per horizon, not per regime).
  const volatility = poolVolatility(split.map(({ s, cut }) => volatilityOnWindow(predictor, s.bars, s.bars[cut]?.ts ?? Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)));
  return {
    model: forecastMetrics(actual, f),
    baselines,
    windows: windows.length,
    losses: { model: windowLosses(actual, f), baselines: baselineLosses },
    ...(volatility ? { volatility } : {}),
  };
}

/** The seeded synthetic history Phase 1 trains on by default: other symbols, an earlier period, another seed. */
export function defaultPretrainHistory(seed: number): PretrainSeries[] {
  const bySymbol = new Map<string, PretrainSeries['bars'][number][]>();
  for (const b of synthBars({ symbols: 4, minutes: 3_000, seed: seed + 10_007, start: Date.UTC(2023, 0, 2) })) {
    const list = bySymbol.get(b.symbol) ?? [];
    list.push(b);
    bySymbol.set(b.symbol, list);
  }
  return [...bySymbol].map(([name, bars]) => ({ name: `pretrain-${name}`, bars }));
}

/**
 * Phase 1, offline pretraining: one small model per market regime (cold start),
 * registered in the model registry and activated for every symbol (KV key
 * `default`). Skipped when pretrained versions are already active.
 */
export async function runPhase1(opts: Phase1Options): Promise<Phase1Result> {
  const log = opts.log.child({ actor: 'phase1' });
  const kv = await openBucket(opts.nc, KV_BUCKETS.modelActive);
  // The database is the source of truth: a KV without the active versions (a restored
  // database, a new NATS) gets them back before anything reads it.
  const repaired = await repairKvFromRegistry(kv, opts.db, 'repaired from the registry at start-up', Date.now());
  if (repaired.length > 0) log.warn({ scopes: repaired }, 'model_active had no entry for scopes with active versions: written from the registry');
  const entry = await kv.get('default');
  if (entry && entry.operation === 'PUT') {
    const parsed = modelActiveSchema.safeParse(entry.json());
    if (parsed.success && Object.keys(parsed.data.pretrained).length > 0) {
      const versions = Object.values(parsed.data.pretrained);
      log.info({ versions }, 'phase 1 skipped: pretrained versions already active');
      return { skipped: true, reason: 'pretrained versions already active', versions };
    }
  }
  const backend = await selectBackend({ force: opts.backend, log });
  const seed = opts.seed ?? 42;
  const started = Date.now();
  const history = opts.history ?? defaultPretrainHistory(seed);
  // The newest TEST_FRACTION of every series is never trained on: the gate judges the models there.
  const split = history.map((s) => ({ s, cut: Math.floor(s.bars.length * (1 - TEST_FRACTION)) }));
  // Training runs in a worker thread: the NATS connection, the status service and the
  // health checks of this process stay responsive while it trains.
  const thread = new TrainingThread({ log, backend: opts.backend });
  let result: PretrainResult;
  try {
    result = await thread.pretrain(
      split.map(({ s, cut }) => ({ name: s.name, bars: s.bars.slice(0, cut) })),
      { ...DEFAULT_PRETRAIN, spec: opts.spec, seed, epochs: opts.epochs ?? DEFAULT_PRETRAIN.epochs, versionPrefix: `phase1-s${seed}` },
    );
  } finally {
    await thread.close();
  }
  if (result.fallbackRegimes.length > 0) log.info({ fallbackRegimes: result.fallbackRegimes, windowsPerRegime: result.windowsPerRegime }, 'regimes with too few windows are served by the any model');
  const env = { db: opts.db, kv, js: jetstream(opts.nc), log };
  const versions: string[] = [];
  for (const m of result.models) {
    const judged = judgeOnTail(m.predictor, split, m.regime);
    const gate = decideGate({
      scope: GLOBAL_SCOPE,
      challenger: judged.model,
      champion: undefined,
      baselines: judged.baselines,
      losses: { challenger: judged.losses.model, baselines: judged.losses.baselines },
      ...(judged.volatility ? { volatility: { challenger: judged.volatility } } : {}),
      ...(opts.gate ? { config: opts.gate } : {}),
    });
    const comparison: Record<string, unknown> = { ...gate, championVersion: null, window: `newest ${TEST_FRACTION * 100} % of each pretraining series (${judged.windows} windows)` };
    const version = await registerCandidate(opts.db, {
      scope: GLOBAL_SCOPE,
      role: 'pretrained',
      kind: 'mlp',
      regime: m.regime,
      runId: m.version,
      artifact: m.packed,
      params: { spec: opts.spec, backend: backend.backend },
      metrics: { training: { ...m.metrics }, test: judged.model, baselines: judged.baselines, gate: comparison },
    });
    if (gate.decision === 'deploy') {
      await activateVersion(env, { version, reason: `phase 1 pretraining (regime ${m.regime}); passed the gate`, actor: 'phase1', comparison });
    } else {
      // The cold start needs a model to blend with the online one: a rejected Phase 1 model is
      // served anyway, forced, with the gate's reasons on record (model_deployments, model.events).
      await rejectVersion(env, { version, kind: 'rejected', reasons: gate.reasons, actor: 'gate', stage: 'gate', comparison });
      await activateVersion(env, {
        version,
        reason: `forced: cold start with no model that passed the gate (regime ${m.regime}; rejected: ${gate.reasons.join('; ')})`.slice(0, 2_000),
        actor: 'phase1:force',
        comparison,
        force: true,
      });
      log.warn({ version, regime: m.regime, reasons: gate.reasons }, 'phase 1 model rejected by the gate; served as the cold start (forced)');
    }
    versions.push(version);
    m.predictor.dispose();
  }
  log.info({ versions, windowsPerRegime: result.windowsPerRegime, ms: Date.now() - started }, 'phase 1 done: pretrained models active');
  return { skipped: false, reason: `trained ${versions.length} regime models in ${((Date.now() - started) / 1000).toFixed(1)} s`, versions };
}
