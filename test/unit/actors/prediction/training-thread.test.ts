import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../../../config/index.ts';
import { NaiveBaseline, selectBackend } from '../../../../models/index.ts';
import {
  DEFAULT_FINE_TUNE,
  DEFAULT_PRETRAIN,
  fineTune,
  TrainingThread,
  FineTuneUnavailableError,
  pretrainRegimeModels,
  type PretrainedModel,
} from '../../../../actors/prediction/index.ts';
import { arReturns, barsFromReturns } from '../../../support/actors/prediction/fixtures.ts';

const spec = { lookback: 8, horizon: 1, volWindow: 10, context: false };
const config = { ...DEFAULT_FINE_TUNE, epochs: 3, patience: 3, heldOutWindows: 60 };
let base: PretrainedModel;
const thread = new TrainingThread({ log: createRootLogger('silent'), backend: 'wasm', timeoutMs: 120_000 });

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  const pre = await pretrainRegimeModels([{ name: 'ar', bars: barsFromReturns(arReturns(900, 0.5, 0.001, 31)) }], {
    ...DEFAULT_PRETRAIN,
    spec,
    hiddenUnits: [8],
    epochs: 2,
    minRegimeWindows: 1e9,
    versionPrefix: 'thread-base',
  });
  const any = pre.models[0];
  if (!any) throw new Error('no pretrained model');
  base = any;
});
afterAll(() => thread.close());

describe('training in a worker thread', () => {
  it('gives the same model as fine-tuning in process (same seed, same backend), while the main thread stays free', async () => {
    const bars = barsFromReturns(arReturns(500, -0.3, 0.001, 32));
    let beats = 0;
    const timer = setInterval(() => (beats += 1), 5);
    let inThread;
    try {
      inThread = await thread.fineTune(base.predictor, bars, 'ft-thread', config);
    } finally {
      clearInterval(timer);
    }
    const inProcess = await fineTune(base.predictor, bars, 'ft-local', config);
    try {
      expect(inThread.predictor.version).toBe('ft-thread');
      expect(inThread.report.trainWindows).toBe(inProcess.report.trainWindows);
      expect(inThread.report.heldOutWindows).toBe(inProcess.report.heldOutWindows);
      expect(inThread.heldOut.actual).toEqual(inProcess.heldOut.actual);
      expect(inThread.report.epochsRan).toBe(inProcess.report.epochsRan);
      expect(inThread.report.after.mae).toBeCloseTo(inProcess.report.after.mae, 9);
      // The decoded model serves: the same forecasts as the in-process one on the held-out windows.
      const a = inThread.predictor.predictBatch(inThread.heldOut.windows.slice(0, 5));
      const b = inProcess.predictor.predictBatch(inProcess.heldOut.windows.slice(0, 5));
      a.forEach((f, i) => expect(f?.value).toBeCloseTo(b[i]?.value ?? Number.NaN, 9));
      expect(beats, 'timers of the main thread kept firing during the fine-tune').toBeGreaterThan(0);
    } finally {
      inThread.predictor.dispose();
      inProcess.predictor.dispose();
    }
  });

  it('reports a model without weights as not retryable, and too few bars as retryable, from the worker', async () => {
    const naive = new NaiveBaseline('naive-zero', spec.lookback, 1);
    await expect(thread.fineTune(naive, [], 'x', config)).rejects.toMatchObject({ name: 'FineTuneUnavailableError', retryable: false });
    const few = barsFromReturns(arReturns(40, 0.1, 0.001, 33));
    const err = await thread.fineTune(base.predictor, few, 'few', config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FineTuneUnavailableError);
    expect((err as FineTuneUnavailableError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/training windows/);
  });

  it('pretrains the regime models in the worker: the same models as pretraining in process', async () => {
    const series = [{ name: 'ar', bars: barsFromReturns(arReturns(700, 0.4, 0.001, 36)) }];
    const cfg = { ...DEFAULT_PRETRAIN, spec, hiddenUnits: [8], epochs: 2, minRegimeWindows: 1e9, versionPrefix: 'thread-pre' };
    let beats = 0;
    const timer = setInterval(() => (beats += 1), 5);
    let inThread;
    try {
      inThread = await thread.pretrain(series, cfg);
    } finally {
      clearInterval(timer);
    }
    const inProcess = await pretrainRegimeModels(series, cfg);
    try {
      expect(inThread.models.map((m) => m.version)).toEqual(inProcess.models.map((m) => m.version));
      expect(inThread.fallbackRegimes).toEqual(inProcess.fallbackRegimes);
      const a = inThread.models[0];
      const b = inProcess.models[0];
      if (!a || !b) throw new Error('no model');
      expect(a.metrics.epochsRan).toBe(b.metrics.epochsRan);
      expect(a.metrics.bestValLoss).toBeCloseTo(b.metrics.bestValLoss, 9);
      expect(Buffer.compare(a.files.weightsBin, b.files.weightsBin), 'the weights are byte for byte the in-process ones').toBe(0);
      expect(beats, 'timers of the main thread kept firing during pretraining').toBeGreaterThan(0);
    } finally {
      for (const m of [...inThread.models, ...inProcess.models]) m.predictor.dispose();
    }
  });

  it('runs queued jobs one at a time in order, and refuses a job when the training queue is full', async () => {
    const t = new TrainingThread({ log: createRootLogger('silent'), backend: 'wasm', maxQueue: 1 });
    try {
      const bars = barsFromReturns(arReturns(500, -0.3, 0.001, 35));
      const done: string[] = [];
      const first = t.fineTune(base.predictor, bars, 'q1', config).then((r) => (done.push('q1'), r));
      // encodeModel is async: let the first job reach the worker before queuing the next.
      await new Promise((r) => setTimeout(r, 50));
      const second = t.fineTune(base.predictor, bars, 'q2', config).then((r) => (done.push('q2'), r));
      await new Promise((r) => setTimeout(r, 50));
      expect(t.queued(), 'the second job waits while the first runs').toBe(1);
      await expect(t.fineTune(base.predictor, bars, 'q3', config)).rejects.toThrow(/training queue is full/);
      const results = await Promise.all([first, second]);
      expect(done).toEqual(['q1', 'q2']);
      for (const r of results) r.predictor.dispose();
    } finally {
      await t.close();
    }
  });

  it('fails jobs in flight when closed, and refuses new ones', async () => {
    const t = new TrainingThread({ log: createRootLogger('silent'), backend: 'wasm' });
    const bars = barsFromReturns(arReturns(500, -0.3, 0.001, 34));
    const job = t.fineTune(base.predictor, bars, 'closing', config);
    const failed = expect(job).rejects.toBeInstanceOf(FineTuneUnavailableError);
    await new Promise((r) => setTimeout(r, 50));
    await t.close();
    await failed;
    await expect(t.fineTune(base.predictor, bars, 'after', config)).rejects.toThrow(/closed/);
  });
});
