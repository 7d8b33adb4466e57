import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../../market/index.ts';
import { FamilyWeights, GradientWeights, PlattCalibrator, ResidualQuantiles } from '../../../../models/index.ts';

describe('calibration', () => {
  it('Platt scaling turns overconfident probabilities into ones that come true as often as they say', () => {
    const rng = mulberry32(5);
    const cal = new PlattCalibrator(5_000, 100, 200, 1);
    // The truth is P(up) = 0.5 + (raw − 0.5) / 4: a raw 0.9 comes true 60 % of the time.
    for (let i = 0; i < 5_000; i += 1) {
      const raw = 0.1 + 0.8 * rng.next();
      cal.add(raw, rng.next() < 0.5 + (raw - 0.5) / 4);
    }
    expect(cal.apply(0.9)).toBeGreaterThan(0.55);
    expect(cal.apply(0.9)).toBeLessThan(0.65);
    expect(cal.apply(0.5)).toBeCloseTo(0.5, 1);
  });

  it('with no information in the raw forecast, it learns the base rate, pulled toward ½ by the prior', () => {
    const rng = mulberry32(6);
    const weak = new PlattCalibrator(2_000, 50, 100, 1);
    const strong = new PlattCalibrator(2_000, 50, 100, 2_000);
    for (let i = 0; i < 2_000; i += 1) {
      const up = rng.next() < 0.6;
      weak.add(0.5, up);
      strong.add(0.5, up);
    }
    expect(weak.apply(0.5)).toBeGreaterThan(0.57);
    expect(strong.apply(0.5)).toBeLessThan(weak.apply(0.5));
    expect(strong.apply(0.5)).toBeGreaterThan(0.5);
  });

  it('the prior counts in outcomes whatever the scale of the raw forecasts: a faint but real signal is recovered', () => {
    const rng = mulberry32(7);
    const cal = new PlattCalibrator(5_000, 100, 200, 200);
    // Raw forecasts in [0.45, 0.55] that understate the truth: P(up) = 0.5 + 2·(raw − 0.5).
    for (let i = 0; i < 5_000; i += 1) {
      const raw = 0.45 + 0.1 * rng.next();
      cal.add(raw, rng.next() < 0.5 + 2 * (raw - 0.5));
    }
    expect(cal.apply(0.55)).toBeGreaterThan(0.57);
    expect(cal.apply(0.55)).toBeLessThan(0.63);
    expect(cal.apply(0.45)).toBeLessThan(0.43);
  });

  it('an overconfident head with few independent outcomes behind it is pulled toward ½', () => {
    const fit = (weight: number) => {
      const rng = mulberry32(8);
      const cal = new PlattCalibrator(10_000, 100, 120, 200, weight);
      // Raw forecasts spread over [0.1, 0.9], the truth a quarter of that spread.
      for (let i = 0; i < 10_000; i += 1) {
        const raw = 0.1 + 0.8 * rng.next();
        cal.add(raw, rng.next() < 0.5 + (raw - 0.5) / 4);
      }
      return cal.apply(0.9);
    };
    const oneMinute = fit(1);
    const hour = fit(1 / 60); // 10,000 overlapping 60-minute outcomes: about 167 independent ones
    expect(oneMinute, 'plenty of outcomes: the truth, 0.6').toBeGreaterThan(0.57);
    expect(oneMinute).toBeLessThan(0.63);
    expect(hour, 'few outcomes: closer to ½ than the truth, and far from the raw 0.9').toBeLessThan(oneMinute);
    expect(hour).toBeGreaterThan(0.5);
  });

  it('residual quantiles cover their stated share of fat-tailed errors where normal quantiles would not', () => {
    const rng = mulberry32(8);
    const t3 = () => {
      // Student-t with 3 degrees of freedom, scaled to unit variance: heavier tails than the normal.
      const n = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
      const z = n();
      const chi = n() ** 2 + n() ** 2 + n() ** 2;
      return z / Math.sqrt(chi / 3) / Math.sqrt(3);
    };
    const q = new ResidualQuantiles([0.05, 0.25, 0.75, 0.95], 4_000, 50, 500);
    const before = [...q.multipliers];
    for (let i = 0; i < 4_000; i += 1) q.add(t3());
    let in50 = 0;
    let in90 = 0;
    const [q05 = 0, q25 = 0, q75 = 0, q95 = 0] = q.multipliers;
    for (let i = 0; i < 20_000; i += 1) {
      const e = t3();
      if (e >= q25 && e <= q75) in50 += 1;
      if (e >= q05 && e <= q95) in90 += 1;
    }
    expect(in50 / 20_000).toBeGreaterThan(0.48);
    expect(in50 / 20_000).toBeLessThan(0.52);
    expect(in90 / 20_000).toBeGreaterThan(0.88);
    expect(in90 / 20_000).toBeLessThan(0.92);
    expect(q25 - q75, 'the fitted inner band is narrower than the normal one for a unit-variance t3').toBeGreaterThan((before[1] ?? 0) - (before[2] ?? 0));
  });
});

describe('family weights', () => {
  it('Hedge moves weight to the component with the lower loss, a late joiner starts at its prior share', () => {
    const w = new FamilyWeights({ decay: 0.99, eta: 1, floor: 0.01, prior: { naive: 1, pretrained: 0.2 } });
    expect(w.weights(['naive', 'pretrained'])).toEqual({ naive: expect.closeTo(0.01 + 0.98 / 1.2, 12), pretrained: expect.closeTo(0.01 + 0.98 * (0.2 / 1.2), 12) });
    for (let i = 0; i < 200; i += 1) w.score({ naive: 1, pretrained: 0.9 });
    expect(w.weights(['naive', 'pretrained']).pretrained).toBeGreaterThan(0.9);
  });

  it('exponentiated gradient finds the combination of two volatility forecasts that beats both', () => {
    const rng = mulberry32(12);
    const w = new GradientWeights({ eta: 0.05, floor: 0, prior: {} });
    // The true log variance is the mean of the two forecasts' (each is off by an independent error).
    for (let i = 0; i < 20_000; i += 1) {
      const truth = -10 + rng.next();
      const a = truth + (rng.next() - 0.5);
      const b = truth - (rng.next() - 0.5);
      const wt = w.weights(['a', 'b']);
      const pooled = (wt.a ?? 0) * a + (wt.b ?? 0) * b;
      const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
      w.update({ a, b }, pooled, Math.exp(truth) * z * z);
    }
    const final = w.weights(['a', 'b']);
    expect(final.a).toBeGreaterThan(0.35);
    expect(final.a).toBeLessThan(0.65);
  });
});
