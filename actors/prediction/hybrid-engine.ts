import {
  DEFAULT_SIGNAL_SETTINGS,
  signalWarmupBars,
  FeatureBuilder,
  NeuralPredictor,
  SymbolSignals,
  checkSignalSettings,
  warmupBars,
  type FeatureSpec,
  type FeatureWindow,
  type Forecast,
  type HorizonOutcome,
  type OhlcvBar,
  type SignalSettings,
  type SignalStep,
} from '../../models/index.ts';
import type { Prediction, ShadowPrediction } from '../../streams/index.ts';
import { DEFAULT_PAGE_HINKLEY, DriftMonitor, type PageHinkleyConfig } from './drift.ts';
import type { ModelSource, ServingModel } from './model-source.ts';
import type { LiveOutcome } from './outcome-feed.ts';
import { servePlan } from './rollout-plan.ts';
import { ANY_REGIME, classifyRegime, DEFAULT_REGIME_THRESHOLDS, RegimeFeaturesStream, RegimeTracker, type RegimeThresholds } from './regimes.ts';
import { createPureWeightKeeper, type WeightKeeper, type WeightKeeperFactory } from './weight-keeper.ts';
import { blendConfidence, blendWeights, checkWeighterConfig, DEFAULT_WEIGHTER_CONFIG, type WeighterConfig } from './weighter.ts';
import type { BlendWeights } from './weights.schema.ts';

const MINUTE_MS = 60_000;

/** A closed 1-minute bar of one venue/symbol, as the engine reads it. */
export type EngineBar = OhlcvBar & { readonly venue: string; readonly symbol: string };

/** Data health of a symbol as the engine needs it (quality/ `HealthState`, undefined = not known yet). */
export type QualityLookup = (venue: string, symbol: string) => 'healthy' | 'degraded' | 'quarantined' | undefined;

export type HybridEngineConfig = {
  /** Feature layout every served model must read (lookback ≥ each model's lookback, same volWindow). */
  readonly spec: FeatureSpec;
  readonly weighter: WeighterConfig;
  readonly regime: RegimeThresholds;
  /** Bars a new regime must persist before the pretrained model is re-selected (hysteresis). */
  readonly regimePersistBars: number;
  readonly drift: PageHinkleyConfig;
  /** Recent bars kept per symbol (what the fine-tuner trains on). */
  readonly historyBars: number;
  /** Bars before the first fine-tune of a symbol (cold start → online model). */
  readonly firstFineTuneBars: number;
  /** Fine-tune again every this many new bars (0 = never on schedule). */
  readonly fineTuneEvery: number;
  /**
   * After a drift alarm, the fine-tune waits for this many bars since the change
   * (the alarm minus `driftSlackBars`) and trains on those bars only: the bars
   * before the change describe the old regime.
   */
  readonly driftRetrainBars: number;
  readonly driftSlackBars: number;
  /** Past predictions kept per symbol so a redelivered bar re-emits the same prediction. */
  readonly replayCache: number;
  /** Entries of the weights history window in `signal.weights`. */
  readonly weightsHistory: number;
  /**
   * A `signal.weights` message goes with every this-many-th prediction of a
   * symbol (and the first); its history window carries the weights of every bar
   * in between, so nothing is lost and the hot path publishes fewer messages.
   */
  readonly weightsEvery: number;
  /** Horizons, baselines, family weights and calibration of the published signal (1m is always among the horizons). */
  readonly signals: SignalSettings;
};

export const DEFAULT_ENGINE_CONFIG: Omit<HybridEngineConfig, 'spec'> = {
  weighter: DEFAULT_WEIGHTER_CONFIG,
  regime: DEFAULT_REGIME_THRESHOLDS,
  regimePersistBars: 5,
  drift: DEFAULT_PAGE_HINKLEY,
  historyBars: 1_500,
  firstFineTuneBars: 400,
  fineTuneEvery: 720,
  driftRetrainBars: 300,
  driftSlackBars: 30,
  replayCache: 64,
  weightsHistory: 20,
  weightsEvery: 5,
  signals: DEFAULT_SIGNAL_SETTINGS,
};

export type FineTuneReason = 'cold_start' | 'schedule' | 'drift' | 'manual';

