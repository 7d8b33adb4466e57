import { describe, expect, it } from 'vitest';
import { HybridEngine, type EngineBar, type LiveOutcome, type ModelSnapshot, type ModelSource, type RolloutServing, type ServingModel } from '../../../../actors/prediction/index.ts';
import { synthBars } from '../../../../market/index.ts';
import { shadowPredictionSchema } from '../../../../streams/index.ts';

const spec = { lookback: 8, horizon: 1, volWindow: 10, context: false };

/** A model that forecasts a constant and counts its predictBatch calls. */
function constant(version: string, value: number, calls: Map<string, number>): ServingModel {
  const f = { value, pUp: value > 0 ? 0.6 : 0.4 };
  return {
    role: 'pretrained',
    version,
    regime: 'any',
    predictor: {
      kind: 'mlp',
      lookback: spec.lookback,
      predict: () => f,
      predictBatch: (ws) => {
        calls.set(version, (calls.get(version) ?? 0) + 1);
        return ws.map(() => f);
      },
      dispose: () => undefined,
    },
  };
}

/** One champion for every symbol, and a rollout whose canary is `canary`. */
function source(champion: ServingModel, challenger: ServingModel, stage: () => 'shadow' | 'canary' | 'none', canary: readonly string[]): ModelSource {
  return {
    snapshot(venue, symbol): ModelSnapshot {
      const s = stage();
      if (s === 'none') return { pretrained: [champion], online: undefined };
      const rollout: RolloutServing = { id: 1, stage: s, role: 'pretrained', champion: champion.version, challenger, canary: canary.includes(`${venue}.${symbol}`) };
      return { pretrained: [champion], online: undefined, rollout };
    },
  };
}

/** Bars of three symbols, minute by minute. */
function minutes(n: number): EngineBar[][] {
  const all = [...synthBars({ symbols: 3, minutes: n, seed: 17 })].map((b) => ({ ...b, venue: 'v' }));
  const byTs = new Map<number, EngineBar[]>();
  for (const b of all) byTs.set(b.ts, [...(byTs.get(b.ts) ?? []), b]);
  return [...byTs.values()];
}

describe('a rollout in the engine', () => {
  it('shadow: the challenger forecasts every bar beside the champion, in one extra batched call, and serves nothing', () => {
    const calls = new Map<string, number>();
    const champion = constant('champ', 0.0001, calls);
    const challenger = constant('chall', -0.0002, calls);
    const outcomes: LiveOutcome[] = [];
    const engine = new HybridEngine(source(champion, challenger, () => 'shadow', []), { spec, firstFineTuneBars: 1e9 }, { onOutcome: (o) => outcomes.push(o) });
    let steps = 0;
    let outputs = 0;
    for (const batch of minutes(60)) {
      const r = engine.step(batch);
      if (r.outputs.length > 0) steps += 1;
      for (const o of r.outputs) {
        outputs += 1;
        expect(o.prediction.components.map((c) => c.version), 'the challenger never serves in shadow').not.toContain('chall');
        expect(o.shadow?.version, 'each prediction has the challenger shadow beside it').toBe('chall');
        expect(shadowPredictionSchema.safeParse(o.shadow).success, 'the shadow message follows its schema').toBe(true);
        expect(o.shadow?.value).toBe(-0.0002);
      }
    }
    expect(outputs).toBeGreaterThan(100);
    expect(calls.get('chall'), 'one extra predictBatch per step for all symbols').toBe(steps);
    expect(calls.get('champ')).toBe(steps);
    const paired = outcomes.filter((o) => o.shadow?.some((s) => s.version === 'chall') && o.components.some((c) => c.version === 'champ'));
    expect(paired.length, 'every realised outcome carries both forecasts').toBe(outcomes.length);
    expect(outcomes.length).toBe(outputs - 3);
  });

  it('canary: the canary symbol is served by the challenger with the champion in shadow; the others keep the champion', () => {
    const calls = new Map<string, number>();
    const champion = constant('champ', 0.0001, calls);
    const challenger = constant('chall', -0.0002, calls);
    const outcomes: LiveOutcome[] = [];
    let stage: 'shadow' | 'canary' | 'none' = 'canary';
    const engine = new HybridEngine(source(champion, challenger, () => stage, ['v.SYN000']), { spec, firstFineTuneBars: 1e9 }, { onOutcome: (o) => outcomes.push(o) });
    const all = minutes(60);
    for (const batch of all.slice(0, 40)) {
      for (const o of engine.step(batch).outputs) {
        const versions = o.prediction.components.filter((c) => c.role === 'pretrained').map((c) => c.version);
        if (o.prediction.symbol === 'SYN000') {
          expect(versions, 'the canary symbol is served by the challenger').toEqual(['chall']);
          expect(o.shadow, 'the champion beside a canary is not published as a shadow').toBeUndefined();
        } else {
          expect(versions).toEqual(['champ']);
          expect(o.shadow?.version).toBe('chall');
        }
      }
    }
    const canaryOutcomes = outcomes.filter((o) => o.symbol === 'SYN000');
    expect(canaryOutcomes.length).toBeGreaterThan(0);
    expect(canaryOutcomes.every((o) => o.shadow?.[0]?.version === 'champ' && o.components.some((c) => c.version === 'chall')), 'paired on the canary symbol too').toBe(true);
    // Rolled back: from the next bar the champion serves everything and nothing runs beside it.
    stage = 'none';
    for (const batch of all.slice(40)) {
      for (const o of engine.step(batch).outputs) {
        expect(o.prediction.components.map((c) => c.version)).not.toContain('chall');
        expect(o.shadow).toBeUndefined();
      }
    }
  });
});
