import { describe, expect, it } from 'vitest';
import { decideGate } from '../../../../actors/lifecycle/gate.ts';
import { gateInputFor, judgementRecord } from '../../../../actors/lifecycle/retrain-judgement.ts';
import { evaluation, summary, verification } from './retrain-fixtures.ts';

describe('retrain judgement', () => {
  it('gives the gate the incumbent\'s metrics and losses only when it was evaluated', () => {
    const challenger = evaluation(0.001, 1.5);
    const incumbent = evaluation(0.002, 1.7);
    const both = gateInputFor('binance.BTCUSDT', 'challenger', challenger, incumbent, undefined);
    expect(both.champion, 'the incumbent is the champion the gate compares with').toBe(incumbent.model);
    expect(both.losses?.champion, 'paired losses on the same windows').toBe(incumbent.losses.model);
    expect(both.losses?.challenger).toBe(challenger.losses.model);
    expect(both.baselines, 'baselines are the challenger\'s window ones').toBe(challenger.baselines);
    expect('config' in both, 'no config given: the gate\'s defaults').toBe(false);

    const alone = gateInputFor('binance.BTCUSDT', 'online', challenger, undefined, { aucFloor: 0.7 });
    expect(alone.champion).toBeUndefined();
    expect(alone.losses && 'champion' in alone.losses, 'no incumbent: no champion losses at all').toBe(false);
    expect(alone.mode).toBe('online');
    expect(alone.config).toEqual({ aucFloor: 0.7 });
  });

  it('the gate decides on that input: a first model better than the baselines deploys', () => {
    const challenger = evaluation(0.001, 1.5);
    const d = decideGate(gateInputFor('binance.BTCUSDT', 'challenger', challenger, undefined, { aucFloor: 0.55 }));
    expect(d.decision, d.reasons.join('; ')).toBe('deploy');
    expect(d.firstModel).toBe(true);
  });

  it('records the comparison with the version compared against, and a note only when there is one', () => {
    const challenger = evaluation(0.001, 1.5);
    const gate = decideGate(gateInputFor('binance.BTCUSDT', 'challenger', challenger, undefined, undefined));
    const v = verification(true);
    const s = summary();
    const first = judgementRecord({ gate, verification: v, challenger, incumbentVersion: undefined, note: undefined, trainReported: s.test });
    expect(first.comparison, 'the gate decision is part of the comparison').toMatchObject({ decision: gate.decision, rules: gate.rules, championVersion: null });
    expect('note' in first.comparison).toBe(false);
    expect(first.metrics).toEqual({ test: challenger.model, baselines: challenger.baselines, trainReported: s.test, verification: v });
    expect(first.versionMetrics, 'the registry keeps the comparison under `gate`').toEqual({ test: challenger.model, baselines: challenger.baselines, gate: first.comparison, verification: v });

    const noted = judgementRecord({ gate, verification: v, challenger, incumbentVersion: 'v1.2501.01-1', note: 'incumbent could not be evaluated', trainReported: s.test });
    expect(noted.comparison).toMatchObject({ championVersion: 'v1.2501.01-1', note: 'incumbent could not be evaluated' });
  });
});