/** A request to (re)build a symbol's online model, with the bars to train on and the model to start from. */
export type FineTuneTrigger = {
  readonly venue: string;
  readonly symbol: string;
  readonly reason: FineTuneReason;
  readonly base: ServingModel;
  readonly bars: readonly OhlcvBar[];
  /** Open time of the last bar the trigger saw. */
  readonly ts: number;
};

/** One component's forecast of one bar (what the walk-forward and the tests inspect). */
export type ComponentForecast = { readonly role: string; readonly version: string; readonly weight: number; readonly forecast: Forecast };

export type EngineOutput = {
  readonly prediction: Prediction;
  /** The weights message, on every `weightsEvery`-th prediction of the symbol. */
  readonly weights: BlendWeights | undefined;
  readonly components: readonly ComponentForecast[];
  /** True when the prediction was not published (quarantined symbol); it is still scored internally. */
  readonly withheld: boolean;
  /** True when this is the cached prediction of a redelivered bar. */
  readonly replayed: boolean;
  /** The forecast of a challenger in shadow for this bar (`signal.shadow.*`), if one runs. */
  readonly shadow?: ShadowPrediction;
};

/** Horizon outcomes of one symbol realised in a step, scored (what evaluation and the tests read). */
export type SymbolOutcomes = { readonly venue: string; readonly symbol: string; readonly outcomes: readonly HorizonOutcome[] };

export type StepResult = {
  readonly outputs: EngineOutput[];
  readonly triggers: FineTuneTrigger[];
  /** Drift alarms raised in this step (the retrain follows `driftRetrainBars` later). */
  readonly drifts: { venue: string; symbol: string; ts: number }[];
  /** Bars of symbols still warming up, old bars without a cached prediction, and bars of symbols with no model. */
  readonly warmingUp: number;
  readonly stale: number;
  readonly noModel: number;
  /** Every horizon that realised in this step, with what each series had forecast for it. */
  readonly outcomes: SymbolOutcomes[];
};

/** What `status` says about one symbol. "Not ready" is a state, not an error. */
export type SymbolStatus = {
  readonly venue: string;
  readonly symbol: string;
  readonly state: 'warming_up' | 'ready';
  /** Human-readable, e.g. "warming up: 12 of 44 bars". */
  readonly message: string;
  readonly bars: number;
  readonly barsNeeded: number;
  readonly regime: string;
  readonly weights: Readonly<Record<string, number>>;
  readonly weightPhase: string;
  readonly scored: number;
  readonly onlineVersion: string | undefined;
  readonly driftAlarms: number;
  readonly lastTs: number | undefined;
};

/** A forecast of a bar by a model that does not serve it (a rollout's shadow). */
type ShadowForecast = { role: string; version: string; forecast: Forecast };

/** The forecasts awaiting their bar; `versions` is absent for one restored from a snapshot. */
type Pending = { ts: number; forecasts: Record<string, Forecast>; adaptive: string; versions?: Record<string, string>; shadow?: ShadowForecast[] };

type SymbolState = {
  readonly venue: string;
  readonly symbol: string;
  features: FeatureBuilder;
  regimeFeatures: RegimeFeaturesStream;
  regime: RegimeTracker;
  weights: WeightKeeper;
  readonly drift: DriftMonitor;
  history: OhlcvBar[];
  bars: number;
  lastTs: number | undefined;
  pending: Pending | undefined;
  sinceFineTune: number;
  fineTuned: boolean;
  /** Bar count from which the post-drift history starts, while a drift retrain is pending. */
  driftFrom: number | undefined;
  onlineVersion: string | undefined;
  weightsHistory: { ts: number; weights: Record<string, number> }[];
  predictions: number;
  replay: Map<number, EngineOutput>;
  /** Every horizon's forecast, baselines, family weights and calibration of this symbol. */
  signals: SymbolSignals;
};

/** A model in the micro-batch: every window that model serves (or shadows) in this round. */
type BatchJob = { model: ServingModel; windows: FeatureWindow[]; slots: { item: number; role: string }[] };

/** Slot role of a shadow forecast in a batch job (never a blend role). */
const SHADOW_SLOT = '#shadow';

