// Walk-forward comparison of the hybrid predictor on a real symbol it has never seen.
//
//   npx tsx bench/hybrid-walkforward.ts [--csv ../shared/data/btcusdt_binance_spot_1m_2024-03.csv]
//       [--bars 0 (= all)] [--synth-symbols 4] [--synth-minutes 8000] [--epochs 8]
//       [--fine-tune-every 1440] [--bootstrap 500] [--seed 42] [--out FILE.md]
//
// Phase 1: per-regime models pretrained on synthetic bars only (market/synth.ts).
// Then the CSV is replayed bar by bar through the HybridEngine as a brand-new
// symbol: cold start on the pretrained models, the online model fine-tuned from
// them (first after 400 bars, then on schedule or drift) and activated only when
// it beats the incumbent on a held-out recent window. Every bar's forecasts are
// scored against the next bar: hybrid, pretrained-only, online-only (bars where an
// online model exists) and the naive baselines, with moving-block bootstrap CIs.
// Fine-tuning runs inline here (the candidate is available from the next bar), where
// live it runs in the background and lands a few seconds later.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createRootLogger } from '../config/index.ts';
import { readBarsCsv, synthBars, synthSymbol } from '../market/index.ts';
import { buildWindows, createBaselines, selectBackend, windowAt, type FeatureSpec, type Forecast, type OhlcvBar } from '../models/index.ts';
import {
  adaptOnline,
  DEFAULT_FINE_TUNE,
  DEFAULT_PRETRAIN,
  HybridEngine,
  pretrainRegimeModels,
  scoresTable,
  scoreSeries,
  servingModels,
  StaticModelSource,
  type AdaptationOutcome,
  type PairedDiff,
} from '../actors/prediction/index.ts';
import { LocalGateSink } from './support/local-gate-sink.ts';

const { values } = parseArgs({
  options: {
    csv: { type: 'string', default: '../shared/data/btcusdt_binance_spot_1m_2024-03.csv' },
    bars: { type: 'string', default: '0' },
    'synth-symbols': { type: 'string', default: '4' },
    'synth-minutes': { type: 'string', default: '8000' },
    epochs: { type: 'string', default: '8' },
    'fine-tune-every': { type: 'string', default: '1440' },
    bootstrap: { type: 'string', default: '500' },
    seed: { type: 'string', default: '42' },
    out: { type: 'string' },
  },
});
const log = createRootLogger(process.env.LOG_LEVEL ?? 'warn');
const spec: FeatureSpec = { lookback: 24, horizon: 1, volWindow: 30, context: false };
const seed = Number(values.seed);

await selectBackend({ force: 'wasm' });
const t0 = performance.now();

// Phase 1: pretraining on synthetic data only.
const synth = new Map<string, OhlcvBar[]>();
for (const b of synthBars({ symbols: Number(values['synth-symbols']), minutes: Number(values['synth-minutes']), seed })) {
  const list = synth.get(b.symbol) ?? [];
  list.push({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume });
  synth.set(b.symbol, list);
}
const pre = await pretrainRegimeModels(
  [...synth].map(([name, bars]) => ({ name, bars })),
  { ...DEFAULT_PRETRAIN, spec, epochs: Number(values.epochs), seed, versionPrefix: `pre-synth-s${seed}` },
  { log },
);
const pretrainMs = performance.now() - t0;
console.log(`pretrained ${pre.models.length} models on ${synth.size} synthetic series (${synthSymbol(0)}..) in ${(pretrainMs / 1000).toFixed(1)} s`);
for (const m of pre.models) console.log(`  ${m.version}: ${m.metrics.trainWindows} train / ${m.metrics.valWindows} val windows, val loss ${m.metrics.bestValLoss.toFixed(4)}`);
if (pre.fallbackRegimes.length) console.log(`  regimes served by the any model: ${pre.fallbackRegimes.join(', ')}`);

// The real symbol, never seen in training.
const read = await readBarsCsv(values.csv);
const limit = Number(values.bars);
const bars = limit > 0 ? read.bars.slice(0, limit) : read.bars;
const venue = 'binance';
const symbol = 'BTCUSDT';
const models = new StaticModelSource(servingModels(pre));
const sink = new LocalGateSink(models);
const engine = new HybridEngine(models, { spec, fineTuneEvery: Number(values['fine-tune-every']) }, { now: () => 0 });
const adaptations: AdaptationOutcome[] = [];
type Row = { ts: number; hybrid: Forecast; pretrained: Forecast; online: Forecast | undefined; weights: Record<string, number> };
const rows = new Map<number, Row>();
let firstPredictionBar = -1;
const tReplay = performance.now();
for (let i = 0; i < bars.length; i += 1) {
  const bar = bars[i];
  if (!bar) continue;
  const r = engine.step([{ ...bar, venue, symbol }]);
  for (const o of r.outputs) {
    if (firstPredictionBar < 0) firstPredictionBar = i + 1;
    const pretrained = o.components.find((c) => c.role === 'pretrained')?.forecast;
    if (!pretrained) continue;
    rows.set(o.prediction.ts, {
      ts: o.prediction.ts,
      hybrid: { value: o.prediction.value, pUp: o.prediction.pUp },
      pretrained,
      online: o.components.find((c) => c.role === 'online')?.forecast,
      weights: Object.fromEntries(o.components.map((c) => [c.role, c.weight])),
    });
  }
  for (const t of r.triggers) {
    try {
      const a = await adaptOnline(t, sink, DEFAULT_FINE_TUNE);
      adaptations.push(a);
    } catch (err) {
      log.warn({ err, reason: t.reason }, 'fine-tune skipped');
    }
  }
}
const replayMs = performance.now() - tReplay;

