import { CholeskyDecomposition, Matrix } from 'ml-matrix';

/** Ridge added to the normal equations' diagonal (not the intercept's), relative to its scale: keeps a refit on a quiet window solvable. */
const RIDGE = 1e-9;
/** Bounds of the linear predictor: keeps exp() finite on a wild window. */
const ETA_BOUND = 50;

/** Offset added to RV before the log, as a share of the window's mean RV: a flat minute (RV = 0) must not become an outlier of −∞. */
const OFFSET_SHARE = 0.05;

/**
 * A HAR-type realised-volatility regression for one horizon, in logs:
 * ln(RV + c) = β·x_t + ε over the next h minutes, x_t the regressors at the
 * origin bar (see ReturnFeatures.regressors), c a small offset (a share of the
 * window's mean RV) so a flat minute is not an outlier of −∞. Refitted by least
 * squares on a rolling window of the most recent realised samples, so it adapts
 * to the symbol at hand; XᵀX is Cholesky-factorised (ml-matrix). The log fit is
 * robust to the heavy tail of RV; the variance forecast is then
 * exp(β·x)·S − c with S = mean(exp(ε)) over the window (Duan's smearing
 * estimate): the conditional mean of RV, not its median, which is what QLIKE and
 * a volatility target need.
 */
export class HarRegression {
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private next = 0;
  private size = 0;
  private beta: Float64Array | undefined;
  private smear = 1;
  private offset = 0;
  private sinceFit = 0;

  constructor(
    readonly width: number,
    readonly window: number,
    readonly refitEvery: number,
    readonly minSamples: number,
    /**
     * Columns from this index on (the intraday harmonics) stay out of the fit
     * until the window spans `seasonalSamples`: a daily profile cannot be
     * told from a few hours of data and would only add noise.
     */
    readonly seasonalFrom = width,
    readonly seasonalSamples = 0,
  ) {
    this.xs = new Float64Array(window * width);
    this.ys = new Float64Array(window);
  }

  /** Adds a realised sample; refits every `refitEvery` samples once `minSamples` are in. */
  add(x: Float64Array, realisedVariance: number): void {
    if (!(realisedVariance >= 0) || !Number.isFinite(realisedVariance) || x.length !== this.width || x.some((v) => !Number.isFinite(v))) return;
    this.xs.set(x, this.next * this.width);
    this.ys[this.next] = realisedVariance;
    this.next = (this.next + 1) % this.window;
    this.size = Math.min(this.window, this.size + 1);
    this.sinceFit += 1;
    if (this.size >= this.minSamples && (this.beta === undefined || this.sinceFit >= this.refitEvery)) this.fit();
  }

  get samples(): number {
    return this.size;
  }

  get coefficients(): Float64Array | undefined {
    return this.beta;
  }

  /** The variance forecast at regressors `x`; undefined until the first fit. */
  forecastVariance(x: Float64Array): number | undefined {
    const b = this.beta;
    if (!b) return undefined;
    // Never below the offset itself: at a one-minute horizon the log fit's lower tail is mostly flat minutes.
    const v = Math.max(this.offset, Math.exp(this.eta(b, x, 0)) * this.smear - this.offset);
    return Number.isFinite(v) && v > 0 ? v : undefined;
  }

  private eta(b: Float64Array, xs: Float64Array, at: number): number {
    let z = 0;
    for (let i = 0; i < this.width; i += 1) z += (b[i] ?? 0) * (xs[at + i] ?? 0);
    return Math.min(ETA_BOUND, Math.max(-ETA_BOUND, z));
  }

  /** Least squares on the window through the normal equations (XᵀX + λ) β = Xᵀy, Cholesky-factorised. */
  private fit(): void {
    this.sinceFit = 0;
    const d = this.width;
    const n = this.size;
    let mean = 0;
    for (let k = 0; k < n; k += 1) mean += this.ys[k] ?? 0;
    mean /= n;
    if (!(mean > 0)) return; // nothing moved in the whole window: keep the previous fit
    const offset = OFFSET_SHARE * mean;
    const xtx = new Float64Array(d * d);
    const xty = new Float64Array(d);
    const logs = new Float64Array(n);
    for (let k = 0; k < n; k += 1) {
      const y = Math.log((this.ys[k] ?? 0) + offset);
      logs[k] = y;
      const at = k * d;
      for (let i = 0; i < d; i += 1) {
        const xi = this.xs[at + i] ?? 0;
        xty[i] = (xty[i] ?? 0) + xi * y;
        for (let j = i; j < d; j += 1) xtx[i * d + j] = (xtx[i * d + j] ?? 0) + xi * (this.xs[at + j] ?? 0);
      }
    }
    const rows: number[][] = [];
    for (let i = 0; i < d; i += 1) {
      const row: number[] = [];
      for (let j = 0; j < d; j += 1) row.push(j >= i ? (xtx[i * d + j] ?? 0) : (xtx[j * d + i] ?? 0));
      const ridge = i >= this.seasonalFrom && n < this.seasonalSamples ? 1e6 : RIDGE;
      if (i > 0) row[i] = (row[i] ?? 0) * (1 + ridge) + ridge;
      rows.push(row);
    }
    const chol = new CholeskyDecomposition(new Matrix(rows));
    if (!chol.isPositiveDefinite()) return;
    const beta = Float64Array.from(chol.solve(Matrix.columnVector(Array.from(xty))).getColumn(0));
    if (beta.some((b) => !Number.isFinite(b))) return;
    let smear = 0;
    for (let k = 0; k < n; k += 1) smear += Math.exp((logs[k] ?? 0) - this.eta(beta, this.xs, k * d));
    this.beta = beta;
    this.smear = smear / n;
    this.offset = offset;
  }
}