/**
 * The hybrid predictor's core, with no I/O: per-symbol feature state, regime
 * tracking with hysteresis (cold start: the pretrained model of the symbol's
 * regime), the blend `value = Σ wᵢ·valueᵢ` with confidence weights, scoring of
 * the previous prediction when its bar closes, drift monitoring and fine-tune
 * triggers. `step` takes every bar that arrived together and runs ONE
 * `predictBatch` per model per round (a round = at most one bar per symbol), so
 * 100 symbols cost a handful of tensor calls. Deterministic: the same models and
 * bars give the same outputs (only `createdAt` is the clock's).
 */
export class HybridEngine {
  readonly config: HybridEngineConfig;
  private readonly symbols = new Map<string, SymbolState>();
  private readonly keeperFactory: WeightKeeperFactory;
  private readonly now: () => number;
  private readonly onOutcome: ((o: LiveOutcome) => void) | undefined;

  constructor(
    private readonly models: ModelSource,
    config: Partial<HybridEngineConfig> & Pick<HybridEngineConfig, 'spec'>,
    options: { weightKeeper?: WeightKeeperFactory; now?: () => number; onOutcome?: (o: LiveOutcome) => void } = {},
  ) {
    const merged = { ...DEFAULT_ENGINE_CONFIG, ...config };
    // The 1-minute horizon is the message's own `value`, `pUp` and `sigma`: always forecast.
    const horizons = [...new Set([1, ...merged.signals.horizons])].sort((a, b) => a - b);
    this.config = { ...merged, signals: { ...merged.signals, horizons } };
    this.onOutcome = options.onOutcome;
    checkWeighterConfig(this.config.weighter);
    checkSignalSettings(this.config.signals);
    this.keeperFactory = options.weightKeeper ?? createPureWeightKeeper(this.config.weighter);
    this.now = options.now ?? Date.now;
  }

  private newSignals(): SymbolSignals {
    return new SymbolSignals(this.config.signals, this.config.spec.horizon);
  }

  /** Bars a symbol needs before its first prediction (the feature warm-up: volWindow + lookback). */
  get barsNeeded(): number {
    return warmupBars(this.config.spec);
  }

  /** Bars of stored history a symbol is warmed up from after a restart: enough for its first prediction and for its signals' baselines and calibration. */
  get historyNeeded(): number {
    return Math.max(this.barsNeeded, signalWarmupBars(this.config.signals));
  }

  private stateOf(venue: string, symbol: string): SymbolState {
    const key = `${venue}.${symbol}`;
    let s = this.symbols.get(key);
    if (!s) {
      const weights = this.keeperFactory(venue, symbol);
      s = {
        venue,
        symbol,
        features: new FeatureBuilder(this.config.spec),
        regimeFeatures: new RegimeFeaturesStream(this.config.regime),
        regime: new RegimeTracker(this.config.regimePersistBars),
        weights,
        drift: new DriftMonitor(this.config.drift),
        history: [],
        bars: 0,
        lastTs: undefined,
        // A keeper restored from a snapshot scores the prediction it was waiting for.
        pending: weights.restoredPending,
        sinceFineTune: 0,
        fineTuned: false,
        driftFrom: undefined,
        onlineVersion: undefined,
        weightsHistory: [],
        predictions: 0,
        replay: new Map(),
        signals: this.newSignals(),
      };
      this.symbols.set(key, s);
    }
    return s;
  }

  /** True once the engine has seen this symbol (history preloaded or bars stepped). */
  knows(venue: string, symbol: string): boolean {
    return this.symbols.has(`${venue}.${symbol}`);
  }

  /**
   * Gives a known symbol a new weight keeper from the factory (a persistent one
   * resumes from the snapshot it has loaded), with the forecasts that keeper was
   * waiting for: for a symbol this process predicted, lost to another process and
   * got back, whose weights moved on elsewhere meanwhile.
   */
  renewWeights(venue: string, symbol: string): void {
    const s = this.symbols.get(`${venue}.${symbol}`);
    if (!s) return;
    s.weights.stop();
    s.weights = this.keeperFactory(venue, symbol);
    s.pending = s.weights.restoredPending;
  }

