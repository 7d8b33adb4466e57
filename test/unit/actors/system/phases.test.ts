import { describe, expect, it } from 'vitest';
import { opsStartError } from '../../../../actors/system/phases.ts';

describe('opsStartError', () => {
  it('names the setting to change when the metrics port is in use', () => {
    const cause = Object.assign(new Error('listen EADDRINUSE: address already in use :::9464'), { code: 'EADDRINUSE' });
    const err = opsStartError(cause, 9464);
    expect(err.message).toBe('METRICS_PORT 9464 is in use: set METRICS_PORT to a free port (0 = any)');
    expect(err.cause, 'the original error stays reachable').toBe(cause);
  });

  it('keeps the message of any other failure', () => {
    const cause = Object.assign(new Error('permission denied'), { code: 'EACCES' });
    const err = opsStartError(cause, 80);
    expect(err.message).toBe('permission denied');
    expect(err.cause).toBe(cause);
  });
});
