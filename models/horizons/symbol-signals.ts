import type { Forecast, HorizonLabel, OhlcvBar } from '../types.ts';
import { PlattCalibrator, ResidualQuantiles } from './calibration.ts';
import { directionLoss, FamilyWeights, GradientWeights } from './family-weights.ts';
import { HarRegression } from './har.ts';
import { horizonLabel } from './labels.ts';
import { HAR_REGRESSORS, HAR_SEASONAL_FROM, ReturnFeatures } from './return-features.ts';
import type { SignalSettings } from './settings.ts';
import { QUANTILE_KEYS, QUANTILE_LEVELS, type HorizonOutcome, type TargetForecast } from '../skill/index.ts';
import type { ComponentTargets, FamilyWeightsByHorizon, HorizonForecast, SignalComponent } from './types.ts';

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1_440;
/** Per-minute variance below which a forecast is floored (a flat tape must not give a zero-width band). */
const VAR_FLOOR = 1e-12;

/** A learned component's forecast of this bar: its 1-step head at `baseHorizon`, its horizon heads if it has them. */
export type LearnedForecast = { readonly role: string; readonly version: string; readonly forecast: Forecast };

export type SignalStep = {
  /** Undefined until the symbol has a first return (no volatility to speak of yet). */
  readonly horizons: Readonly<Record<string, HorizonForecast>> | undefined;
  readonly components: readonly SignalComponent[];
  readonly weights: { readonly return: FamilyWeightsByHorizon; readonly volatility: FamilyWeightsByHorizon };
  /** Horizons of earlier bars that this bar realised, scored. */
  readonly outcomes: readonly HorizonOutcome[];
};

type Origin = {
  readonly ts: number;
  readonly close: number;
  readonly cum: number;
  readonly x: Float64Array | undefined;
  readonly byHorizon: Map<number, { blend: HorizonForecast; rawPUp: number; components: Record<string, TargetForecast> }>;
};

type HorizonState = {
  readonly minutes: number;
  readonly label: HorizonLabel;
  readonly har: HarRegression;
  readonly returnWeights: FamilyWeights;
  readonly volatilityWeights: GradientWeights;
  readonly pUp: PlattCalibrator;
  readonly quantiles: ResidualQuantiles;
  /** Decayed mean |realised return|: scales absolute errors so the return loss is unit-free. */
  absScale: number;
  absCount: number;
};

/**
 * Every horizon's forecast for one symbol, bar by bar: the baselines (naive
 * zero return, EWMA variance, HAR-type log-RV regression) are computed here, the
 * learned models' forecasts come in; each target family (return: value and pUp;
 * volatility: sigma) is blended per horizon with weights earned on realised
 * outcomes; pUp and the quantiles are calibrated on recent outcomes. When a
 * horizon realises, every series that forecast it is scored and the outcome is
 * returned, so the live path and an offline evaluation score the same way.
 * Pure and deterministic.
 */
export class SymbolSignals {
  private readonly features: ReturnFeatures;
  private readonly states: HorizonState[];
  private readonly origins: Origin[] = [];
  private lastTs: number | undefined;
  private lastClose: number | undefined;
  private cum = 0;
  private readonly maxHorizon: number;

  constructor(
    readonly settings: SignalSettings,
    /** Horizon (minutes) of a learned model's top-level `value`/`pUp`. */
    readonly baseHorizon = 1,
  ) {
    this.features = new ReturnFeatures(settings.ewmaSpan, settings.harSpans);
    this.maxHorizon = Math.max(...settings.horizons);
    this.states = settings.horizons.map((minutes) => ({
      minutes,
      label: horizonLabel(minutes),
      har: new HarRegression(HAR_REGRESSORS, settings.harWindow, settings.harRefitEvery, settings.harMinSamples, HAR_SEASONAL_FROM, DAY_MINUTES),
      returnWeights: new FamilyWeights(settings.returnWeights),
      volatilityWeights: new GradientWeights(settings.volatilityWeights),
      pUp: new PlattCalibrator(settings.directionWindow, settings.directionRefitEvery, settings.calibrationMinSamples, settings.calibrationPrior, 1 / minutes),
      quantiles: new ResidualQuantiles(QUANTILE_LEVELS, settings.calibrationWindow, settings.calibrationRefitEvery, settings.calibrationMinSamples),
      absScale: 0,
      absCount: 0,
    }));
  }