// Naive baselines on the same windows, and the realised next-bar log returns.
const set = buildWindows(bars, spec);
const baselines = createBaselines(spec.lookback, spec.horizon);
const actual: number[] = [];
const series = new Map<string, Forecast[]>([['hybrid', []], ['pretrained-only', []], ...baselines.map((b) => [b.kind, []] as [string, Forecast[]])]);
const onlineActual: number[] = [];
const onlineSeries = new Map<string, Forecast[]>([['hybrid', []], ['pretrained-only', []], ['online-only', []], ...baselines.map((b) => [b.kind, []] as [string, Forecast[]])]);
for (let i = 0; i < set.labelled; i += 1) {
  const row = rows.get(set.ts[i] ?? -1);
  const target = set.target[i];
  if (!row || target === undefined || !Number.isFinite(target)) continue;
  const w = windowAt(set, i);
  const naive = baselines.map((b) => [b.kind, b.predict(w) ?? { value: 0, pUp: 0.5 }] as const);
  actual.push(target);
  series.get('hybrid')?.push(row.hybrid);
  series.get('pretrained-only')?.push(row.pretrained);
  for (const [k, f] of naive) series.get(k)?.push(f);
  if (row.online) {
    onlineActual.push(target);
    onlineSeries.get('hybrid')?.push(row.hybrid);
    onlineSeries.get('pretrained-only')?.push(row.pretrained);
    onlineSeries.get('online-only')?.push(row.online);
    for (const [k, f] of naive) onlineSeries.get(k)?.push(f);
  }
}

const opts = { resamples: Number(values.bootstrap), blockLength: 60, seed };
const all = scoreSeries(actual, series, opts);
const withOnline = onlineActual.length > 100 ? scoreSeries(onlineActual, onlineSeries, opts) : undefined;
const diffs: PairedDiff[] = [];
for (const other of ['pretrained-only', 'naive-zero', 'naive-ewma']) for (const m of ['mae', 'brier', 'directionAccuracy'] as const) diffs.push(all.diff('hybrid', other, m));
if (withOnline) for (const m of ['mae', 'brier', 'directionAccuracy'] as const) diffs.push(withOnline.diff('hybrid', 'online-only', m));
const activated = adaptations.filter((a) => a.decision.activated);
const weightsAtEnd = [...rows.values()].at(-1)?.weights ?? {};
const meanOnlineWeight = (() => {
  const ws = [...rows.values()].filter((r) => r.online).map((r) => r.weights.online ?? 0);
  return ws.length ? ws.reduce((a, b) => a + b, 0) / ws.length : Number.NaN;
})();

const fmtDiff = (d: PairedDiff) => {
  const scale = d.metric === 'mae' ? 1e4 : 1;
  const v = (x: number) => (x * scale).toFixed(d.metric === 'mae' ? 4 : 5);
  const verdict = d.aBetter ? `${d.a} better` : d.bBetter ? `${d.b} better` : 'no significant difference';
  return `| ${d.a} − ${d.b} | ${d.metric}${d.metric === 'mae' ? ' ×1e-4' : ''} | ${v(d.diff.value)} [${v(d.diff.lo)}, ${v(d.diff.hi)}] | ${verdict} |`;
};
const report = [
  `### Hybrid walk-forward: ${symbol} 1m (${bars.length} bars, ${new Date(bars[0]?.ts ?? 0).toISOString()} → ${new Date(bars.at(-1)?.ts ?? 0).toISOString()})`,
  '',
  `Pretrained on synthetic data only (${synth.size} series × ${values['synth-minutes']} bars, seed ${seed}): ${pre.models.map((m) => m.version).join(', ')}` +
    (pre.fallbackRegimes.length ? `; served by \`any\`: ${pre.fallbackRegimes.join(', ')}` : '') +
    `. First prediction after bar ${firstPredictionBar} (= volWindow ${spec.volWindow} + lookback ${spec.lookback}).`,
  `Fine-tunes: ${adaptations.length} (${JSON.stringify(adaptations.reduce<Record<string, number>>((m, a) => ({ ...m, [a.trigger.reason]: (m[a.trigger.reason] ?? 0) + 1 }), {}))}), activated ${activated.length}; ` +
    `mean held-out MAE change of candidates ${(100 * (adaptations.reduce((s, a) => s + a.report.maeImprovement, 0) / Math.max(1, adaptations.length))).toFixed(2)} % (positive = better than the pretrained parent).`,
  `Online weight: mean ${meanOnlineWeight.toFixed(3)} over bars with an online model; final weights ${JSON.stringify(Object.fromEntries(Object.entries(weightsAtEnd).map(([k, v]) => [k, Number(v.toFixed(3))])))}.`,
  `Bootstrap: ${opts.resamples} moving-block resamples, blocks of ${opts.blockLength} bars. Pretraining ${(pretrainMs / 1000).toFixed(1)} s, replay + fine-tuning ${(replayMs / 1000).toFixed(1)} s.`,
  '',
  '**All bars with a prediction**',
  '',
  scoresTable(all.scores),
  '',
  ...(withOnline ? ['**Bars where an online model was serving**', '', scoresTable(withOnline.scores), ''] : ['(too few bars with an online model for a separate table)', '']),
  '**Paired differences (hybrid − other; CI excluding 0 = significant)**',
  '',
  '| pair | metric | diff [95% CI] | verdict |',
  '|---|---|---|---|',
  ...diffs.map(fmtDiff),
  '',
].join('\n');
console.log(`\n${report}`);
if (values.out) await writeFile(values.out, report);
for (const m of models.models()) m.predictor.dispose();
