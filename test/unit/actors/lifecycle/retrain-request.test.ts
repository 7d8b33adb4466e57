import { describe, expect, it } from 'vitest';
import { errMsg, parseRetrainConfig, RetrainRequestError } from '../../../../actors/lifecycle/retrain-request.ts';
import { retrainConfigSchema, RetrainRequestError as FromRetrain } from '../../../../actors/lifecycle/retrain.ts';
import { ANY_REGIME } from '../../../../actors/lifecycle/versions.ts';

describe('retrain request', () => {
  it('fills in the defaults of an empty config: a small, fast pretrained MLP for every regime', () => {
    const r = parseRetrainConfig({});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({ kind: 'mlp', role: 'pretrained', regime: ANY_REGIME, epochs: 20, maxBars: 20_000, hiddenUnits: [32] });
  });

  it('names every invalid field in one line', () => {
    const r = parseRetrainConfig({ epochs: 0, dropout: 2 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(/^invalid retrain config: /);
    expect(r.error, 'each issue has its path').toMatch(/epochs: .*; dropout: /);
  });

  it('refuses a config that tries to set the gate (thresholds come from the configuration only)', () => {
    const r = parseRetrainConfig({ gate: { aucFloor: 0 } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error, 'an unknown key is reported at the root').toMatch(/\(root\): /);
  });

  it('keeps the public names of retrain.ts', () => {
    expect(retrainConfigSchema.safeParse({}).success).toBe(true);
    expect(FromRetrain, 'retrain.ts re-exports the same class').toBe(RetrainRequestError);
    const err = new RetrainRequestError('no bars');
    expect(err.retryable, 'a request that cannot succeed as asked is not retried').toBe(false);
  });

  it('formats an error with its class name, and anything else as a string', () => {
    expect(errMsg(new RetrainRequestError('no bars'))).toBe('RetrainRequestError: no bars');
    expect(errMsg('plain')).toBe('plain');
  });
});