  /** Open time of the last bar stepped (or warmed up) for a symbol. */
  lastBarTs(venue: string, symbol: string): number | undefined {
    return this.symbols.get(`${venue}.${symbol}`)?.lastTs;
  }

  /** The pretrained model serving a regime: that regime's, else the `any` one, else the first. */
  selectPretrained(pretrained: readonly ServingModel[], regime: string | undefined): ServingModel | undefined {
    return (
      (regime === undefined ? undefined : pretrained.find((m) => m.regime === regime)) ??
      pretrained.find((m) => m.regime === ANY_REGIME) ??
      pretrained[0]
    );
  }

  /**
   * Feeds bars that are history (before the symbol's live bars, e.g. read from
   * the database after a restart): they warm features and regime up but make no
   * predictions and score nothing.
   */
  warmUp(venue: string, symbol: string, bars: readonly OhlcvBar[]): void {
    const s = this.stateOf(venue, symbol);
    for (const bar of bars) {
      if (s.lastTs !== undefined && bar.ts <= s.lastTs) continue;
      this.advance(s, bar);
      // History fits the baselines and calibrations before the first live bar (their outcomes are scored, not published).
      s.signals.step(bar);
    }
  }

  /**
   * Warms a symbol up again from `bars` (its history joined to the live bars it
   * has seen, ending with the last one): for a new symbol whose history arrived
   * after its first live bars, so it predicts from the next bar instead of after
   * a full warm-up. Only while it has made no prediction; returns whether it did.
   */
  rewarm(venue: string, symbol: string, bars: readonly OhlcvBar[]): boolean {
    const s = this.symbols.get(`${venue}.${symbol}`);
    if (!s || s.predictions > 0 || s.lastTs === undefined || bars.at(-1)?.ts !== s.lastTs) return false;
    s.features = new FeatureBuilder(this.config.spec);
    s.regimeFeatures = new RegimeFeaturesStream(this.config.regime);
    s.regime = new RegimeTracker(this.config.regimePersistBars);
    s.history = [];
    s.bars = 0;
    s.sinceFineTune = 0;
    s.lastTs = undefined;
    s.signals = this.newSignals();
    for (const bar of bars) {
      if (s.lastTs !== undefined && bar.ts <= s.lastTs) continue;
      this.advance(s, bar);
      s.signals.step(bar);
    }
    return true;
  }

  private advance(s: SymbolState, bar: OhlcvBar): FeatureWindow | undefined {
    const window = s.features.push(bar);
    const rf = s.regimeFeatures.push(bar);
    if (rf) s.regime.update(classifyRegime(rf, this.config.regime));
    s.lastTs = bar.ts;
    s.bars += 1;
    s.sinceFineTune += 1;
    s.history.push({ ts: bar.ts, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume });
    if (s.history.length > this.config.historyBars * 1.25) s.history = s.history.slice(-this.config.historyBars);
    return window;
  }

  /** Scores the previous prediction of the symbol against the bar that just closed. */
  private score(s: SymbolState, bar: OhlcvBar, prevClose: number | undefined): boolean {
    const p = s.pending;
    s.pending = undefined;
    if (!p || prevClose === undefined || bar.ts !== p.ts + MINUTE_MS) return false;
    const actual = Math.log(bar.close / prevClose);
    s.weights.score(actual, p.forecasts, bar.ts);
    const versions = p.versions;
    if (this.onOutcome && versions) {
      const components = Object.entries(p.forecasts).flatMap(([role, f]) => {
        const version = versions[role];
        return version === undefined ? [] : [{ role, version, value: f.value, pUp: f.pUp }];
      });
      const shadow = (p.shadow ?? []).map((x) => ({ role: x.role, version: x.version, value: x.forecast.value, pUp: x.forecast.pUp }));
      this.onOutcome({ venue: s.venue, symbol: s.symbol, ts: bar.ts, actual, components, ...(shadow.length > 0 ? { shadow } : {}) });
    }
    const adaptive = p.forecasts[p.adaptive];
    return adaptive ? s.drift.observe(adaptive.value, actual) : false;
  }

