import { describe, expect, it } from 'vitest';
import { blendConfidence, blendWeights, emptyWeightState, joinComponent, logLoss, scoreOutcome, type WeighterConfig } from '../../../../actors/prediction/index.ts';

const cfg: WeighterConfig = { decay: 0.5, eta: 1, floor: 0.1, prior: { a: 0.5, b: 0.5 }, evidenceScale: 10 };
const LN2 = Math.log(2);
const close = (actual: number, expected: number, why: string) => expect(Math.abs(actual - expected), `${why}: ${actual} vs ${expected}`).toBeLessThan(1e-9);

describe('confidence weighter (hand-computed)', () => {
  it('scores one outcome: normalised absolute error + log loss, softmax with floor, sums to 1', () => {
    const s = scoreOutcome(emptyWeightState(), 0.01, { a: { value: 0.01, pUp: 0.5 }, b: { value: 0, pUp: 0.5 } }, cfg);
    close(s.components.a?.loss ?? NaN, LN2, 'a: exact value, coin-flip pUp → loss ln 2');
    close(s.components.b?.loss ?? NaN, 1 + LN2, 'b: error = |actual| = scale → 1 + ln 2');
    const w = blendWeights(s, ['a', 'b'], cfg);
    const shareA = 1 / (1 + Math.exp(-1));
    close(w.a ?? NaN, 0.1 + 0.8 * shareA, 'a = floor + (1 - 2·floor)·softmax');
    close(w.b ?? NaN, 0.1 + 0.8 * (1 - shareA), 'b likewise');
    close((w.a ?? 0) + (w.b ?? 0), 1, 'weights sum to 1');
  });

  it('applies the decay to past losses', () => {
    let s = scoreOutcome(emptyWeightState(), 0.01, { a: { value: 0.01, pUp: 0.5 }, b: { value: 0, pUp: 0.5 } }, cfg);
    s = scoreOutcome(s, -0.01, { a: { value: 0, pUp: 0.5 }, b: { value: -0.01, pUp: 0.5 } }, cfg);
    // scale = (0.5·0.01 + 0.01) / (0.5·1 + 1) = 0.01
    close(s.components.a?.loss ?? NaN, 0.5 * LN2 + 1 + LN2, 'a: half of the old loss + this bar’s');
    close(s.components.b?.loss ?? NaN, 0.5 * (1 + LN2) + LN2, 'b: half of the old loss + this bar’s');
    close(s.components.a?.absError ?? NaN, 0.01, 'decayed absolute error of a');
    close(s.components.b?.absError ?? NaN, 0.005, 'decayed absolute error of b');
    const w = blendWeights(s, ['a', 'b'], cfg);
    const shareB = 1 / (1 + Math.exp(-0.5));
    close(w.b ?? NaN, 0.1 + 0.8 * shareB, 'the recent winner b leads, by the decayed difference 0.5');
    expect(s.scored).toBe(2);
  });

  it('respects the floor however bad a component is', () => {
    let s = emptyWeightState();
    for (let i = 0; i < 50; i += 1) s = scoreOutcome(s, 0.01, { a: { value: 0.01, pUp: 0.99 }, b: { value: -1, pUp: 0.01 } }, cfg);
    const w = blendWeights(s, ['a', 'b'], cfg);
    expect(w.b, 'the hopeless component keeps the floor').toBeGreaterThanOrEqual(0.1 - 1e-12);
    close(w.b ?? NaN, 0.1, 'and no more');
    close((w.a ?? 0) + (w.b ?? 0), 1, 'sum to 1');
  });

  it('starts at the prior, and a late component joins at its prior share', () => {
    const prior: WeighterConfig = { ...cfg, prior: { pretrained: 0.8, online: 0.2 } };
    const w0 = blendWeights(emptyWeightState(), ['pretrained', 'online'], prior);
    close(w0.pretrained ?? NaN, 0.1 + 0.8 * 0.8, 'prior 0.8 through the floor mix');
    close(w0.online ?? NaN, 0.1 + 0.8 * 0.2, 'prior 0.2 through the floor mix');
    let s = emptyWeightState();
    for (let i = 0; i < 20; i += 1) s = scoreOutcome(s, 0.001 * (i % 3 - 1), { pretrained: { value: 0.0005, pUp: 0.6 } }, prior);
    expect(blendWeights(s, ['pretrained'], prior), 'one component alone has weight 1').toEqual({ pretrained: 1 });
    s = joinComponent(s, 'online', prior);
    close(s.components.online?.loss ?? NaN, s.components.pretrained?.loss ?? NaN, 'the newcomer starts at the mean loss of the others');
    const w = blendWeights(s, ['pretrained', 'online'], prior);
    close(w.online ?? NaN, w0.online ?? NaN, 'so it enters at its prior share, not at an unearned advantage');
  });

  it('log loss and confidence', () => {
    close(logLoss(0.9, 0.01), -Math.log(0.9), 'up bar');
    close(logLoss(0.9, -0.01), -Math.log(0.1), 'down bar');
    close(logLoss(0.9, 0), -0.5 * Math.log(0.9) - 0.5 * Math.log(0.1), 'flat bar counts half up');
    expect(blendConfidence(emptyWeightState(), [{ weight: 1, pUp: 0.9 }], cfg), 'no evidence, no confidence').toBe(0);
    let s = emptyWeightState();
    for (let i = 0; i < 30; i += 1) s = scoreOutcome(s, 0.01, { a: { value: 0.01, pUp: 0.9 } }, cfg);
    const agree = blendConfidence(s, [{ weight: 0.5, pUp: 0.9 }, { weight: 0.5, pUp: 0.8 }], cfg);
    const cancel = blendConfidence(s, [{ weight: 0.5, pUp: 0.9 }, { weight: 0.5, pUp: 0.1 }], cfg);
    expect(agree, 'agreeing components with evidence are confident').toBeGreaterThan(0.7);
    close(cancel, 0, 'components that cancel out give no confidence');
  });
});
