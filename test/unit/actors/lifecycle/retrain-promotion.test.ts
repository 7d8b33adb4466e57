import { describe, expect, it } from 'vitest';
import type { PackedArtifact } from '../../../../models/index.ts';
import { activationReason, candidateInput, layout, promotionStep } from '../../../../actors/lifecycle/retrain-promotion.ts';
import { parseRetrainConfig, type RetrainConfig, type RetrainRequest } from '../../../../actors/lifecycle/retrain-request.ts';
import { trainRunConfig, type TrainedCandidate } from '../../../../actors/lifecycle/retrain-training.ts';
import { summary, versionRow } from './retrain-fixtures.ts';

const artifact: PackedArtifact = { bytes: Buffer.from('model'), sha256: 'abc' };
const req: RetrainRequest = { requestId: 'r-1', scope: 'binance.BTCUSDT', trigger: 'schedule', config: {} };

function config(raw: Record<string, unknown> = {}): RetrainConfig {
  const r = parseRetrainConfig(raw);
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

function trained(c: RetrainConfig, s = summary()): TrainedCandidate {
  return { summary: s, bestDir: '/tmp/best', bars: [], config: trainRunConfig(req.requestId, c, 1, '/tmp/a', 'nonce') };
}

describe('retrain promotion', () => {
  it('describes a layout by lookback, horizon and volatility window', () => {
    expect(layout({ lookback: 24, horizon: 1, volWindow: 30 })).toBe('24/1/30');
    expect(layout({}), 'a champion imported without params').toBe('undefined/undefined/undefined');
  });

  it('registers a first model on major 1, with no parent', () => {
    const c = config();
    const input = candidateInput(req, c, undefined, trained(c), artifact);
    expect(input).toMatchObject({ scope: req.scope, role: 'pretrained', kind: 'mlp', runId: 'run-1', artifact, major: 1, dataFrom: 1_000, dataTo: 9_000 });
    expect('parentVersion' in input).toBe(false);
    expect(input.params, 'the params say which request made it').toMatchObject({ trigger: 'schedule', requestId: 'r-1', lookback: 24 });
    expect(input.metrics).toMatchObject({ bestEpoch: 4, epochsRan: 5, testWindow: { fromTs: 7_001, toTs: 9_000 } });
  });

  it('stays on the champion\'s major line for the same kind and layout, and starts a new one otherwise', () => {
    const champion = versionRow('v3.2501.01-1');
    const same = config();
    expect(candidateInput(req, same, champion, trained(same), artifact)).toMatchObject({ parentVersion: 'v3.2501.01-1', major: 3 });
    const longer = config({ lookback: 48 });
    expect(candidateInput(req, longer, champion, trained(longer), artifact).major, 'a new layout').toBe(4);
    const lstm = config({ kind: 'lstm' });
    expect(candidateInput(req, lstm, champion, trained(lstm), artifact).major, 'a new kind').toBe(4);
  });

  it('leaves out the data range the training could not report', () => {
    const c = config();
    const input = candidateInput(req, c, undefined, trained(c, summary({ dataFrom: null, dataTo: null })), artifact);
    expect('dataFrom' in input || 'dataTo' in input).toBe(false);
  });

  it('reports a gate rejection before a failed verification, and activates only when both pass', () => {
    expect(promotionStep({ decision: 'reject' }, { ok: false })).toBe('reject');
    expect(promotionStep({ decision: 'reject' }, { ok: true })).toBe('reject');
    expect(promotionStep({ decision: 'deploy' }, { ok: false })).toBe('verification_failed');
    expect(promotionStep({ decision: 'deploy' }, { ok: true })).toBe('activate');
  });

  it('says why a candidate was activated', () => {
    const base = { scope: 'binance.BTCUSDT', trigger: 'feedback' };
    expect(activationReason({ ...base, mode: 'online', champion: undefined, incumbent: 'v1.2501.01-1' })).toBe('online model non-inferior to v1.2501.01-1 (retrain feedback)');
    expect(activationReason({ ...base, mode: 'online', champion: undefined, incumbent: undefined })).toBe('online model non-inferior to the naive baselines (retrain feedback)');
    expect(activationReason({ ...base, mode: 'challenger', champion: 'v1.2501.01-1', incumbent: 'v1.2501.01-1' })).toBe('challenger beat champion v1.2501.01-1 (retrain feedback)');
    expect(activationReason({ ...base, mode: 'challenger', champion: undefined, incumbent: undefined })).toBe('first model of binance.BTCUSDT (passed the floor and the naive baselines)');
  });
});
