import { describe, expect, it } from 'vitest';
import type { OhlcvBar, Predictor } from '../../../../models/index.ts';
import { blendWeightsSchema, type EngineBar, type HybridEngine, type ServingModel } from '../../../../actors/prediction/index.ts';
import { predictionSchema } from '../../../../streams/index.ts';

/** Wraps a model so the suite can count its predictBatch calls (micro-batching). */
export function counted(model: ServingModel, counter: { calls: number }): ServingModel {
  const p = model.predictor;
  const predictor: Predictor = {
    kind: p.kind,
    lookback: p.lookback,
    predict: (w) => p.predict(w),
    predictBatch: (ws) => {
      counter.calls += 1;
      return p.predictBatch(ws);
    },
    dispose: () => p.dispose(),
  };
  return { ...model, predictor };
}

export type ContractSetup = {
  /** A fresh predictor over the same models each call. */
  make(): HybridEngine;
  /** Real bars of one series, at least barsNeeded + 40. */
  bars: readonly OhlcvBar[];
  /** predictBatch calls so far over all models, if counted. */
  calls?: () => number;
  /** Distinct models a fresh predictor serves one symbol with before any fine-tune. */
  modelsPerRound?: number;
};

const on = (bars: readonly OhlcvBar[], venue: string, symbol: string): EngineBar[] => bars.map((b) => ({ ...b, venue, symbol }));

/**
 * The contract every hybrid predictor passes: warm-up is "not ready" (nothing
 * published, status says so) until exactly `barsNeeded` bars; the same models
 * and bars give the same predictions (fresh instance, other batch shapes);
 * replaying bars already seen re-emits the same predictions and changes nothing;
 * a batch of many symbols costs one predictBatch per model; every output is a
 * valid Prediction with weights summing to 1.
 */