  /**
   * Handles every bar that arrived together (any symbols, any order; bars of one
   * symbol must be in time order among themselves). Quality is looked up per bar.
   */
  step(bars: readonly EngineBar[], quality: QualityLookup = () => undefined): StepResult {
    const outputs: EngineOutput[] = [];
    const outcomes: SymbolOutcomes[] = [];
    const signal = (s: SymbolState, bar: OhlcvBar, learned: Parameters<SymbolSignals['step']>[1] = []): SignalStep | undefined => {
      const r = s.signals.step(bar, learned);
      if (r && r.outcomes.length > 0) outcomes.push({ venue: s.venue, symbol: s.symbol, outcomes: r.outcomes });
      return r;
    };
    const triggers: FineTuneTrigger[] = [];
    const drifts: StepResult['drifts'] = [];
    let warmingUp = 0;
    let stale = 0;
    let noModel = 0;
    // Rounds: the k-th bar of each symbol in this batch goes in round k.
    const rounds: EngineBar[][] = [];
    const seen = new Map<string, number>();
    for (const bar of bars) {
      const key = `${bar.venue}.${bar.symbol}`;
      const k = seen.get(key) ?? 0;
      seen.set(key, k + 1);
      (rounds[k] ??= []).push(bar);
    }
    // Several bars of a symbol in one call (catching up): every round's forecasts in one predictBatch per model.
    const prefetched = rounds.length > 1 ? this.prefetch(bars) : undefined;
    for (const round of rounds) {
      type Item = {
        s: SymbolState;
        bar: EngineBar;
        window: FeatureWindow;
        pretrained: ServingModel;
        online: ServingModel | undefined;
        shadow: ServingModel | undefined;
        challengerInShadow: boolean;
      };
      const items: Item[] = [];
      for (const bar of round) {
        const s = this.stateOf(bar.venue, bar.symbol);
        if (s.lastTs !== undefined && bar.ts <= s.lastTs) {
          const cached = s.replay.get(bar.ts);
          if (cached) outputs.push({ ...cached, replayed: true });
          else stale += 1;
          continue;
        }
        const prevClose = s.history[s.history.length - 1]?.close;
        const drifted = this.score(s, bar, prevClose);
        const window = this.advance(s, bar);
        const snap = this.models.snapshot(bar.venue, bar.symbol);
        const pretrained = this.selectPretrained(snap.pretrained, s.regime.regime);
        if (drifted && s.driftFrom === undefined) {
          s.driftFrom = Math.max(0, s.bars - this.config.driftSlackBars);
          drifts.push({ venue: s.venue, symbol: s.symbol, ts: bar.ts });
        }
        if (pretrained && s.driftFrom !== undefined && s.bars - s.driftFrom >= this.config.driftRetrainBars) {
          triggers.push(this.trigger(s, 'drift', pretrained, s.bars - s.driftFrom));
        } else if (pretrained && this.dueForFineTune(s)) triggers.push(this.trigger(s, s.fineTuned ? 'schedule' : 'cold_start', pretrained));
        if (!window) {
          signal(s, bar);
          warmingUp += 1;
          continue;
        }
        if (!pretrained) {
          signal(s, bar);
          noModel += 1;
          continue;
        }
        const plan = servePlan(snap, pretrained);
        items.push({ s, bar, window, pretrained: plan.pretrained ?? pretrained, online: plan.online, shadow: plan.shadow, challengerInShadow: plan.challengerInShadow });
      }
      // One predictBatch per distinct model in this round.
      const jobs = new Map<ServingModel, BatchJob>();
      const add = (model: ServingModel, item: number, role: string, window: FeatureWindow) => {
        let job = jobs.get(model);
        if (!job) {
          job = { model, windows: [], slots: [] };
          jobs.set(model, job);
        }
        job.windows.push(window);
        job.slots.push({ item, role });
      };
      items.forEach((it, i) => {
        add(it.pretrained, i, 'pretrained', it.window);
        if (it.online) add(it.online, i, 'online', it.window);
        // A rollout's extra model: one more window in that model's batch.
        if (it.shadow) add(it.shadow, i, SHADOW_SLOT, it.window);
      });
      const results: Record<string, { model: ServingModel; forecast: Forecast }>[] = items.map(() => ({}));
      for (const job of jobs.values()) {
        const cached = prefetched?.get(job.model);
        const hits = cached ? job.slots.map((slot) => { const it = items[slot.item]; return it ? cached.get(`${it.bar.venue}.${it.bar.symbol}@${it.bar.ts}`) : undefined; }) : [];
        const forecasts = cached && hits.every((f) => f !== undefined) ? hits : job.model.predictor.predictBatch(job.windows);
        job.slots.forEach((slot, n) => {
          const f = forecasts[n];
          const r = results[slot.item];
          if (f && r && Number.isFinite(f.value) && Number.isFinite(f.pUp)) r[slot.role] = { model: job.model, forecast: f };
        });
      }
      items.forEach((it, i) => {
        const served = { ...(results[i] ?? {}) };
        const shadowResult = served[SHADOW_SLOT];
        delete served[SHADOW_SLOT];
        const shadow = shadowResult && it.shadow ? { model: shadowResult.model, forecast: shadowResult.forecast, role: it.shadow.role, challenger: it.challengerInShadow } : undefined;
        const learned = Object.entries(served).map(([role, r]) => ({ role, version: r.model.version, forecast: r.forecast }));
        const signals = signal(it.s, it.bar, learned);
        const out = signals?.horizons ? this.blend(it.s, it.bar, served, signals, quality(it.bar.venue, it.bar.symbol), shadow) : undefined;
        if (out) outputs.push(out);
        else noModel += 1;
      });
    }
    return { outputs, triggers, drifts, warmingUp, stale, noModel, outcomes };
  }

