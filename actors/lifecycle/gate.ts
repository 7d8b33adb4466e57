/**
 * The champion/challenger gate: decides whether a newly trained model (the
 * challenger) replaces the active one (the champion) of its scope. Pure: the
 * decision and every number behind it come back as `comparison`, which is stored
 * (model_versions.metrics, retrain_runs.comparison) and published.
 *
 * Rules, in order (defaults are the documented ones, docs/prediction.md):
 * 1. floor     challenger ROC AUC >= `aucFloor` (0.60; per scope in `aucFloorByScope`)
 * 2. aucDrop   AUC may not drop more than `maxAucDropPct` (2 %) below the champion's
 * 3. f1Drop    F1 may not drop more than `maxF1DropPct` (5 %) below the champion's, unless AUC improved
 * 4. baseline  no worse than the best naive baseline on the same test window
 *              (RMSE within `baselineRmseTolerancePct`, AUC at least the baselines' best)
 * The first model of a scope (no champion) is deployed if it passes the floor.
 * Drops are relative: (champion - challenger) / champion, in percent.
 */

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
  /** Also require AUC >= the best baseline AUC. */
  baselineAuc: boolean;
};

export const DEFAULT_GATE: GateConfig = {
  aucFloor: 0.6,
  aucFloorByScope: {},
  maxAucDropPct: 2,
  maxF1DropPct: 5,
  baselineRmseTolerancePct: 0,
  baselineAuc: true,
};

export type GateInput = {
  scope: string;
  challenger: GateMetrics;
  /** The champion's metrics on the SAME test window; undefined for the first model of a scope. */
  champion: GateMetrics | undefined;
  /** Naive baselines on the same test window, by kind. */
  baselines: Readonly<Record<string, GateMetrics>>;
  config?: Partial<GateConfig>;
};

export type GateRule = 'floor' | 'aucDrop' | 'f1Drop' | 'baselineRmse' | 'baselineAuc';
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
  config: GateConfig & { aucFloorApplied: number };
};

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

/** Applies the gate. Deterministic: the same input gives the same decision and numbers. */
export function decideGate(input: GateInput): GateDecision {
  const config: GateConfig = { ...DEFAULT_GATE, ...input.config };
  const floor = config.aucFloorByScope[input.scope] ?? config.aucFloor;
  const c = input.challenger;
  const champ = input.champion;
  const rules: RuleResult[] = [];

  rules.push({
    rule: 'floor',
    passed: c.rocAuc !== null && c.rocAuc >= floor,
    detail: c.rocAuc === null ? 'challenger ROC AUC is undefined (one class in the test window)' : `ROC AUC ${fmt(c.rocAuc)} vs floor ${fmt(floor, 2)}`,
    numbers: { rocAuc: c.rocAuc, floor },
  });

  const bestBaseline = best(input.baselines);
  if (champ) {
    const aucDrop = c.rocAuc !== null && champ.rocAuc !== null ? dropPct(champ.rocAuc, c.rocAuc) : null;
    rules.push({
      rule: 'aucDrop',
      // A champion without a defined AUC cannot be compared against: the floor already judged the challenger.
      passed: champ.rocAuc === null || (aucDrop !== null && aucDrop <= config.maxAucDropPct),
      detail: `ROC AUC ${fmt(champ.rocAuc)} -> ${fmt(c.rocAuc)} (drop ${fmt(aucDrop, 2)} % vs max ${config.maxAucDropPct} %)`,
      numbers: { championAuc: champ.rocAuc, challengerAuc: c.rocAuc, dropPct: aucDrop, maxDropPct: config.maxAucDropPct },
    });
    const aucImproved = c.rocAuc !== null && champ.rocAuc !== null && c.rocAuc > champ.rocAuc;
    const f1Drop = c.f1 !== null && champ.f1 !== null ? dropPct(champ.f1, c.f1) : champ.f1 !== null && champ.f1 > 0 ? 100 : 0;
    rules.push({
      rule: 'f1Drop',
      passed: aucImproved || f1Drop <= config.maxF1DropPct,
      detail: `F1 ${fmt(champ.f1)} -> ${fmt(c.f1)} (drop ${fmt(f1Drop, 2)} % vs max ${config.maxF1DropPct} %${aucImproved ? '; waived: AUC improved' : ''})`,
      numbers: { championF1: champ.f1, challengerF1: c.f1, dropPct: f1Drop, maxDropPct: config.maxF1DropPct, aucImproved: aucImproved ? 1 : 0 },
    });
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
        detail: bestBaseline.rocAuc
          ? `ROC AUC ${fmt(c.rocAuc)} vs best baseline ${bestBaseline.rocAuc.kind} ${fmt(bAuc)}`
          : 'no baseline ROC AUC on this window',
        numbers: { rocAuc: c.rocAuc, baselineAuc: bAuc },
      });
    }
  }

  const failed = rules.filter((r) => !r.passed);
  return {
    decision: failed.length === 0 ? 'deploy' : 'reject',
    firstModel: champ === undefined,
    reasons: failed.map((r) => `${r.rule}: ${r.detail}`),
    rules,
    challenger: c,
    champion: champ ?? null,
    bestBaseline,
    config: { ...config, aucFloorApplied: floor },
  };
}
