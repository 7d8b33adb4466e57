/**
 * The champion/challenger gate: decides whether a newly trained model (the
 * challenger) replaces the active one (the champion) of its scope. Pure: the
 * decision and every number behind it come back as `comparison`, which is stored
 * (model_versions.metrics, retrain_runs.comparison) and published.
 *
 * Two modes (defaults are the documented ones, docs/prediction.md):
 *
 * `challenger` (a pretrained direction model replacing the champion of its scope):
 * 1. floor        challenger ROC AUC >= `aucFloor` (0.60; per scope in `aucFloorByScope`)
 * 2. aucDrop      AUC may not drop more than `maxAucDropPct` (2 %) below the champion's
 * 3. f1Drop       F1 may not drop more than `maxF1DropPct` (5 %) below the champion's, unless AUC improved
 * 4. baselineLoss not significantly worse than the best naive baseline on the same
 *                 windows: the lower end of the `confidence` bootstrap interval of the
 *                 per-window loss difference is <= 0. Without per-window losses the
 *                 point rules baselineRmse / baselineAuc stand in.
 * Rules 1 and 4 apply to the first model of a scope too; 2 and 3 need a champion.
 * A model with volatility heads (sigma per horizon) is judged on that target with its own rules:
 * 6. volatilityHar       at every horizon, QLIKE of its σ² no worse than the HAR baseline's on the
 *                        same windows (+ `volatilityHarTolerancePct`, 0)
 * 7. volatilityChampion  at every horizon both forecast, QLIKE no more than
 *                        `volatilityChampionTolerancePct` (2 %) above the champion's
 * An online candidate is not judged on volatility here: it joins beside its parent and the
 * blend's volatility weights give it a share only as it earns one on realised outcomes.
 *
 * `online` (a fine-tuned model joining the blend beside the model it was tuned from):
 * 5. nonInferior  the upper end of the bootstrap interval of (candidate - incumbent)
 *                 per-window loss is <= `onlineMargin`; the confidence weigher then
 *                 decides from live outcomes how much it counts. Without an incumbent,
 *                 rule 4 judges it against the naive baselines.
 *
 * Drops are relative: (champion - challenger) / champion, in percent. The loss is
 * the confidence weigher's: |value - actual| / mean |actual| + log loss of pUp.
 */

import { difference, pairedBootstrapCi, type BootstrapCi } from './paired-bootstrap.ts';
import type { VolatilityEvaluation } from './volatility-evaluation.ts';

/** The metrics the gate reads (a subset of models' ForecastMetrics). */
export type GateMetrics = {
  readonly n: number;
  readonly rocAuc: number | null;
  readonly f1: number | null;
  readonly rmse: number;
  readonly directionAccuracy: number;
};

export type GateConfig = {
  aucFloor: number;
  /** Floors per scope (`<venue>.<symbol>` or `global`): few 1-minute models reach 0.60. */
  aucFloorByScope: Readonly<Record<string, number>>;
  maxAucDropPct: number;
  maxF1DropPct: number;
  /** RMSE may exceed the best baseline's by this much (percent); 0 = strictly no worse. */
  baselineRmseTolerancePct: number;
  /** Also require AUC >= the best baseline AUC (point rule, used without per-window losses). */
  baselineAuc: boolean;
  /** Two-sided confidence of the bootstrap intervals. */
  confidence: number;
  bootstrapSamples: number;
  /** Online models: largest tolerated mean loss excess over the incumbent (upper CI end). */
  onlineMargin: number;
  /** baselineLoss: the lower CI end of (model - best baseline) loss may be at most this (0 = not significantly worse). */
  baselineMargin: number;
  /** volatilityHar: QLIKE may exceed the HAR baseline's by this much (percent). */
  volatilityHarTolerancePct: number;
  /** volatilityChampion: QLIKE may exceed the champion's by this much (percent). */
  volatilityChampionTolerancePct: number;
};

export const DEFAULT_GATE: GateConfig = {
  aucFloor: 0.6,
  aucFloorByScope: {},
  maxAucDropPct: 2,
  maxF1DropPct: 5,
  baselineRmseTolerancePct: 0,
  baselineAuc: true,
  confidence: 0.95,
  bootstrapSamples: 1_000,
  onlineMargin: 0.02,
  baselineMargin: 0,
  volatilityHarTolerancePct: 0,
  volatilityChampionTolerancePct: 2,
};