  /**
   * The forecasts `step` will need for these bars, computed up front with one
   * predictBatch per model: the feature windows and regimes come from copies of
   * each symbol's state advanced over the bars (the same code on the same bars
   * gives the same windows and the same model choice), so the rounds only look
   * them up. A round that finds a forecast missing predicts as usual.
   */
  private prefetch(bars: readonly EngineBar[]): Map<ServingModel, Map<string, Forecast>> | undefined {
    type Sim = { features: FeatureBuilder; regimeFeatures: RegimeFeaturesStream; regime: RegimeTracker; lastTs: number | undefined };
    const sims = new Map<string, Sim>();
    const jobs = new Map<ServingModel, { windows: FeatureWindow[]; keys: string[] }>();
    try {
      for (const bar of bars) {
        const key = `${bar.venue}.${bar.symbol}`;
        let sim = sims.get(key);
        if (!sim) {
          const s = this.symbols.get(key);
          sim = s
            ? { features: s.features.clone(), regimeFeatures: s.regimeFeatures.clone(), regime: s.regime.clone(), lastTs: s.lastTs }
            : {
                features: new FeatureBuilder(this.config.spec),
                regimeFeatures: new RegimeFeaturesStream(this.config.regime),
                regime: new RegimeTracker(this.config.regimePersistBars),
                lastTs: undefined,
              };
          sims.set(key, sim);
        }
        if (sim.lastTs !== undefined && bar.ts <= sim.lastTs) continue;
        const window = sim.features.push(bar);
        const rf = sim.regimeFeatures.push(bar);
        if (rf) sim.regime.update(classifyRegime(rf, this.config.regime));
        sim.lastTs = bar.ts;
        if (!window) continue;
        const snap = this.models.snapshot(bar.venue, bar.symbol);
        const served = servePlan(snap, this.selectPretrained(snap.pretrained, sim.regime.regime));
        for (const model of [served.pretrained, served.online, served.shadow]) {
          if (!model) continue;
          let job = jobs.get(model);
          if (!job) {
            job = { windows: [], keys: [] };
            jobs.set(model, job);
          }
          job.windows.push(window);
          job.keys.push(`${key}@${bar.ts}`);
        }
      }
    } catch {
      return undefined; // a bad bar: the rounds meet it and report it as they always do
    }
    const out = new Map<ServingModel, Map<string, Forecast>>();
    for (const [model, job] of jobs) {
      const forecasts = model.predictor.predictBatch(job.windows);
      const byKey = new Map<string, Forecast>();
      job.keys.forEach((k, i) => {
        const f = forecasts[i];
        if (f) byKey.set(k, f);
      });
      out.set(model, byKey);
    }
    return out;
  }

