import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorStatus, LIFECYCLE_ENDPOINTS, LIFECYCLE_SERVICE, parseBody } from '../../../../actors/lifecycle/lifecycle-service.ts';
import * as effects from '../../../../actors/lifecycle/model-lifecycle.effects.ts';
import { LifecycleError } from '../../../../actors/lifecycle/registry.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);
const schema = z.strictObject({ scope: z.string().optional(), limit: z.number().int().min(1).optional() });

describe('lifecycle service', () => {
  it('reads an empty body as {} so every field takes its default', () => {
    expect(parseBody(schema, new Uint8Array())).toEqual({});
    expect(parseBody(schema, utf8('{"scope":"binance.BTCUSDT","limit":5}'))).toEqual({ scope: 'binance.BTCUSDT', limit: 5 });
  });

  it('turns a bad body into an error naming the reason and the issues', () => {
    const r = parseBody(schema, utf8('{"limit":0}'));
    expect(r).toHaveProperty('error');
    expect((r as { error: string }).error).toMatch(/^schema: limit: /);
    expect((parseBody(schema, utf8('not json')) as { error: string }).error, 'not JSON at all').toMatch(/json/i);
  });

  it('maps failures to status codes: not found, cannot be done, try again, bug', () => {
    expect(errorStatus(new LifecycleError('not_found', 'no such version'))).toBe(404);
    expect(errorStatus(new LifecycleError('no_previous', 'nothing to roll back to'))).toBe(409);
    expect(errorStatus(Object.assign(new Error('terminating connection'), { code: '57P01' })), 'the database restarting').toBe(503);
    expect(errorStatus(new TypeError('undefined is not a function'))).toBe(500);
  });

  it('keeps the service name and endpoints where outside callers import them', () => {
    expect(effects.LIFECYCLE_SERVICE).toBe(LIFECYCLE_SERVICE);
    expect(LIFECYCLE_SERVICE).toBe('model-lifecycle');
    expect(effects.LIFECYCLE_ENDPOINTS).toEqual(['status', 'models', 'retrain', 'rollback', 'rollout']);
    expect(LIFECYCLE_ENDPOINTS).toBe(effects.LIFECYCLE_ENDPOINTS);
  });
});
