import { describe, expect, it } from 'vitest';
import { rollBackDegradedModel } from '../../../../actors/lifecycle/auto-rollback.ts';
import { chooseCanary, judgeRollout, lookAlpha, stableHash } from '../../../../actors/lifecycle/index.ts';
import { mulberry32 } from '../../../../market/index.ts';
import type { RolloutOutcome } from '../../../../sql/index.ts';

/** `n` paired outcomes: the champion forecasts with noise `championNoise`, the challenger with `challengerNoise`. */
function outcomes(n: number, championNoise: number, challengerNoise: number, seed = 3): RolloutOutcome[] {
  const rng = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rng.next() || 1e-12)) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: n }, (_, i) => {
    const actual = 0.001 * gauss();
    const champ = actual + championNoise * gauss();
    const chall = actual + challengerNoise * gauss();
    const p = (v: number) => 1 / (1 + Math.exp(-v / 0.001));
    return { venue: 'v', symbol: `S${i % 3}`, ts: 60_000 * Math.floor(i / 3), stage: 'shadow', actual, championValue: champ, championPUp: p(champ), challengerValue: chall, challengerPUp: p(chall) };
  });
}

describe('canary selection', () => {
  it('is stable, at least one symbol, and the chosen share of many', () => {
    const few = ['x.A', 'x.B', 'x.C'];
    expect(chooseCanary(few, 0.1), 'with few symbols at least one is in the canary').toHaveLength(1);
    expect(chooseCanary([...few].reverse(), 0.1), 'the order the symbols were seen in does not matter').toEqual(chooseCanary(few, 0.1));
    const many = Array.from({ length: 200 }, (_, i) => `x.S${i}`);
    const canary = chooseCanary(many, 0.1);
    expect(canary).toHaveLength(20);
    // A symbol in the canary of a set stays in it when the set is a subset ordered by the same hash.
    const smallest = [...many].sort((a, b) => stableHash(a) - stableHash(b))[0];
    expect(canary).toContain(smallest);
    expect(chooseCanary(['x.ONE'], 0.1)).toEqual(['x.ONE']);
    expect(() => chooseCanary(few, 0)).toThrow(RangeError);
  });
});

describe('the sequential paired test', () => {
  it('spends at most alpha over all its looks', () => {
    let sum = 0;
    for (let k = 1; k <= 100_000; k += 1) sum += lookAlpha(0.05, k);
    expect(sum).toBeLessThanOrEqual(0.05);
  });

  it('rolls back a clearly worse challenger and promotes a clearly better one only after enough outcomes', () => {
    const worse = judgeRollout(outcomes(90, 0.0005, 0.01), 3, { promoteOutcomes: 60 });
    expect(worse.decision, `a challenger ten times noisier is significantly worse (${JSON.stringify(worse)})`).toBe('worse');
    const better = judgeRollout(outcomes(90, 0.01, 0.0005), 3, { promoteOutcomes: 60 });
    expect(better.decision, `a much better challenger is not worse (${JSON.stringify(better)})`).toBe('not_worse');
    expect(judgeRollout(outcomes(30, 0.01, 0.0005), 1, { promoteOutcomes: 60 }).decision, 'not before promoteOutcomes').toBe('undecided');
  });

  it('does not decide between two equal forecasters at a later look', () => {
    const same = judgeRollout(outcomes(300, 0.001, 0.001), 10, { promoteOutcomes: 1_000 });
    expect(same.decision).toBe('undecided');
    expect(same.lower).toBeLessThan(0);
    expect(same.upper).toBeGreaterThan(0);
  });
});

describe('a canary challenger whose live skill collapses', () => {
  it('ends its rollout instead of going through the registry rollback', async () => {
    const ended: string[] = [];
    const untouched = new Proxy({}, { get: () => { throw new Error('the registry must not be used'); } });
    const log = { warn: () => undefined, info: () => undefined, error: () => undefined } as unknown as Parameters<typeof rollBackDegradedModel>[0]['log'];
    await rollBackDegradedModel(
      {
        env: untouched as Parameters<typeof rollBackDegradedModel>[0]['env'],
        log,
        alert: () => {
          throw new Error('the rollout raises its own alert');
        },
        send: () => undefined,
        rollouts: {
          rollBackChallenger: async (version: string, reason: string) => {
            ended.push(`${version}: ${reason}`);
            return true;
          },
        },
      },
      { venue: 'v', symbol: 'S', role: 'pretrained', version: 'vX', skill: 0.5, window: 120, maeRatio: 2, meanLogLoss: 1, threshold: 0.9, detectedAt: 0 },
    );
    expect(ended, 'the rollout of vX was ended with the live-skill reason').toEqual([expect.stringMatching(/^vX: auto: live skill 0\.500 < 0\.9/)]);
  });
});
