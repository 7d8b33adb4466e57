import { describe, expect, it } from 'vitest';
import { parseRetrainCommand, retrainMatches } from '../../../../actors/prediction/predictor-retrain.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('parseRetrainCommand', () => {
  it('reads a valid command', () => {
    const r = parseRetrainCommand(bytes(JSON.stringify({ requestId: 'r1', symbol: 'BTCUSDT', trigger: 'manual' })));
    expect(r).toEqual({ ok: true, command: { requestId: 'r1', symbol: 'BTCUSDT', trigger: 'manual' } });
  });

  it('tells a payload that is not JSON from one that breaks the schema', () => {
    expect(parseRetrainCommand(bytes('{not json'))).toEqual({ ok: false, reason: 'not_json' });
    const invalid = parseRetrainCommand(bytes(JSON.stringify({ symbol: 'BTCUSDT', trigger: 'manual' })));
    expect(invalid.ok).toBe(false);
    expect(!invalid.ok && invalid.reason, 'no requestId').toBe('invalid');
    expect(!invalid.ok && invalid.reason === 'invalid' ? invalid.issues.length : 0, 'the issues say why').toBeGreaterThan(0);
  });
});

describe('retrainMatches', () => {
  const s = { venue: 'binance', symbol: 'BTCUSDT' };
  it('matches every symbol when neither venue nor symbol is named', () => {
    expect(retrainMatches({}, s)).toBe(true);
  });
  it('matches on the named symbol and venue only', () => {
    expect(retrainMatches({ symbol: 'BTCUSDT' }, s)).toBe(true);
    expect(retrainMatches({ symbol: 'ETHUSDT' }, s)).toBe(false);
    expect(retrainMatches({ venue: 'binance' }, s)).toBe(true);
    expect(retrainMatches({ venue: 'kraken', symbol: 'BTCUSDT' }, s)).toBe(false);
    expect(retrainMatches({ venue: 'binance', symbol: 'BTCUSDT' }, s)).toBe(true);
  });
});