export function predictorContract(name: string, setup: () => Promise<ContractSetup>): void {
  describe(`hybrid predictor contract: ${name}`, () => {
    it('is not ready while warming up and predicts from exactly barsNeeded bars on', async () => {
      const { make, bars } = await setup();
      const engine = make();
      const need = engine.barsNeeded;
      const early = engine.step(on(bars.slice(0, need - 1), 'v', 'S'));
      expect(early.outputs, `${need - 1} bars: nothing to publish`).toEqual([]);
      expect(early.warmingUp, 'every early bar counted as warming up').toBe(need - 1);
      const st = engine.status('v', 'S');
      expect(st.state).toBe('warming_up');
      expect(st.message, 'the status says so').toContain(`warming up: ${need - 1} of ${need} bars`);
      const first = engine.step(on(bars.slice(need - 1, need), 'v', 'S'));
      expect(first.outputs.length, `bar ${need} gives the first prediction`).toBe(1);
      expect(engine.status('v', 'S').state).toBe('ready');
    });

    it('is deterministic: a fresh instance and another batch shape give the same predictions', async () => {
      const { make, bars } = await setup();
      const n = Math.min(bars.length, make().barsNeeded + 40);
      const a = make();
      const one = bars.slice(0, n).flatMap((b) => a.step(on([b], 'v', 'S')).outputs);
      const b = make();
      const whole = b.step(on(bars.slice(0, n), 'v', 'S')).outputs;
      expect(whole.length, 'same number of predictions').toBe(one.length);
      whole.forEach((o, i) => {
        const p = one[i]?.prediction;
        expect(o.prediction.ts).toBe(p?.ts);
        expect(Math.abs(o.prediction.value - (p?.value ?? NaN)), `value at ${i}`).toBeLessThan(1e-9);
        expect(o.prediction.components.map((c) => c.version)).toEqual(p?.components.map((c) => c.version));
      });
      const c = make();
      const again = c.step(on(bars.slice(0, n), 'v', 'S')).outputs;
      expect(again.map((o) => o.prediction), 'same models and bars → identical predictions').toEqual(whole.map((o) => o.prediction));
    });

    it('replays bars already seen as the same predictions without changing its state', async () => {
      const { make, bars } = await setup();
      const engine = make();
      const n = Math.min(bars.length - 10, engine.barsNeeded + 30);
      const first = engine.step(on(bars.slice(0, n), 'v', 'S')).outputs;
      const replay = engine.step(on(bars.slice(n - 20, n), 'v', 'S'));
      expect(replay.outputs.length, 'the last 20 predictions are re-emitted').toBe(20);
      expect(replay.outputs.every((o) => o.replayed), 'marked as replayed').toBe(true);
      expect(replay.outputs.map((o) => o.prediction), 'identical to the first time').toEqual(first.slice(-20).map((o) => o.prediction));
      const fresh = make();
      fresh.step(on(bars.slice(0, n), 'v', 'S'));
      const next = on(bars.slice(n, n + 5), 'v', 'S');
      expect(engine.step(next).outputs.map((o) => o.prediction), 'the replay left no trace in later predictions').toEqual(
        fresh.step(next).outputs.map((o) => o.prediction),
      );
    });

    it('micro-batches: many symbols in one step cost one predictBatch per model', async () => {
      const s = await setup();
      if (!s.calls) return;
      const engine = s.make();
      const need = engine.barsNeeded;
      const symbols = Array.from({ length: 10 }, (_, i) => `S${i}`);
      for (const sym of symbols) engine.step(on(s.bars.slice(0, need), 'v', sym));
      const before = s.calls();
      const batch = symbols.map((sym) => ({ ...(s.bars[need] ?? s.bars[0]), venue: 'v', symbol: sym }) as EngineBar);
      const out = engine.step(batch);
      expect(out.outputs.length, 'one prediction per symbol').toBe(10);
      expect(s.calls() - before, '10 symbols, one tensor call per model').toBe(s.modelsPerRound ?? 1);
      const alone = s.make();
      const solo = alone.step(on(s.bars.slice(0, need + 1), 'v', 'S3')).outputs.at(-1)?.prediction;
      const batched = out.outputs.find((o) => o.prediction.symbol === 'S3')?.prediction;
      expect(Math.abs((batched?.value ?? NaN) - (solo?.value ?? NaN)), 'batching does not change a symbol’s forecast').toBeLessThan(1e-6 * Math.max(1e-4, Math.abs(solo?.value ?? 0)) + 1e-12);
    });

    it('emits valid predictions and weights (weights sum to 1, every component named)', async () => {
      const { make, bars } = await setup();
      const engine = make();
      const outs = engine.step(on(bars.slice(0, engine.barsNeeded + 20), 'v', 'S')).outputs;
      expect(outs.length).toBe(21);
      const every = engine.config.weightsEvery;
      expect(outs.filter((o) => o.weights).length, `a weights message with the first and every ${every}-th prediction`).toBe(Math.ceil(21 / every));
      const last = outs.filter((o) => o.weights).at(-1)?.weights;
      expect(last?.history.length, 'its history window covers the bars in between').toBe(Math.min(engine.config.weightsHistory, 1 + every * (Math.ceil(21 / every) - 1)));
      for (const o of outs) {
        const p = predictionSchema.safeParse(o.prediction);
        expect(p.success, `prediction schema: ${JSON.stringify(p.error?.issues ?? [])}`).toBe(true);
        if (o.weights) expect(blendWeightsSchema.safeParse(o.weights).success, 'weights schema').toBe(true);
        const sum = o.prediction.components.reduce((a, c) => a + c.weight, 0);
        expect(Math.abs(sum - 1), 'component weights sum to 1').toBeLessThan(1e-9);
        const blended = o.prediction.components.reduce((a, c) => a + c.weight * c.value, 0);
        expect(Math.abs(blended - o.prediction.value), 'value = Σ wᵢ·valueᵢ').toBeLessThan(1e-12);
      }
    });
  });
}
