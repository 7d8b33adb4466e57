import type { Forecast } from '../../models/index.ts';

/**
 * Confidence weighting: how much each component of the hybrid blend (the
 * regime's pretrained model, the symbol's online model) counts, learnt from how
 * well each one forecast the bars that have closed since.
 *
 * When the bar a prediction was for closes, every component is scored on
 * - the absolute error of its value (log return), normalised by the decayed mean
 *   |actual| so it is scale-free (1 = as bad as always predicting 0), and
 * - the log loss of its pUp against the realised direction (a flat bar counts as 1/2 up).
 * Their sum is the component's loss for that bar; losses are kept as exponentially
 * decayed sums (`decay` per scored bar, default 0.95 ≈ the last 20 bars).
 *
 * Weights follow the Hedge rule with a prior: wᵢ ∝ priorᵢ · exp(-eta · (Lᵢ - min L)),
 * then mixed with a floor, wᵢ = floor + (1 - k · floor) · wᵢ (k = number of
 * components), so no component is starved and the weights still sum to 1.
 * A component that joins later (the online model) starts with the prior-weighted
 * mean loss of the others, so it enters at its prior share, not at an unearned
 * advantage from having no losses yet.
 */
export type WeighterConfig = {
  /** Per-scored-bar decay of the loss sums (0 < decay < 1). */
  readonly decay: number;
  /** Learning rate of the Hedge rule. */
  readonly eta: number;
  /** Minimum weight of every component (k · floor must be < 1). */
  readonly floor: number;
  /** Prior weight per role (relative; a role missing here gets 1). */
  readonly prior: Readonly<Record<string, number>>;
  /** Scored bars at which the evidence part of the confidence reaches 1 - 1/e. */
  readonly evidenceScale: number;
};

export const DEFAULT_WEIGHTER_CONFIG: WeighterConfig = {
  decay: 0.95,
  eta: 1,
  floor: 0.05,
  prior: { pretrained: 0.5, online: 0.5 },
  evidenceScale: 30,
};

/** Decayed performance of one component. */
export type ComponentScore = {
  /** Decayed sum of absolute errors of the value. */
  readonly absError: number;
  /** Decayed sum of pUp log losses. */
  readonly logLoss: number;
  /** Decayed sum of the combined (normalised) loss: what the weights are made from. */
  readonly loss: number;
  /** Bars this component has been scored on (not decayed). */
  readonly scored: number;
};

/** Weighter state of one symbol. Immutable: every update returns a new state. */
export type WeightState = {
  readonly components: Readonly<Record<string, ComponentScore>>;
  /** Decayed sum of |actual|, and the decayed count it is divided by. */
  readonly absActual: number;
  readonly count: number;
  /** Outcomes scored (not decayed). */
  readonly scored: number;
};

export const emptyWeightState = (): WeightState => ({ components: {}, absActual: 0, count: 0, scored: 0 });

const P_CLIP = 1e-6;

/** Log loss of a probability of "up" against the realised return (flat = half up). */
export function logLoss(pUp: number, actual: number): number {
  const p = Math.min(1 - P_CLIP, Math.max(P_CLIP, pUp));
  const y = actual > 0 ? 1 : actual < 0 ? 0 : 0.5;
  return -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
}

function priorOf(config: WeighterConfig, role: string): number {
  return config.prior[role] ?? 1;
}

/** Adds a component (no-op if known), starting at the prior-weighted mean loss of the others. */
export function joinComponent(state: WeightState, role: string, config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG): WeightState {
  if (state.components[role]) return state;
  const known = Object.entries(state.components);
  let wSum = 0;
  let loss = 0;
  let absError = 0;
  let ll = 0;
  for (const [r, s] of known) {
    const w = priorOf(config, r);
    wSum += w;
    loss += w * s.loss;
    absError += w * s.absError;
    ll += w * s.logLoss;
  }
  const k = wSum > 0 ? 1 / wSum : 0;
  return {
    ...state,
    components: { ...state.components, [role]: { loss: loss * k, absError: absError * k, logLoss: ll * k, scored: 0 } },
  };
}

/**
 * Scores the components' forecasts of one bar against its realised log return.
 * Components not in `forecasts` keep their scores; unknown ones join first.
 */
