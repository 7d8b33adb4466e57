import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { alertSchema, type Alerter } from '../../../../ops/index.ts';
import {
  alertRaiser,
  autoRollbackAlert,
  degradedAlert,
  manualRollbackAlert,
  notRolledBackAlert,
  retrainFailedAlert,
} from '../../../../actors/lifecycle/lifecycle-alerts.ts';
import type { SkillReport } from '../../../../actors/lifecycle/live-skill.ts';
import type { ActivationResult } from '../../../../actors/lifecycle/registry.ts';

const report: SkillReport = {
  venue: 'binance',
  symbol: 'BTCUSDT',
  role: 'online',
  version: 'v1.2501.02-1',
  skill: 0.81234,
  window: 200,
  maeRatio: 1.1,
  meanLogLoss: 0.7,
  threshold: 0.9,
  detectedAt: 1_700_000_000_000,
};

const result = (over: Partial<ActivationResult> = {}): ActivationResult => ({
  version: 'v1.2501.01-1',
  from: 'v1.2501.02-1',
  scope: 'binance.BTCUSDT',
  role: 'online',
  regime: undefined,
  deploymentId: 7,
  value: { pretrained: [], online: null } as unknown as ActivationResult['value'],
  latencyMs: 12,
  ...over,
});

/** Every payload must pass the alert contract once `kind`, `at` and `source` are filled in. */
const valid = (kind: 'retrain_failed' | 'model_degraded' | 'rollback', payload: object) =>
  alertSchema.safeParse({ kind, at: 1_700_000_000_000, source: 'test:1', ...payload }).success;

describe('lifecycle alerts', () => {
  it('reports a failed retrain in one line of at most 1 000 characters', () => {
    const a = retrainFailedAlert({ requestId: 'r-1', scope: 'binance.BTCUSDT', trigger: 'schedule', attempts: 4, error: 'x'.repeat(2_000) });
    expect(a.message.startsWith('retrain r-1 of binance.BTCUSDT (schedule) failed after 4 attempt(s): xxx')).toBe(true);
    expect(a.message.length, 'cut to the alert schema\'s limit').toBe(1_000);
    expect(a.details).toEqual({ requestId: 'r-1', scope: 'binance.BTCUSDT', trigger: 'schedule', attempts: 4 });
    expect(valid('retrain_failed', a)).toBe(true);
  });

  it('reports a degraded model as a warning and one that could not be rolled back as critical', () => {
    const d = degradedAlert(report);
    expect(d.severity).toBe('warning');
    expect(d.message).toBe('online model v1.2501.02-1 on binance/BTCUSDT: live skill 0.812 < 0.9 (1 = the naive forecast) over the last 200 outcomes');
    expect(d.details).toMatchObject({ maeRatio: 1.1, meanLogLoss: 0.7 });
    expect(valid('model_degraded', d)).toBe(true);
    const n = notRolledBackAlert(report, 'no earlier version');
    expect(n.severity).toBe('critical');
    expect(n.message).toMatch(/not rolled back: no earlier version$/);
    expect(valid('model_degraded', n)).toBe(true);
  });

  it('tells a rollback from a withdrawal', () => {
    const rolled = autoRollbackAlert(report, { action: 'rollback', result: result(), reason: 'auto: skill' });
    expect(rolled.message).toBe('binance.BTCUSDT online rolled back from v1.2501.02-1 to v1.2501.01-1: auto: skill');
    expect(rolled.details).toMatchObject({ action: 'rollback', from: 'v1.2501.02-1', to: 'v1.2501.01-1', deploymentId: 7 });
    const withdrawn = autoRollbackAlert(report, { action: 'withdraw', result: result(), reason: 'auto: skill' });
    expect(withdrawn.message).toBe('online model v1.2501.02-1 of binance.BTCUSDT withdrawn: auto: skill');
    expect(withdrawn.details?.['to'], 'a withdrawal leaves no version of the role').toBeNull();
    expect(valid('rollback', rolled) && valid('rollback', withdrawn)).toBe(true);
  });

  it('says who rolled back by hand, and from which version when known', () => {
    const a = manualRollbackAlert(result({ from: undefined, role: 'pretrained' }), 'bad deploy', 'ops');
    expect(a.severity).toBe('warning');
    expect(a.message).toBe('binance.BTCUSDT pretrained rolled back by hand to v1.2501.01-1: bad deploy');
    expect(a.details).toMatchObject({ from: null, actor: 'ops' });
    expect(manualRollbackAlert(result(), 'r', 'ops').message).toMatch(/by hand from v1\.2501\.02-1 to/);
  });

  it('raises alerts in the background and logs one that could not be raised', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
    const raised: string[] = [];
    const alerter = (async (kind) => {
      raised.push(kind);
      if (kind === 'rollback') throw new Error('nats down');
      return true;
    }) as Alerter;
    const raise = alertRaiser(alerter, log);
    expect(() => raise('rollback', manualRollbackAlert(result(), 'r', 'ops')), 'a failing alert never throws at the caller').not.toThrow();
    raise('retrain_failed', retrainFailedAlert({ requestId: 'r', scope: 's', trigger: 't', attempts: 1, error: 'e' }));
    await new Promise((r) => setImmediate(r));
    expect(raised).toEqual(['rollback', 'retrain_failed']);
    expect(lines.map((l) => JSON.parse(l) as { msg: string; kind: string }).map((l) => [l.msg, l.kind])).toEqual([['alert not raised', 'rollback']]);
    expect(() => alertRaiser(undefined, log)('rollback', manualRollbackAlert(result(), 'r', 'ops')), 'no alerter: nothing to do').not.toThrow();
  });
});