/** Per-window losses on the judged windows (same windows, same order for every series). */
export type GateLosses = {
  challenger: ArrayLike<number>;
  champion?: ArrayLike<number>;
  baselines: Readonly<Record<string, ArrayLike<number>>>;
};

export type GateInput = {
  scope: string;
  challenger: GateMetrics;
  /** The champion's metrics on the SAME test window; undefined for the first model of a scope. */
  champion: GateMetrics | undefined;
  /** Naive baselines on the same test window, by kind. */
  baselines: Readonly<Record<string, GateMetrics>>;
  /** Per-window losses: the interval rules use them; without them the point rules stand in. */
  losses?: GateLosses;
  /** `challenger` (default): a pretrained model against the champion; `online`: a fine-tuned model joining the blend. */
  mode?: 'challenger' | 'online';
  /** QLIKE of the volatility heads and of the baselines on the same windows (models with horizon heads). */
  volatility?: { challenger: VolatilityEvaluation; champion?: VolatilityEvaluation | undefined };
  config?: Partial<GateConfig>;
};

export type GateRule = 'floor' | 'aucDrop' | 'f1Drop' | 'baselineRmse' | 'baselineAuc' | 'baselineLoss' | 'nonInferior' | 'volatilityHar' | 'volatilityChampion';
export type RuleResult = { rule: GateRule; passed: boolean; detail: string; numbers: Record<string, number | null> };

export type GateDecision = {
  decision: 'deploy' | 'reject';
  firstModel: boolean;
  /** One line per failed rule (empty when deployed). */
  reasons: string[];
  rules: RuleResult[];
  challenger: GateMetrics;
  champion: GateMetrics | null;
  bestBaseline: { rmse: { kind: string; value: number } | null; rocAuc: { kind: string; value: number } | null };
  /** Bootstrap intervals of the loss differences the interval rules used. */
  intervals: { vsBaseline?: BootstrapCi & { kind: string }; vsChampion?: BootstrapCi };
  mode: 'challenger' | 'online';
  config: GateConfig & { aucFloorApplied: number };
};

/** A drop of exactly the limit passes: float noise of the percent arithmetic is not a failure. */
const EPS = 1e-9;

/** Relative drop from `before` to `after`, in percent (positive = worse). */
export function dropPct(before: number, after: number): number {
  if (before === 0) return after < 0 ? Number.POSITIVE_INFINITY : 0;
  return ((before - after) / Math.abs(before)) * 100;
}

const fmt = (v: number | null, digits = 4): string => (v === null || !Number.isFinite(v) ? String(v) : v.toFixed(digits));

function best(baselines: Readonly<Record<string, GateMetrics>>) {
  let rmse: { kind: string; value: number } | null = null;
  let auc: { kind: string; value: number } | null = null;
  for (const [kind, m] of Object.entries(baselines)) {
    if (Number.isFinite(m.rmse) && (rmse === null || m.rmse < rmse.value)) rmse = { kind, value: m.rmse };
    if (m.rocAuc !== null && (auc === null || m.rocAuc > auc.value)) auc = { kind, value: m.rocAuc };
  }
  return { rmse, rocAuc: auc };
}

/** The naive baseline with the lowest mean loss on the windows, and the interval of (challenger - it). */
function vsBestBaseline(losses: GateLosses, config: GateConfig): (BootstrapCi & { kind: string }) | undefined {
  let bestKind: string | undefined;
  let bestMean = Number.POSITIVE_INFINITY;
  for (const [kind, l] of Object.entries(losses.baselines)) {
    if (l.length !== losses.challenger.length || l.length === 0) continue;
    let sum = 0;
    for (let i = 0; i < l.length; i += 1) sum += l[i] ?? 0;
    if (sum / l.length < bestMean) {
      bestMean = sum / l.length;
      bestKind = kind;
    }
  }
  const base = bestKind !== undefined ? losses.baselines[bestKind] : undefined;
  if (bestKind === undefined || !base) return undefined;
  return { kind: bestKind, ...pairedBootstrapCi(difference(losses.challenger, base), { confidence: config.confidence, samples: config.bootstrapSamples }) };
}

function baselineLossRule(ci: BootstrapCi & { kind: string }, margin: number): RuleResult {
  return {
    rule: 'baselineLoss',
    passed: ci.lower <= margin,
    detail: `loss minus best baseline ${ci.kind}: mean ${fmt(ci.mean)}, ${Math.round(ci.confidence * 100)} % CI [${fmt(ci.lower)}, ${fmt(ci.upper)}] over ${ci.n} windows (significantly worse when the CI is above ${margin})`,
    numbers: { mean: ci.mean, lower: ci.lower, upper: ci.upper, n: ci.n, margin },
  };
}

