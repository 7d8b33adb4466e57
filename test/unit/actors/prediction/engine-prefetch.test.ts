import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_PRETRAIN, HybridEngine, pretrainRegimeModels, servingModels, StaticModelSource, type EngineOutput } from '../../../../actors/prediction/index.ts';
import { synthBars } from '../../../../market/index.ts';
import { selectBackend } from '../../../../models/index.ts';

const spec = { lookback: 8, horizon: 1, volWindow: 10, context: false };
let models: StaticModelSource;

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  const series = new Map<string, ReturnType<typeof synthBars> extends Iterable<infer B> ? B[] : never>();
  for (const b of synthBars({ symbols: 2, minutes: 1_500, seed: 91 })) series.set(b.symbol, [...(series.get(b.symbol) ?? []), b]);
  const pre = await pretrainRegimeModels([...series].map(([name, bars]) => ({ name, bars })), {
    ...DEFAULT_PRETRAIN,
    spec,
    hiddenUnits: [8],
    epochs: 1,
    minRegimeWindows: 150,
    versionPrefix: 'prefetch',
  });
  models = new StaticModelSource(servingModels(pre));
});

const bars = () => [...synthBars({ symbols: 3, minutes: 400, seed: 92 })].map((b) => ({ ...b, venue: 'v' }));
const summary = (o: EngineOutput) => ({
  symbol: o.prediction.symbol,
  ts: o.prediction.ts,
  regime: o.prediction.regime,
  components: o.prediction.components.map((c) => `${c.role}:${c.version}`),
  value: o.prediction.value,
  pUp: o.prediction.pUp,
});

describe('catching up: every round of a batch predicted in one call per model', () => {
  it('gives the outputs of stepping bar by bar, with a handful of predictBatch calls instead of one per round', () => {
    const all = bars();
    const calls = (fn: () => void) => {
      const spies = models.snapshot('v', 'x').pretrained.map((m) => vi.spyOn(m.predictor, 'predictBatch'));
      fn();
      const n = spies.reduce((sum, s) => sum + s.mock.calls.length, 0);
      for (const s of spies) s.mockRestore();
      return n;
    };
    const oneByOne = new HybridEngine(models, { spec, firstFineTuneBars: 1e9 });
    const stepped: EngineOutput[] = [];
    const perRound = calls(() => {
      for (let i = 0; i < all.length; i += 3) stepped.push(...oneByOne.step(all.slice(i, i + 3)).outputs);
    });
    const together = new HybridEngine(models, { spec, firstFineTuneBars: 1e9 });
    let batched: EngineOutput[] = [];
    const prefetched = calls(() => {
      batched = together.step(all).outputs;
    });
    expect(batched.length).toBe(stepped.length);
    expect(new Set(stepped.map((o) => o.prediction.regime)).size, 'the bars cross regimes (the model choice matters)').toBeGreaterThan(1);
    const a = stepped.map(summary);
    const b = batched.map(summary);
    a.forEach((x, i) => {
      const y = b[i];
      expect(y?.symbol).toBe(x.symbol);
      expect(y?.ts).toBe(x.ts);
      expect(y?.regime).toBe(x.regime);
      expect(y?.components).toEqual(x.components);
      expect(y?.value).toBeCloseTo(x.value, 6);
      expect(y?.pUp).toBeCloseTo(x.pUp, 6);
    });
    expect(perRound, 'bar by bar: a call per round').toBeGreaterThanOrEqual(380);
    expect(prefetched, `one batch: one call per model (${models.snapshot('v', 'x').pretrained.length} models)`).toBeLessThanOrEqual(models.snapshot('v', 'x').pretrained.length);
  });
});
