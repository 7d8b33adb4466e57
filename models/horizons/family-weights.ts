/**
 * Weights of one target family (return or volatility) at one horizon, learnt
 * from realised outcomes with the Hedge rule: wᵢ ∝ priorᵢ · exp(−eta · (Lᵢ − min L)),
 * where Lᵢ is the component's exponentially decayed sum of losses (decay per
 * realised outcome). Losses are the family's proper score, so a component gains
 * weight only by forecasting better on what actually happened. A component that
 * joins later starts at the prior-weighted mean loss of the others (its prior
 * share, no unearned advantage). The priors favour the baselines: a learned model
 * starts small and grows only as it earns it.
 */
export type FamilyWeightConfig = {
  readonly decay: number;
  readonly eta: number;
  /** Minimum weight of every available component (k · floor < 1). */
  readonly floor: number;
  /** Prior weight per role (relative; a role missing here gets 1). */
  readonly prior: Readonly<Record<string, number>>;
};

type Score = { loss: number; scored: number };

export class FamilyWeights {
  private readonly scores = new Map<string, Score>();
  outcomes = 0;

  constructor(readonly config: FamilyWeightConfig) {}

  private prior(role: string): number {
    return this.config.prior[role] ?? 1;
  }

  private join(role: string): Score {
    let s = this.scores.get(role);
    if (s) return s;
    let w = 0;
    let loss = 0;
    for (const [r, other] of this.scores) {
      w += this.prior(r);
      loss += this.prior(r) * other.loss;
    }
    s = { loss: w > 0 ? loss / w : 0, scored: 0 };
    this.scores.set(role, s);
    return s;
  }

  /** Scores the components that forecast this outcome (loss per role); the others keep their sums. */
  score(losses: Readonly<Record<string, number>>): void {
    const d = this.config.decay;
    for (const role of Object.keys(losses)) this.join(role);
    for (const [role, s] of this.scores) {
      const l = losses[role];
      if (l === undefined || !Number.isFinite(l)) continue;
      s.loss = d * s.loss + l;
      s.scored += 1;
    }
    this.outcomes += 1;
  }

  /** Weights of the roles available now, summing to 1. */
  weights(roles: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    if (roles.length === 0) return out;
    const losses = roles.map((r) => this.scores.get(r)?.loss ?? this.joinedLoss());
    const min = Math.min(...losses);
    const raw = roles.map((r, i) => this.prior(r) * Math.exp(-this.config.eta * ((losses[i] ?? min) - min)));
    const total = raw.reduce((a, b) => a + b, 0);
    const k = roles.length;
    const floor = k > 1 ? Math.min(this.config.floor, 1 / k) : 0;
    roles.forEach((r, i) => {
      out[r] = floor + (1 - k * floor) * (total > 0 ? (raw[i] ?? 0) / total : 1 / k);
    });
    return out;
  }

  /** Decayed loss sum and outcomes scored per role (for the weights message). */
  get state(): Record<string, { loss: number; scored: number }> {
    return Object.fromEntries([...this.scores].map(([r, s]) => [r, { loss: s.loss, scored: s.scored }]));
  }

  private joinedLoss(): number {
    let w = 0;
    let loss = 0;
    for (const [r, s] of this.scores) {
      w += this.prior(r);
      loss += this.prior(r) * s.loss;
    }
    return w > 0 ? loss / w : 0;
  }
}

/**
 * Weights of the volatility family at one horizon, learnt by exponentiated
 * gradient (Kivinen and Warmuth): the forecast is the geometric pool
 * ln σ² = Σ wᵢ ln σᵢ², QLIKE is convex in it, and after each realised outcome
 * wᵢ ← wᵢ · exp(−eta · ∂QLIKE/∂wᵢ), renormalised. Unlike Hedge, which homes in
 * on the single best component, this tracks the best fixed combination: two
 * volatility forecasts with different errors (a fast EWMA, a regression on
 * several memories) pooled beat either alone. The gradient's outcome factor
 * (1 − RV/σ²) is clipped, so one extreme minute cannot swing the weights. A
 * component that joins later starts at its prior share of the others.
 */
export type GradientWeightConfig = Omit<FamilyWeightConfig, 'decay'>;

export class GradientWeights {
  private readonly w = new Map<string, number>();
  outcomes = 0;

  constructor(
    readonly config: GradientWeightConfig,
    /** Lower bound of the gradient's outcome factor 1 − RV/σ² (its upper bound is 1). */
    readonly clip = -4,
  ) {}

  private prior(role: string): number {
    return this.config.prior[role] ?? 1;
  }

  private join(role: string): number {
    const known = this.w.get(role);
    if (known !== undefined) return known;
    let ratio = 0;
    for (const [r, v] of this.w) ratio += v / this.prior(r);
    const v = this.w.size > 0 ? (this.prior(role) * ratio) / this.w.size : this.prior(role);
    this.w.set(role, v);
    return v;
  }

  weights(roles: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    if (roles.length === 0) return out;
    const raw = roles.map((r) => this.w.get(r) ?? this.join(r));
    const total = raw.reduce((a, b) => a + b, 0);
    const k = roles.length;
    const floor = k > 1 ? Math.min(this.config.floor, 1 / k) : 0;
    roles.forEach((r, i) => {
      out[r] = floor + (1 - k * floor) * (total > 0 ? (raw[i] ?? 0) / total : 1 / k);
    });
    return out;
  }

  /**
   * One realised outcome: `logVariances` are the components' ln σ² forecasts of
   * it, `pooled` the blend's ln σ² (made with the weights of the time).
   */
  update(logVariances: Readonly<Record<string, number>>, pooled: number, realisedVariance: number): void {
    const roles = Object.keys(logVariances);
    if (roles.length === 0) return;
    for (const r of roles) this.join(r);
    const factor = Math.max(this.clip, 1 - realisedVariance / Math.exp(pooled));
    let total = 0;
    let before = 0;
    for (const r of roles) {
      const v = this.w.get(r) ?? 0;
      before += v;
      const g = factor * ((logVariances[r] ?? pooled) - pooled);
      const next = v * Math.exp(-this.config.eta * g);
      this.w.set(r, next);
      total += next;
    }
    // The roles that forecast keep their total mass; only its split moves.
    if (total > 0) for (const r of roles) this.w.set(r, ((this.w.get(r) ?? 0) * before) / total);
    this.outcomes += 1;
  }
}

/** QLIKE-equivalent loss of a variance forecast: RV/σ² + ln σ² (differences between forecasts equal QLIKE's; finite when RV = 0). */
export function varianceLoss(realisedVariance: number, forecastVariance: number): number {
  return realisedVariance / forecastVariance + Math.log(forecastVariance);
}

const P_CLIP = 1e-6;
/** Log loss of P(up) against the realised return (up = strictly positive). */
export function directionLoss(pUp: number, realised: number): number {
  const p = Math.min(1 - P_CLIP, Math.max(P_CLIP, pUp));
  return realised > 0 ? -Math.log(p) : -Math.log(1 - p);
}