  get versions(): { naive: string; ewma: string; har: string } {
    const s = this.settings;
    return { naive: 'naive-zero', ewma: `ewma-${s.ewmaSpan}`, har: `har-log-${s.harSpans.join('-')}` };
  }

  /**
   * One closed bar (bars in time order; an older or repeated one is ignored and
   * returns undefined). A missing minute breaks the horizons that span it: they
   * are dropped unscored rather than scored on a partial path.
   */
  step(bar: OhlcvBar, learned: readonly LearnedForecast[] = []): SignalStep | undefined {
    if (this.lastTs !== undefined && bar.ts <= this.lastTs) return undefined;
    if (this.lastTs !== undefined && bar.ts !== this.lastTs + MINUTE_MS) this.origins.length = 0;
    if (this.lastClose !== undefined && this.lastClose > 0 && bar.close > 0 && this.lastTs === bar.ts - MINUTE_MS) {
      const r = Math.log(bar.close / this.lastClose);
      this.cum += r * r;
      this.features.push(r);
    }
    this.lastTs = bar.ts;
    this.lastClose = bar.close;
    const outcomes = this.realise(bar);
    const forecast = this.forecast(bar, learned);
    return { ...forecast, outcomes };
  }

  private realise(bar: OhlcvBar): HorizonOutcome[] {
    const outcomes: HorizonOutcome[] = [];
    for (const st of this.states) {
      const origin = this.origins.find((o) => o.ts === bar.ts - st.minutes * MINUTE_MS);
      const made = origin?.byHorizon.get(st.minutes);
      if (!origin || !made) continue;
      const realisedReturn = Math.log(bar.close / origin.close);
      const realisedVariance = Math.max(0, this.cum - origin.cum);
      if (!Number.isFinite(realisedReturn)) continue;
      if (origin.x) st.har.add(origin.x, realisedVariance);
      const scale = st.absCount > 0 ? st.absScale / st.absCount : 0;
      const returnLosses: Record<string, number> = {};
      const logVariances: Record<string, number> = {};
      for (const [role, f] of Object.entries(made.components)) {
        if (f.value !== undefined && f.pUp !== undefined) {
          const err = Math.abs(f.value - realisedReturn);
          returnLosses[role] = (scale > 0 ? err / scale : 0) + directionLoss(f.pUp, realisedReturn);
        }
        if (f.sigma !== undefined) logVariances[role] = Math.log(Math.max(f.sigma * f.sigma, VAR_FLOOR * st.minutes));
      }
      st.returnWeights.score(returnLosses);
      st.volatilityWeights.update(logVariances, Math.log(made.blend.sigma * made.blend.sigma), realisedVariance);
      const d = this.settings.returnWeights.decay;
      st.absScale = d * st.absScale + Math.abs(realisedReturn);
      st.absCount = d * st.absCount + 1;
      st.pUp.add(made.rawPUp, realisedReturn > 0);
      st.quantiles.add((realisedReturn - made.blend.value) / made.blend.sigma);
      const blend = made.blend;
      outcomes.push({
        ts: origin.ts,
        horizon: st.label,
        minutes: st.minutes,
        realisedReturn,
        realisedVariance,
        forecasts: {
          blend: { value: blend.value, pUp: blend.pUp, sigma: blend.sigma, quantiles: { q05: blend.q05, q25: blend.q25, q50: blend.q50, q75: blend.q75, q95: blend.q95 } },
          ...made.components,
        },
      });
    }
    while (this.origins.length > 0 && (this.origins[0]?.ts ?? 0) <= bar.ts - this.maxHorizon * MINUTE_MS) this.origins.shift();
    return outcomes;
  }

