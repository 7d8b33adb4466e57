import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../../config/index.ts';
import type { AlertInput, AlertKind } from '../../../../ops/index.ts';
import { gateFromSettings } from '../../../../actors/lifecycle/lifecycle-settings.ts';
import { retrainDepsFrom, type LifecycleDeps } from '../../../../actors/lifecycle/model-lifecycle.effects.ts';
import type { RegistryEnv } from '../../../../actors/lifecycle/registry.ts';

const settings = loadSettings({}, { RETRAIN_MAX_RETRIES: 5, ARTIFACTS_DIR: '/tmp/lifecycle-artifacts' });
const log = pino({ level: 'silent' });
/** retrainDepsFrom only hands the environment on; nothing in it is used here. */
const env = { log } as unknown as RegistryEnv;
const deps = (over: Partial<LifecycleDeps> = {}): LifecycleDeps => ({ ...({} as Pick<LifecycleDeps, 'nc' | 'db'>), settings, log, ...over });

describe('lifecycle effects: retrain deps', () => {
  it('takes retries, artifacts and the gate from the configuration by default', () => {
    const d = retrainDepsFrom(deps(), env, () => undefined);
    expect(d.env).toBe(env);
    expect(d.maxRetries).toBe(5);
    expect(d.artifactsDir).toBe('/tmp/lifecycle-artifacts');
    expect(d.gate, 'GATE_* settings: the only place thresholds come from').toEqual(gateFromSettings(settings));
    expect(typeof d.trainer, 'a child-process trainer by default').toBe('function');
    for (const key of ['retryBaseMs', 'verification', 'keep'] as const) expect(key in d, `${key} left to the run's default`).toBe(false);
  });

  it('lets the caller override each of them', () => {
    const trainer = async () => Promise.reject(new Error('unused'));
    const d = retrainDepsFrom(deps({ trainer, maxRetries: 0, retryBaseMs: 10, gate: { aucFloor: 0.6 }, verification: { maxLatencyP99Ms: 5 }, keep: 3 }), env, () => undefined);
    expect(d).toMatchObject({ trainer, maxRetries: 0, retryBaseMs: 10, gate: { aucFloor: 0.6 }, verification: { maxLatencyP99Ms: 5 }, keep: 3 });
  });

  it('raises ops.alert.retrain_failed when a run failed for good', () => {
    const raised: [AlertKind, AlertInput][] = [];
    const d = retrainDepsFrom(deps(), env, (kind, payload) => raised.push([kind, payload]));
    d.onFailed?.({ requestId: 'r-1', scope: 'binance.BTCUSDT', trigger: 'manual', attempts: 6, error: 'boom' });
    expect(raised).toHaveLength(1);
    expect(raised[0]?.[0]).toBe('retrain_failed');
    expect(raised[0]?.[1].message).toBe('retrain r-1 of binance.BTCUSDT (manual) failed after 6 attempt(s): boom');
  });
});