  private dueForFineTune(s: SymbolState): boolean {
    if (s.history.length < this.config.firstFineTuneBars) return false;
    if (!s.fineTuned) return true;
    return this.config.fineTuneEvery > 0 && s.sinceFineTune >= this.config.fineTuneEvery;
  }

  private trigger(s: SymbolState, reason: FineTuneReason, base: ServingModel, lastBars = this.config.historyBars): FineTuneTrigger {
    s.fineTuned = true;
    s.sinceFineTune = 0;
    s.driftFrom = undefined;
    const bars = s.history.slice(-Math.min(lastBars, this.config.historyBars));
    return { venue: s.venue, symbol: s.symbol, reason, base, bars, ts: s.lastTs ?? 0 };
  }

  /** A manual fine-tune request (`model.retrain.cmd`): undefined while the symbol has no model or no bars. */
  requestFineTune(venue: string, symbol: string, reason: FineTuneReason = 'manual'): FineTuneTrigger | undefined {
    const s = this.symbols.get(`${venue}.${symbol}`);
    if (!s || s.history.length === 0) return undefined;
    const base = this.selectPretrained(this.models.snapshot(venue, symbol).pretrained, s.regime.regime);
    return base ? this.trigger(s, reason, base) : undefined;
  }

  private blend(
    s: SymbolState,
    bar: EngineBar,
    results: Record<string, { model: ServingModel; forecast: Forecast }>,
    signals: SignalStep,
    health: ReturnType<QualityLookup>,
    shadow?: { model: ServingModel; forecast: Forecast; role: string; challenger: boolean },
  ): EngineOutput | undefined {
    const roles = Object.keys(results);
    if (roles.length === 0) return undefined;
    for (const r of roles) s.weights.join(r);
    const online = results.online;
    if (online && s.onlineVersion !== online.model.version) {
      // A new adaptive model: its errors are a new stream, judged from scratch.
      s.onlineVersion = online.model.version;
      s.drift.detector.reset();
    }
    // The published blend is the signal layer's: per target family and horizon,
    // with the baselines as components. The 1-minute return family's weights are
    // the components' `weight`.
    const h1 = signals.horizons?.['1m'];
    const w1 = signals.weights.return['1m'] ?? {};
    const components: ComponentForecast[] = [];
    for (const role of roles) {
      const r = results[role];
      if (r) components.push({ role, version: r.model.version, weight: w1[role] ?? 0, forecast: r.forecast });
    }
    const w = Object.fromEntries(Object.entries(w1));
    const value = h1?.value ?? 0;
    const pUp = Math.min(1, Math.max(0, h1?.pUp ?? 0.5));
    const confidence = blendConfidence(s.weights.state, components.map((c) => ({ weight: c.weight, pUp: c.forecast.pUp })), this.config.weighter);
    const regime = s.regime.regime ?? 'unknown';
    const createdAt = Math.max(this.now(), bar.ts);
    const prediction: Prediction = {
      venue: bar.venue,
      symbol: bar.symbol,
      ts: bar.ts,
      horizon: '1m',
      createdAt,
      value,
      pUp,
      confidence,
      regime,
      components: signals.components.map((c) => ({
        role: c.role,
        version: c.version,
        weight: w1[c.role] ?? 0,
        value: c.horizons['1m']?.value ?? 0,
        horizons: c.horizons,
      })),
      quality: health === 'degraded' ? 'degraded' : 'ok',
      ...(h1 ? { sigma: h1.sigma } : {}),
      ...(signals.horizons ? { horizons: signals.horizons } : {}),
    };
    s.pending = {
      ts: bar.ts,
      forecasts: Object.fromEntries(components.map((c) => [c.role, c.forecast])),
      adaptive: results.online ? 'online' : 'pretrained',
      versions: Object.fromEntries(components.map((c) => [c.role, c.version])),
      ...(shadow ? { shadow: [{ role: shadow.role, version: shadow.model.version, forecast: shadow.forecast }] } : {}),
    };
    s.weights.expect?.(s.pending);
    s.weightsHistory.push({ ts: bar.ts, weights: w });
    if (s.weightsHistory.length > this.config.weightsHistory) s.weightsHistory.shift();
    const state = s.weights.state;
    const publishWeights = s.predictions % this.config.weightsEvery === 0;
    s.predictions += 1;
    const weights: BlendWeights | undefined = !publishWeights ? undefined : {
      venue: bar.venue,
      symbol: bar.symbol,
      ts: bar.ts,
      createdAt,
      regime,
      scored: state.scored,
      components: components.map((c) => {
        const score = state.components[c.role];
        const norm = state.count > 0 ? state.count : 1;
        return {
          role: c.role,
          version: c.version,
          weight: c.weight,
          meanAbsError: score && score.scored > 0 ? score.absError / norm : null,
          meanLogLoss: score && score.scored > 0 ? score.logLoss / norm : null,
          scored: score?.scored ?? 0,
        };
      }),
      history: s.weightsHistory.map((h) => ({ ts: h.ts, weights: { ...h.weights } })),
      families: { return: { ...signals.weights.return }, volatility: { ...signals.weights.volatility } },
    };
    const out: EngineOutput = {
      prediction,
      weights,
      components,
      withheld: health === 'quarantined',
      replayed: false,
      ...(shadow?.challenger ? { shadow: shadowPrediction(prediction, shadow.role, shadow.model.version, shadow.forecast) } : {}),
    };
    s.replay.set(bar.ts, out);
    if (s.replay.size > this.config.replayCache) {
      const oldest = s.replay.keys().next().value;
      if (oldest !== undefined) s.replay.delete(oldest);
    }
    return out;
  }