  private forecast(bar: OhlcvBar, learned: readonly LearnedForecast[]): Omit<SignalStep, 'outcomes'> {
    const variance = this.features.ewmaVariance;
    const returnW: Record<string, Record<string, number>> = {};
    const volW: Record<string, Record<string, number>> = {};
    const versions = this.versions;
    const components = new Map<string, { version: string; horizons: Record<string, ComponentTargets> }>();
    const componentOf = (role: string, version: string) => {
      let c = components.get(role);
      if (!c) {
        c = { version, horizons: {} };
        components.set(role, c);
      }
      return c;
    };
    if (variance === undefined) return { horizons: undefined, components: [], weights: { return: returnW, volatility: volW } };
    const x = this.features.regressors(bar.ts);
    const origin: Origin = { ts: bar.ts, close: bar.close, cum: this.cum, x, byHorizon: new Map() };
    const horizons: Record<string, HorizonForecast> = {};
    for (const st of this.states) {
      const h = st.minutes;
      const byRole: Record<string, TargetForecast> = {
        naive: { value: 0, pUp: 0.5 },
        ewma: { sigma: Math.sqrt(Math.max(variance, VAR_FLOOR) * h) },
      };
      const harVar = x ? st.har.forecastVariance(x) : undefined;
      if (harVar !== undefined) byRole.har = { sigma: Math.sqrt(Math.max(harVar, VAR_FLOOR * h)) };
      const roleVersion: Record<string, string> = { ...versions };
      for (const l of learned) {
        const head = l.forecast.horizons?.[st.label];
        const t: TargetForecast | undefined = head
          ? { value: head.value, pUp: head.pUp, sigma: head.sigma }
          : h === this.baseHorizon
            ? { value: l.forecast.value, pUp: l.forecast.pUp }
            : undefined;
        if (!t || !Number.isFinite(t.value) || !Number.isFinite(t.pUp)) continue;
        if (t.sigma !== undefined && !(Number.isFinite(t.sigma) && t.sigma > 0)) delete t.sigma;
        byRole[l.role] = t;
        roleVersion[l.role] = l.version;
      }
      const returnRoles = Object.keys(byRole).filter((r) => byRole[r]?.value !== undefined && byRole[r]?.pUp !== undefined);
      const volRoles = Object.keys(byRole).filter((r) => byRole[r]?.sigma !== undefined);
      const wr = st.returnWeights.weights(returnRoles);
      const wv = st.volatilityWeights.weights(volRoles);
      let value = 0;
      let rawPUp = 0;
      let logVar = 0;
      for (const r of returnRoles) {
        value += (wr[r] ?? 0) * (byRole[r]?.value ?? 0);
        rawPUp += (wr[r] ?? 0) * (byRole[r]?.pUp ?? 0.5);
      }
      // Geometric pooling of the variances: QLIKE is convex in ln σ², so the pooled
      // forecast's loss is never above the weighted mean of the components' losses
      // (a linear pool of σ² has no such guarantee: QLIKE is not convex in σ²).
      for (const r of volRoles) logVar += (wv[r] ?? 0) * Math.log(Math.max((byRole[r]?.sigma ?? 0) ** 2, VAR_FLOOR * h));
      const sigma = Math.sqrt(volRoles.length > 0 ? Math.exp(logVar) : VAR_FLOOR * h);
      const z = st.quantiles.multipliers;
      const q = Object.fromEntries(QUANTILE_KEYS.map((k, i) => [k, value + sigma * (z[i] ?? 0)])) as Record<(typeof QUANTILE_KEYS)[number], number>;
      const forecast: HorizonForecast = { value, pUp: Math.min(1, Math.max(0, st.pUp.apply(rawPUp))), sigma, ...q };
      horizons[st.label] = forecast;
      origin.byHorizon.set(h, { blend: forecast, rawPUp, components: byRole });
      returnW[st.label] = wr;
      volW[st.label] = wv;
      for (const [role, t] of Object.entries(byRole)) {
        const c = componentOf(role, roleVersion[role] ?? role);
        c.horizons[st.label] = {
          ...t,
          ...(wr[role] !== undefined ? { returnWeight: wr[role] } : {}),
          ...(wv[role] !== undefined ? { volatilityWeight: wv[role] } : {}),
        };
      }
    }
    this.origins.push(origin);
    return {
      horizons,
      components: [...components].map(([role, c]) => ({ role, version: c.version, horizons: c.horizons })),
      weights: { return: returnW, volatility: volW },
    };
  }
}