export function scoreOutcome(
  state: WeightState,
  actual: number,
  forecasts: Readonly<Record<string, Forecast>>,
  config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG,
): WeightState {
  let s = state;
  for (const role of Object.keys(forecasts)) s = joinComponent(s, role, config);
  const d = config.decay;
  const absActual = d * s.absActual + Math.abs(actual);
  const count = d * s.count + 1;
  const scale = absActual / count;
  const components: Record<string, ComponentScore> = { ...s.components };
  for (const [role, f] of Object.entries(forecasts)) {
    const prev = components[role];
    if (!prev) continue;
    const err = Math.abs(f.value - actual);
    const ll = logLoss(f.pUp, actual);
    const normalised = scale > 0 ? err / scale : err > 0 ? 1 : 0;
    components[role] = {
      absError: d * prev.absError + err,
      logLoss: d * prev.logLoss + ll,
      loss: d * prev.loss + normalised + ll,
      scored: prev.scored + 1,
    };
  }
  return { components, absActual, count, scored: s.scored + 1 };
}

/**
 * Blend weights of the `roles` available now (the others are ignored), summing
 * to 1, each at least `floor` (when more than one). Roles never scored count as
 * joined now (prior share).
 */
export function blendWeights(state: WeightState, roles: readonly string[], config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG): Record<string, number> {
  const out: Record<string, number> = {};
  if (roles.length === 0) return out;
  if (roles.length === 1) {
    out[roles[0] ?? ''] = 1;
    return out;
  }
  let s = state;
  for (const r of roles) s = joinComponent(s, r, config);
  const losses = roles.map((r) => s.components[r]?.loss ?? 0);
  const min = Math.min(...losses);
  const raw = roles.map((r, i) => priorOf(config, r) * Math.exp(-config.eta * ((losses[i] ?? min) - min)));
  const total = raw.reduce((a, b) => a + b, 0);
  const k = roles.length;
  const floor = Math.min(config.floor, 1 / k);
  roles.forEach((r, i) => {
    const share = total > 0 ? (raw[i] ?? 0) / total : 1 / k;
    out[r] = floor + (1 - k * floor) * share;
  });
  return out;
}

/**
 * Confidence of a blended forecast in [0, 1]: evidence × agreement.
 * - evidence = 1 - exp(-scored / evidenceScale): no history, no confidence;
 * - agreement = |Σ wᵢ (2pUpᵢ - 1)| / Σ wᵢ |2pUpᵢ - 1|: 1 when every component
 *   leans the same way, 0 when they cancel out (1 with one component).
 * Multiplied by how decided the blend is, |2 pUp - 1| mapped to [0.5, 1], so a
 * coin-flip forecast is never reported as highly confident.
 */
export function blendConfidence(
  state: WeightState,
  components: readonly { weight: number; pUp: number }[],
  config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG,
): number {
  const evidence = 1 - Math.exp(-state.scored / config.evidenceScale);
  let num = 0;
  let den = 0;
  let pUp = 0;
  for (const c of components) {
    const lean = 2 * c.pUp - 1;
    num += c.weight * lean;
    den += c.weight * Math.abs(lean);
    pUp += c.weight * c.pUp;
  }
  const agreement = den > 0 ? Math.abs(num) / den : 0;
  const decided = 0.5 + 0.5 * Math.min(1, Math.abs(2 * pUp - 1));
  const c = evidence * agreement * decided;
  return Math.min(1, Math.max(0, c));
}

/** Validates a weighter configuration (RangeError on nonsense). */
export function checkWeighterConfig(c: WeighterConfig): void {
  if (!(c.decay > 0 && c.decay < 1)) throw new RangeError(`decay must be in (0, 1) (got ${c.decay})`);
  if (!(c.eta > 0)) throw new RangeError(`eta must be > 0 (got ${c.eta})`);
  if (!(c.floor >= 0 && c.floor < 0.5)) throw new RangeError(`floor must be in [0, 0.5) (got ${c.floor})`);
  if (!(c.evidenceScale > 0)) throw new RangeError(`evidenceScale must be > 0 (got ${c.evidenceScale})`);
  for (const [role, p] of Object.entries(c.prior)) if (!(p >= 0)) throw new RangeError(`prior of ${role} must be >= 0 (got ${p})`);
}
