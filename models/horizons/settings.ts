import type { FamilyWeightConfig, GradientWeightConfig } from './family-weights.ts';
import { DEFAULT_HORIZONS } from './labels.ts';

export type SignalSettings = {
  /** Horizons in minutes, ascending. */
  readonly horizons: readonly number[];
  /** Span (bars) of the EWMA variance baseline. */
  readonly ewmaSpan: number;
  /** Spans of the three absolute-return EWMAs the HAR regression reads. */
  readonly harSpans: readonly [number, number, number];
  /** Realised samples the HAR regression is fitted on (rolling), refit cadence and the minimum before its first forecast. */
  readonly harWindow: number;
  readonly harRefitEvery: number;
  readonly harMinSamples: number;
  readonly returnWeights: FamilyWeightConfig;
  readonly volatilityWeights: GradientWeightConfig;
  /** Realised outcomes the quantile calibration is fitted on, its refit cadence and minimum (the P(up) one uses `directionWindow`). */
  readonly calibrationWindow: number;
  /** Realised outcomes the P(up) calibration is fitted on: long, because a direction's base rate is estimated from few independent outcomes. */
  readonly directionWindow: number;
  readonly directionRefitEvery: number;
  readonly calibrationRefitEvery: number;
  readonly calibrationMinSamples: number;
  /**
   * Strength, in independent outcomes, of the P(up) calibration's prior that the
   * direction is a coin flip. Overlapping h-minute outcomes count 1/h each, so a
   * long horizon's few independent outcomes cannot swing P(up) after a trending
   * day, nor let an overconfident head through.
   */
  readonly calibrationPrior: number;
};

/** Learned models start at a fifth of a baseline's prior: they must earn their weight on realised outcomes. */
const PRIOR = { naive: 1, ewma: 1, har: 1, pretrained: 0.2, online: 0.2 };

export const DEFAULT_SIGNAL_SETTINGS: SignalSettings = {
  horizons: DEFAULT_HORIZONS,
  ewmaSpan: 60,
  harSpans: [5, 60, 720],
  harWindow: 4_320,
  harRefitEvery: 60,
  harMinSamples: 240,
  returnWeights: { decay: 0.995, eta: 1, floor: 0.01, prior: PRIOR },
  volatilityWeights: { eta: 0.005, floor: 0.01, prior: PRIOR },
  calibrationWindow: 2_880,
  directionWindow: 10_080,
  directionRefitEvery: 60,
  calibrationRefitEvery: 60,
  calibrationMinSamples: 120,
  calibrationPrior: 200,
};

/**
 * Bars of history that bring a symbol's signals to their working state: the
 * slowest absolute-return EWMA settled, then enough realised outcomes at the
 * longest horizon for the HAR fit and the calibrations. A restart warms up from
 * this many stored bars.
 */
export function signalWarmupBars(s: SignalSettings): number {
  return Math.max(...s.harSpans) + Math.max(s.harMinSamples, s.calibrationMinSamples) + Math.max(...s.horizons);
}

/** RangeError on settings that cannot work. */
export function checkSignalSettings(s: SignalSettings): void {
  if (s.horizons.length === 0 || s.horizons.some((h, i) => !Number.isInteger(h) || h < 1 || (i > 0 && h <= (s.horizons[i - 1] ?? 0)))) {
    throw new RangeError(`horizons must be ascending whole minutes >= 1 (got ${s.horizons.join(',')})`);
  }
  for (const [name, v] of [['ewmaSpan', s.ewmaSpan], ['harWindow', s.harWindow], ['harRefitEvery', s.harRefitEvery], ['calibrationWindow', s.calibrationWindow], ['directionWindow', s.directionWindow], ['directionRefitEvery', s.directionRefitEvery], ['calibrationRefitEvery', s.calibrationRefitEvery]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`${name} must be a whole number >= 1 (got ${v})`);
  }
  if (!(s.harMinSamples >= 10 && s.harMinSamples <= s.harWindow)) throw new RangeError(`harMinSamples must be in [10, harWindow] (got ${s.harMinSamples})`);
  const r = s.returnWeights;
  if (!(r.decay > 0 && r.decay < 1)) throw new RangeError(`return weight decay must be in (0, 1) (got ${r.decay})`);
  for (const w of [s.returnWeights, s.volatilityWeights]) {
    if (!(w.eta > 0) || !(w.floor >= 0 && w.floor < 0.2)) throw new RangeError('weight eta must be > 0 and floor in [0, 0.2)');
  }
}
