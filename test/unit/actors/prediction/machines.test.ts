import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { confidenceWeighterMachine } from '../../../../actors/prediction/confidence-weighter.machine.ts';
import { fineTunerMachine, type FineTuneJob } from '../../../../actors/prediction/fine-tuner.machine.ts';
import { predictorMachine, type PredictorBatchOutcome } from '../../../../actors/prediction/predictor.machine.ts';
import { NaiveBaseline } from '../../../../models/index.ts';
import { DEFAULT_WEIGHTER_CONFIG, type AdaptationOutcome, type FineTuneTrigger } from '../../../../actors/prediction/index.ts';

const base = { role: 'pretrained' as const, version: 'p', regime: 'any', predictor: new NaiveBaseline('naive-zero', 4) };
const trigger = (symbol: string, ts: number): FineTuneTrigger => ({ venue: 'v', symbol, reason: 'schedule', base, bars: [], ts });
const outcome = (job: FineTuneJob, activated: boolean): AdaptationOutcome => ({
  version: `p+ft.${job.trigger.symbol}.${job.trigger.ts}`,
  trigger: { venue: 'v', symbol: job.trigger.symbol, reason: job.trigger.reason, ts: job.trigger.ts, baseVersion: 'p', bars: 0 },
  report: {
    before: { mae: 2, directionAccuracy: 0.5, brier: 0.25 },
    after: { mae: 1, directionAccuracy: 0.5, brier: 0.25 },
    maeImprovement: 0.5,
    trainWindows: 1,
    valWindows: 1,
    heldOutWindows: 1,
    epochsRan: 1,
    bestEpoch: 1,
    frozenLayers: 0,
    ms: 1,
  },
  decision: { activated, reason: 'test', candidate: { mae: 1, directionAccuracy: 0.5, brier: 0.25 }, incumbent: { mae: 2, directionAccuracy: 0.5, brier: 0.25, version: 'p' } },
});

