import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { consistencyMachine, type Evaluation, type ReportOut } from '../../../../actors/quality/consistency.machine.ts';
import type { BarWindow } from '../../../../actors/quality/consistency.machine.ts';
import type { CheckConfig, CheckState, HealthState } from '../../../../actors/quality/index.ts';

type EvaluateInput = { venue: string; symbol: string; window: BarWindow; checkState: CheckState; checks: CheckConfig };

const M0 = Date.UTC(2024, 2, 1);
const bar = (i: number) => ({ ts: M0 + i * 60_000, open: 100, high: 101, low: 99, close: 100, volume: 1, source: 'live' as const, revision: 0 });

/**
 * An unfillable gap can be found while the symbol's consistency actor is still
 * resuming its state from the database. Its finding must not be dropped: it goes
 * into the next report.
 */
describe('consistency machine: findings from outside', () => {
  it('keeps a finding that arrives while the actor is still starting, and reports it with the next window', async () => {
    let release: () => void = () => undefined;
    const resumed = new Promise<void>((r) => (release = r));
    const reports: ReportOut[] = [];
    const actor = createActor(
      consistencyMachine.provide({
        actors: {
          resume: fromPromise<{ state: HealthState | undefined }, { venue: string; symbol: string }>(async () => {
            await resumed;
            return { state: undefined };
          }),
          evaluate: fromPromise<Evaluation, EvaluateInput>(async ({ input }) => ({ findings: [], checkState: input.checkState })),
          publish: fromPromise<void, ReportOut>(async ({ input }) => void reports.push(input)),
        },
      }),
      { input: { venue: 'v', symbol: 'S', config: { windowMs: 900_000 } } },
    );
    actor.start();
    expect(actor.getSnapshot().matches('starting')).toBe(true);
    actor.send({ type: 'quality.findings', findings: [{ kind: 'gap', ts: M0 + 60_000, detail: 'unfillable gap' }] });
    release();
    await waitFor(actor, (s) => s.matches('running'));
    actor.send({ type: 'bars.closed', bars: Array.from({ length: 15 }, (_, i) => bar(i)) });
    actor.send({ type: 'clock.tick', now: Number.MAX_SAFE_INTEGER });
    await waitFor(actor, () => reports.length === 1);
    expect(reports[0]?.report.findings.map((f) => f.kind)).toEqual(['gap']);
    actor.stop();
  });
});