function pointBaselineRules(c: GateMetrics, bestBaseline: GateDecision['bestBaseline'], config: GateConfig): RuleResult[] {
  const rules: RuleResult[] = [];
  const rmseLimit = bestBaseline.rmse ? bestBaseline.rmse.value * (1 + config.baselineRmseTolerancePct / 100) : null;
  rules.push({
    rule: 'baselineRmse',
    passed: rmseLimit === null || c.rmse <= rmseLimit,
    detail: bestBaseline.rmse
      ? `RMSE ${c.rmse.toExponential(4)} vs best baseline ${bestBaseline.rmse.kind} ${bestBaseline.rmse.value.toExponential(4)} (+${config.baselineRmseTolerancePct} %)`
      : 'no baseline RMSE on this window',
    numbers: { rmse: c.rmse, baselineRmse: bestBaseline.rmse?.value ?? null, limit: rmseLimit },
  });
  if (config.baselineAuc) {
    const bAuc = bestBaseline.rocAuc?.value ?? null;
    rules.push({
      rule: 'baselineAuc',
      passed: bAuc === null || (c.rocAuc !== null && c.rocAuc >= bAuc),
      detail: bestBaseline.rocAuc ? `ROC AUC ${fmt(c.rocAuc)} vs best baseline ${bestBaseline.rocAuc.kind} ${fmt(bAuc)}` : 'no baseline ROC AUC on this window',
      numbers: { rocAuc: c.rocAuc, baselineAuc: bAuc },
    });
  }
  return rules;
}

/** The volatility target's rules: every horizon against HAR, and against the champion where both forecast it. */
function volatilityRules(challenger: VolatilityEvaluation, champion: VolatilityEvaluation | undefined, config: GateConfig): RuleResult[] {
  const horizons = Object.entries(challenger);
  const overHar = horizons.filter(([, v]) => v.model > v.har * (1 + config.volatilityHarTolerancePct / 100) + EPS);
  const rules: RuleResult[] = [
    {
      rule: 'volatilityHar',
      passed: overHar.length === 0,
      detail: `QLIKE vs HAR: ${horizons.map(([h, v]) => `${h} ${fmt(v.model)} vs ${fmt(v.har)}`).join(', ')}${overHar.length ? ` (worse at ${overHar.map(([h]) => h).join(', ')})` : ''}`,
      numbers: Object.fromEntries(horizons.flatMap(([h, v]) => [[`${h}.qlike`, v.model], [`${h}.har`, v.har], [`${h}.n`, v.n]])),
    },
  ];
  if (champion) {
    const both = horizons.flatMap(([h, v]) => {
      const c = champion[h];
      return c ? [{ h, model: v.model, champion: c.model, drop: ((v.model - c.model) / c.model) * 100 }] : [];
    });
    const worse = both.filter((b) => b.drop > config.volatilityChampionTolerancePct + EPS);
    rules.push({
      rule: 'volatilityChampion',
      passed: worse.length === 0,
      detail: `QLIKE vs champion (max +${config.volatilityChampionTolerancePct} %): ${both.map((b) => `${b.h} ${fmt(b.model)} vs ${fmt(b.champion)} (${b.drop >= 0 ? '+' : ''}${fmt(b.drop, 1)} %)`).join(', ') || 'no common horizon'}`,
      numbers: Object.fromEntries(both.flatMap((b) => [[`${b.h}.qlike`, b.model], [`${b.h}.champion`, b.champion], [`${b.h}.pct`, b.drop]])),
    });
  }
  return rules;
}

