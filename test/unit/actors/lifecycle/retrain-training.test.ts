import { describe, expect, it } from 'vitest';
import { SignalsError } from '../../../../config/index.ts';
import { parseRetrainConfig, RetrainRequestError, type RetrainConfig } from '../../../../actors/lifecycle/retrain-request.ts';
import { fittingHorizons, isRetryable, retryDelayMs, trainRunConfig } from '../../../../actors/lifecycle/retrain-training.ts';

function config(raw: Record<string, unknown>): RetrainConfig {
  const r = parseRetrainConfig(raw);
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

class RetryableError extends SignalsError {
  override readonly name = 'RetryableError';
  override readonly retryable = true;
}

describe('retrain training step', () => {
  it('builds the trainer config from the request config, with a fixed split', () => {
    const c = config({ kind: 'lstm', lookback: 30, epochs: 3, hiddenUnits: [16, 8] });
    const t = trainRunConfig('req-1', c, 2, '/tmp/artifacts', 'abcd1234');
    expect(t).toMatchObject({ kind: 'lstm', lookback: 30, epochs: 3, hiddenUnits: [16, 8], context: false, split: { train: 0.7, val: 0.15 }, artifactsDir: '/tmp/artifacts' });
    expect(t.runId).toBe('retrain-req-1-2-abcd1234');
  });

  it('gives a retrained model the predictors\' horizon heads unless its command names its own', () => {
    expect(trainRunConfig('r', config({}), 1, '/a', 'n', [1, 5, 15, 60]).horizons, 'the default: SIGNAL_HORIZONS').toEqual([1, 5, 15, 60]);
    expect(trainRunConfig('r', config({ horizons: [1, 30] }), 1, '/a', 'n', [1, 5, 15, 60]).horizons, 'the command wins').toEqual([1, 30]);
    expect(trainRunConfig('r', config({}), 1, '/a', 'n').horizons, 'none given: the 1-minute head only').toBeUndefined();
    expect(trainRunConfig('r', config({ horizons: [] }), 1, '/a', 'n', [1, 5]).horizons, 'an empty list asks for no horizon heads').toBeUndefined();
    expect(parseRetrainConfig({ horizons: [0] }).ok, 'a horizon under a minute is refused').toBe(false);
    expect(parseRetrainConfig({ horizons: [2_000] }).ok, 'longer than a day is refused').toBe(false);
  });

  it('a history too short for the longest heads gets the heads it can train, not a failed run', () => {
    const c = config({ lookback: 24, volWindow: 30 });
    const all = [1, 5, 15, 60];
    expect(fittingHorizons(all, 944, c), 'the figure a run names when it is short: "need 944"').toEqual(all);
    expect(fittingHorizons(all, 943, c)).toEqual([1, 5, 15]);
    expect(fittingHorizons(all, 150, c)).toEqual([1]);
    expect(fittingHorizons(all, 50, c), 'too short for any head: the run fails with its own message').toEqual([]);
    expect(fittingHorizons(undefined, 10_000, c)).toBeUndefined();
  });

  it('makes the run id safe for a directory name and bounded in length', () => {
    const t = trainRunConfig(`svc/${'x'.repeat(60)} ü`, config({}), 1, '/a', 'n0nce');
    expect(t.runId, 'unsafe characters become _').toMatch(/^retrain-svc_x+-1-n0nce$/);
    expect(t.runId.length, 'the request id part is cut to 40 characters').toBe('retrain-'.length + 40 + '-1-n0nce'.length);
  });

  it('retries anything but an error of ours that says retrying is pointless', () => {
    expect(isRetryable(new Error('socket hang up')), 'a crash gets the remaining attempts').toBe(true);
    expect(isRetryable('a string')).toBe(true);
    expect(isRetryable(new RetryableError('child died'))).toBe(true);
    expect(isRetryable(new RetrainRequestError('no bars')), 'a bad request fails at once').toBe(false);
  });

  it('doubles the wait after each failed attempt', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(100, a))).toEqual([100, 200, 400, 800]);
  });
});
