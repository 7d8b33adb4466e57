import { probit, quantileSorted } from 'simple-statistics';
import { Ring } from './ring.ts';


const P_CLIP = 1e-4;
const logit = (p: number): number => {
  const q = Math.min(1 - P_CLIP, Math.max(P_CLIP, p));
  return Math.log(q / (1 - q));
};
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * Platt scaling of P(up) for one horizon: p = σ(a + b·logit(raw)), refitted on
 * the most recent realised outcomes by a few Newton steps of a penalised
 * logistic regression. The penalty is a prior worth `prior` outcomes that the
 * direction is a coin flip (a = 0, b = 0): its precision is the Fisher
 * information of that many outcomes at p = ½ with the window's own raw
 * forecasts, so it counts in outcomes whatever the scale of logit(raw). Raw
 * probabilities keep their spread only as far as the realised outcomes bear it
 * out: an overconfident head with few independent outcomes behind it (a long
 * horizon) is pulled toward ½, not trusted. With raw forecasts that carry no
 * information the fit learns the recent base rate: a stated 0.53 then comes
 * true about 53 % of the time, which is what calibrated means.
 */
export class PlattCalibrator {
  private readonly raw: Ring;
  private readonly up: Ring;
  private a = 0;
  private b = 1;
  private since = 0;

  constructor(
    readonly window: number,
    readonly refitEvery: number,
    readonly minSamples: number,
    /** Strength of the coin-flip prior, in (weighted) outcomes. */
    readonly prior = 1,
    /** Weight of each outcome in the fit (1/h for overlapping h-minute outcomes). */
    readonly weight = 1,
  ) {
    this.raw = new Ring(window);
    this.up = new Ring(window);
  }

  add(raw: number, up: boolean): void {
    if (!Number.isFinite(raw)) return;
    this.raw.push(logit(raw));
    this.up.push(up ? 1 : 0);
    this.since += 1;
    if (this.raw.size >= this.minSamples && this.since >= this.refitEvery) this.fit();
  }

  apply(raw: number): number {
    return sigmoid(this.a + this.b * logit(raw));
  }

  get parameters(): { a: number; b: number } {
    return { a: this.a, b: this.b };
  }

  private fit(): void {
    this.since = 0;
    const xs = this.raw;
    const ys = this.up;
    let a = this.a;
    let b = this.b;
    // The prior's precision: `prior` outcomes at p = ½ (information ¼ each) with this window's x.
    let m1 = 0;
    let m2 = 0;
    for (let i = 0; i < xs.size; i += 1) {
      const x = xs.at(i);
      m1 += x;
      m2 += x * x;
    }
    const k = (0.25 * this.prior) / Math.max(1, xs.size);
    // A whisker on b's precision keeps the Hessian invertible when every raw forecast is ½ (x = 0).
    const [paa, pab, pbb] = [0.25 * this.prior, k * m1, k * m2 + 1e-9 * (0.25 * this.prior + 1)];
    // Warm-started from the last fit: a few Newton steps converge.
    for (let iter = 0; iter < 6; iter += 1) {
      // Gradient and Hessian of −loglik + ½ θᵀPθ, θ = (a, b).
      let ga = paa * a + pab * b;
      let gb = pab * a + pbb * b;
      let haa = paa;
      let hab = pab;
      let hbb = pbb;
      for (let i = 0; i < xs.size; i += 1) {
        const x = xs.at(i);
        const p = sigmoid(a + b * x);
        const r = p - ys.at(i);
        const w = this.weight * p * (1 - p);
        ga += this.weight * r;
        gb += this.weight * r * x;
        haa += w;
        hab += w * x;
        hbb += w * x * x;
      }
      const det = haa * hbb - hab * hab;
      if (!(det > 0)) break;
      const da = (hbb * ga - hab * gb) / det;
      const db = (haa * gb - hab * ga) / det;
      a -= da;
      b -= db;
      if (Math.abs(da) + Math.abs(db) < 1e-9) break;
    }
    if (Number.isFinite(a) && Number.isFinite(b)) {
      this.a = a;
      this.b = b;
    }
  }
}

/**
 * Quantiles of a horizon's forecast distribution: value + sigma·z_q, where z_q
 * are the empirical quantiles of the recent standardised errors
 * (realised − value) / sigma. A split-conformal calibration on a rolling window:
 * whatever the true shape of the returns (fat tails, skew) and whatever bias the
 * sigma forecast has, a stated 90 % band holds about 90 % of the recent
 * outcomes. Before enough outcomes, the normal quantiles.
 */
export class ResidualQuantiles {
  private readonly errors: Ring;
  private z: number[];
  private since = 0;

  constructor(
    readonly levels: readonly number[],
    readonly window: number,
    readonly refitEvery: number,
    readonly minSamples: number,
  ) {
    this.errors = new Ring(window);
    this.z = levels.map((q) => probit(q));
  }

  add(standardisedError: number): void {
    if (!Number.isFinite(standardisedError)) return;
    this.errors.push(standardisedError);
    this.since += 1;
    if (this.errors.size >= this.minSamples && this.since >= this.refitEvery) {
      this.since = 0;
      const sorted = Array.from(this.errors.values().sort());
      this.z = this.levels.map((q) => quantileSorted(sorted, q));
    }
  }

  /** The quantile multipliers z_q, one per level. */
  get multipliers(): readonly number[] {
    return this.z;
  }
}