describe('fineTuner machine (injected adapt)', () => {
  it('runs one job at a time, keeps only the newest queued job per symbol, reports each', async () => {
    const started: string[] = [];
    const reported: string[] = [];
    const release: (() => void)[] = [];
    const machine = fineTunerMachine.provide({
      actors: {
        adapt: fromPromise<AdaptationOutcome, FineTuneJob>(async ({ input }) => {
          started.push(`${input.trigger.symbol}@${input.trigger.ts}`);
          await new Promise<void>((r) => release.push(r));
          return outcome(input, input.trigger.symbol === 'A');
        }),
      },
      actions: { reported: (_, p) => reported.push(`${p.job?.trigger.symbol ?? '?'}:${String(p.outcome.decision.activated)}`) },
    });
    const actor = createActor(machine).start();
    actor.send({ type: 'finetune.requested', job: { trigger: trigger('A', 1) } });
    actor.send({ type: 'finetune.requested', job: { trigger: trigger('B', 1) } });
    actor.send({ type: 'finetune.requested', job: { trigger: trigger('B', 2) }, });
    expect(actor.getSnapshot().matches('training')).toBe(true);
    expect(actor.getSnapshot().context.queue.map((j) => `${j.trigger.symbol}@${j.trigger.ts}`), 'B@2 replaced B@1').toEqual(['B@2']);
    release.shift()?.();
    await waitFor(actor, (s) => s.context.runs === 1);
    await waitFor(actor, () => release.length === 1);
    release.shift()?.();
    await waitFor(actor, (s) => s.matches('idle') && s.context.runs === 2);
    expect(started).toEqual(['A@1', 'B@2']);
    expect(reported).toEqual(['A:true', 'B:false']);
    expect(actor.getSnapshot().context.activated).toBe(1);
    actor.send({ type: 'finetune.stop' });
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('counts a failed fine-tune and carries on', async () => {
    const failed: string[] = [];
    const machine = fineTunerMachine.provide({
      actors: { adapt: fromPromise<AdaptationOutcome, FineTuneJob>(async () => Promise.reject(new Error('not enough bars'))) },
      actions: { failed: (_, p) => failed.push(String((p.error as Error).message)) },
    });
    const actor = createActor(machine).start();
    actor.send({ type: 'finetune.requested', job: { trigger: trigger('A', 1), requestId: 'r1' } });
    await waitFor(actor, (s) => s.context.failures === 1 && s.matches('idle'));
    expect(failed).toEqual(['not enough bars']);
    expect(actor.getSnapshot().context.lastError).toBe('not enough bars');
  });
});

describe('predictor machine (injected effects)', () => {
  const o: PredictorBatchOutcome = { bars: 3, predictions: 2, replayed: 0, withheld: 0, warmingUp: 1, stale: 0, invalid: 0, triggers: 0, lane: 0, laneMismatches: 0, ms: 1 };
  it('prepares, runs, degrades and recovers on the loop’s events, stops via the loop', async () => {
    let stopAsked = false;
    const machine = predictorMachine.provide({
      actors: {
        prepare: fromPromise<void>(async () => undefined),
        consume: fromCallback(({ sendBack, receive }) => {
          sendBack({ type: 'predictor.batch', outcome: o });
          receive(() => {
            stopAsked = true;
            sendBack({ type: 'predictor.stopped' });
          });
        }),
      },
    });
    const actor = createActor(machine).start();
    await waitFor(actor, (s) => s.matches({ running: 'live' }));
    expect(actor.getSnapshot().context.stats.predictions).toBe(2);
    actor.send({ type: 'predictor.degraded', reason: 'db down' });
    expect(actor.getSnapshot().matches({ running: 'degraded' })).toBe(true);
    expect(actor.getSnapshot().context.lastError).toBe('db down');
    // A fast-lane run counts its predictions but says nothing about the durable path's health.
    actor.send({ type: 'predictor.lane', outcome: { bars: 4, predictions: 3, withheld: 1, ms: 1 } });
    expect(actor.getSnapshot().matches({ running: 'degraded' })).toBe(true);
    expect(actor.getSnapshot().context.stats).toMatchObject({ predictions: 5, lane: 3, withheld: 1, bars: 3 });
    actor.send({ type: 'predictor.recovered' });
    expect(actor.getSnapshot().matches({ running: 'live' })).toBe(true);
    actor.send({ type: 'predictor.stop' });
    await waitFor(actor, (s) => s.status === 'done');
    expect(stopAsked, 'the loop was asked to finish its batch and stop').toBe(true);
    expect(actor.getSnapshot().value).toBe('stopped');
  });

  it('ends in failed when preparing fails', async () => {
    const machine = predictorMachine.provide({ actors: { prepare: fromPromise<void>(async () => Promise.reject(new Error('no NATS'))) } });
    const actor = createActor(machine).start();
    await waitFor(actor, (s) => s.status === 'done');
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.lastError).toBe('no NATS');
  });
});

describe('confidenceWeighter machine', () => {
  it('goes prior → learning → established as outcomes are scored', () => {
    const actor = createActor(confidenceWeighterMachine, { input: { config: DEFAULT_WEIGHTER_CONFIG, establishedAfter: 3 } }).start();
    expect(actor.getSnapshot().value).toBe('prior');
    actor.send({ type: 'weights.joined', role: 'pretrained' });
    expect(actor.getSnapshot().value, 'joining is not evidence').toBe('prior');
    const f = { pretrained: { value: 0, pUp: 0.5 } };
    actor.send({ type: 'weights.scored', actual: 0.001, forecasts: f });
    expect(actor.getSnapshot().value).toBe('learning');
    actor.send({ type: 'weights.scored', actual: 0.001, forecasts: f });
    actor.send({ type: 'weights.scored', actual: -0.001, forecasts: f });
    expect(actor.getSnapshot().value).toBe('established');
    expect(actor.getSnapshot().context.state.scored).toBe(3);
  });
});