  status(venue: string, symbol: string): SymbolStatus {
    const s = this.symbols.get(`${venue}.${symbol}`);
    const needed = this.barsNeeded;
    const bars = s?.bars ?? 0;
    const ready = s !== undefined && s.replay.size > 0;
    const roles = s ? Object.keys(s.weights.state.components) : [];
    return {
      venue,
      symbol,
      state: ready ? 'ready' : 'warming_up',
      message: ready ? `ready (regime ${s?.regime.regime ?? 'unknown'})` : `warming up: ${Math.min(bars, needed)} of ${needed} bars`,
      bars,
      barsNeeded: needed,
      regime: s?.regime.regime ?? 'unknown',
      weights: s ? blendWeights(s.weights.state, roles, this.config.weighter) : {},
      weightPhase: s?.weights.phase ?? 'prior',
      scored: s?.weights.state.scored ?? 0,
      onlineVersion: s?.onlineVersion,
      driftAlarms: s?.drift.detector.alarms ?? 0,
      lastTs: s?.lastTs,
    };
  }

  /** Status of every symbol seen. */
  statuses(): SymbolStatus[] {
    return [...this.symbols.values()].map((s) => this.status(s.venue, s.symbol));
  }

  /** Stops the per-symbol weight keepers (actors). */
  stop(): void {
    for (const s of this.symbols.values()) s.weights.stop();
  }
}

/** True when a model can serve windows of this spec (neural models carry their own spec). */
export function servesSpec(model: ServingModel, spec: FeatureSpec): boolean {
  const p = model.predictor;
  if (p.lookback > spec.lookback) return false;
  if (p instanceof NeuralPredictor) {
    const pre = p.preprocessor;
    return pre.volWindow === spec.volWindow && pre.context === spec.context && pre.horizon === spec.horizon;
  }
  return true;
}

/** The challenger's own forecast of a bar, in the Prediction shape, for `signal.shadow.*`. */
export function shadowPrediction(served: Prediction, role: string, version: string, f: Forecast): ShadowPrediction {
  const pUp = Math.min(1, Math.max(0, f.pUp));
  const sigma = f.horizons?.['1m']?.sigma;
  return {
    venue: served.venue,
    symbol: served.symbol,
    ts: served.ts,
    horizon: '1m',
    createdAt: served.createdAt,
    value: f.value,
    pUp,
    confidence: Math.abs(2 * pUp - 1),
    regime: served.regime,
    components: [{ role, version, weight: 1, value: f.value }],
    quality: served.quality,
    ...(sigma !== undefined && Number.isFinite(sigma) && sigma >= 0 ? { sigma } : {}),
    version,
  };
}