/** Applies the gate. Deterministic: the same input gives the same decision and numbers. */
export function decideGate(input: GateInput): GateDecision {
  const config: GateConfig = { ...DEFAULT_GATE, ...input.config };
  const floor = config.aucFloorByScope[input.scope] ?? config.aucFloor;
  const c = input.challenger;
  const champ = input.champion;
  const mode = input.mode ?? 'challenger';
  const rules: RuleResult[] = [];
  const intervals: GateDecision['intervals'] = {};
  const bestBaseline = best(input.baselines);
  const losses = input.losses;
  const vsBase = losses ? vsBestBaseline(losses, config) : undefined;
  if (vsBase) intervals.vsBaseline = vsBase;

  if (mode === 'online') {
    if (losses?.champion && losses.champion.length === losses.challenger.length && losses.champion.length > 0) {
      const ci = pairedBootstrapCi(difference(losses.challenger, losses.champion), { confidence: config.confidence, samples: config.bootstrapSamples });
      intervals.vsChampion = ci;
      rules.push({
        rule: 'nonInferior',
        passed: ci.upper <= config.onlineMargin,
        detail: `loss minus incumbent: mean ${fmt(ci.mean)}, ${Math.round(ci.confidence * 100)} % CI [${fmt(ci.lower)}, ${fmt(ci.upper)}] over ${ci.n} windows vs margin ${config.onlineMargin}`,
        numbers: { mean: ci.mean, lower: ci.lower, upper: ci.upper, margin: config.onlineMargin, n: ci.n },
      });
    } else if (vsBase) {
      rules.push(baselineLossRule(vsBase, config.baselineMargin));
    } else {
      rules.push(...pointBaselineRules(c, bestBaseline, config));
    }
    return finish(input, config, floor, mode, rules, bestBaseline, intervals);
  }

  rules.push({
    rule: 'floor',
    passed: c.rocAuc !== null && c.rocAuc >= floor - EPS,
    detail: c.rocAuc === null ? 'challenger ROC AUC is undefined (one class in the test window)' : `ROC AUC ${fmt(c.rocAuc)} vs floor ${fmt(floor, 2)}`,
    numbers: { rocAuc: c.rocAuc, floor },
  });

  if (champ) {
    const aucDrop = c.rocAuc !== null && champ.rocAuc !== null ? dropPct(champ.rocAuc, c.rocAuc) : null;
    rules.push({
      rule: 'aucDrop',
      // A champion without a defined AUC cannot be compared against: the floor already judged the challenger.
      passed: champ.rocAuc === null || (aucDrop !== null && aucDrop <= config.maxAucDropPct + EPS),
      detail: `ROC AUC ${fmt(champ.rocAuc)} -> ${fmt(c.rocAuc)} (drop ${fmt(aucDrop, 2)} % vs max ${config.maxAucDropPct} %)`,
      numbers: { championAuc: champ.rocAuc, challengerAuc: c.rocAuc, dropPct: aucDrop, maxDropPct: config.maxAucDropPct },
    });
    const aucImproved = c.rocAuc !== null && champ.rocAuc !== null && c.rocAuc > champ.rocAuc;
    const f1Drop = c.f1 !== null && champ.f1 !== null ? dropPct(champ.f1, c.f1) : champ.f1 !== null && champ.f1 > 0 ? 100 : 0;
    rules.push({
      rule: 'f1Drop',
      passed: aucImproved || f1Drop <= config.maxF1DropPct + EPS,
      detail: `F1 ${fmt(champ.f1)} -> ${fmt(c.f1)} (drop ${fmt(f1Drop, 2)} % vs max ${config.maxF1DropPct} %${aucImproved ? '; waived: AUC improved' : ''})`,
      numbers: { championF1: champ.f1, challengerF1: c.f1, dropPct: f1Drop, maxDropPct: config.maxF1DropPct, aucImproved: aucImproved ? 1 : 0 },
    });
  }
  // Every model, the first of a scope included, must not be worse than the naive baselines.
  if (vsBase) rules.push(baselineLossRule(vsBase, config.baselineMargin));
  else rules.push(...pointBaselineRules(c, bestBaseline, config));
  if (input.volatility) rules.push(...volatilityRules(input.volatility.challenger, input.volatility.champion, config));
  return finish(input, config, floor, mode, rules, bestBaseline, intervals);
}

function finish(
  input: GateInput,
  config: GateConfig,
  floor: number,
  mode: 'challenger' | 'online',
  rules: RuleResult[],
  bestBaseline: GateDecision['bestBaseline'],
  intervals: GateDecision['intervals'],
): GateDecision {
  const champ = input.champion;
  const c = input.challenger;
  const failed = rules.filter((r) => !r.passed);
  return {
    decision: failed.length === 0 ? 'deploy' : 'reject',
    firstModel: champ === undefined,
    reasons: failed.map((r) => `${r.rule}: ${r.detail}`),
    rules,
    challenger: c,
    champion: champ ?? null,
    bestBaseline,
    intervals,
    mode,
    config: { ...config, aucFloorApplied: floor },
  };
}
