// Hybrid predictor latency and throughput, 100 symbols replayed together.
//
//   npx tsx bench/predict.ts [--mode all|ticks|bars|engine] [--symbols 100] [--rate 5000]
//       [--minutes 40] [--warm 60] [--bar-minutes 300] [--seed 7]
//
// ticks:  the real path on a private nats-server + PostgreSQL: synthetic ticks of
//         N symbols (4 per bar) published to MD_TICKS paced at --rate ticks/s →
//         marketSync (store ticks, close bars, md.bar.1m) → predictor (features,
//         regime, one predictBatch per model per round, blend) → signal.pred (+ store).
//         Latency = prediction received (core subscription) − publish of the tick
//         that closed the bar (the first tick of the next minute). The first --warm
//         minutes fill the feature windows and are not measured.
// bars:   throughput: N × --bar-minutes bars are put in MD_BARS first, then the
//         predictor is started and timed until every bar is handled (published,
//         stored and acked): predictions/s through NATS and PostgreSQL.
// engine: the same bars straight into HybridEngine.step in batches of N symbols
//         (no I/O): the inference + blending ceiling.
// The served model: a small MLP ([32,16], lookback 24) pretrained for 1 epoch on
// synthetic bars, one per regime; fine-tuning is off (it is not the hot path).
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { startMarketSync } from '../actors/market-sync.service.ts';
import { startPredictors } from '../actors/predictor.service.ts';
import { barMessage, synthBars, tickMessages, type SynthBar } from '../market/index.ts';
import { selectBackend, type OhlcvBar } from '../models/index.ts';
import { DEFAULT_PRETRAIN, HybridEngine, pretrainRegimeModels, servingModels, StaticModelSource } from '../prediction/index.ts';
import { ORIGIN_HEADER, publishPipelined, type OutboundMessage } from '../streams/index.ts';
import { startTestSystem } from '../test/helpers/system.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'all' },
    symbols: { type: 'string', default: '100' },
    rate: { type: 'string', default: '5000' },
    minutes: { type: 'string', default: '40' },
    warm: { type: 'string', default: '60' },
    'bar-minutes': { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
  },
});
const SYMBOLS = Number(values.symbols);
const RATE = Number(values.rate);
const MINUTES = Number(values.minutes);
const WARM = Number(values.warm);
const BAR_MINUTES = Number(values['bar-minutes']);
const SEED = Number(values.seed);
const VENUE = 'bench';
const spec = { lookback: 24, horizon: 1, volWindow: 30, context: false };
const mode = values.mode ?? 'all';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

await selectBackend({ force: 'wasm' });
const t0 = performance.now();
const pretrainBars = new Map<string, OhlcvBar[]>();
for (const b of synthBars({ symbols: 2, minutes: 3_000, seed: 1_000 + SEED })) pretrainBars.set(b.symbol, [...(pretrainBars.get(b.symbol) ?? []), b]);
const pre = await pretrainRegimeModels([...pretrainBars].map(([name, bars]) => ({ name, bars })), {
  ...DEFAULT_PRETRAIN,
  spec,
  epochs: 1,
  minRegimeWindows: 600,
  versionPrefix: 'bench',
});
const models = new StaticModelSource(servingModels(pre));
console.log(`bench/predict: ${pre.models.length} pretrained MLPs (${pre.models.map((m) => m.regime).join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

/** Bars of every symbol, minute-major (all symbols of minute 0, then minute 1, ...). */
function bars(minutes: number): SynthBar[] {
  return [...synthBars({ symbols: SYMBOLS, minutes, seed: SEED })];
}

async function engineMode(): Promise<void> {
  const all = bars(BAR_MINUTES);
  const engine = new HybridEngine(models, { spec, firstFineTuneBars: 1e9 });
  let predictions = 0;
  const started = performance.now();
  for (let i = 0; i < all.length; i += SYMBOLS) {
    predictions += engine.step(all.slice(i, i + SYMBOLS).map((b) => ({ ...b, venue: VENUE }))).outputs.length;
  }
  const s = (performance.now() - started) / 1000;
  console.log(`engine (no I/O): ${all.length} bars, ${predictions} predictions in ${s.toFixed(2)} s → ${Math.round(predictions / s)} predictions/s (${Math.round(all.length / s)} bars/s)`);
}

async function barsMode(): Promise<void> {
  const sys = await startTestSystem('bench_predict_bars', { LOG_LEVEL: 'warn' });
  try {
    const warm = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: () => undefined, preloadBars: 0 });
    await warm.ready();
    await warm.stop();
    const all = bars(BAR_MINUTES);
    const js = jetstream(sys.nc);
    // Marked as published by marketSync (which stores bars itself), as on the real path: the predictor does not store them again.
    await publishPipelined(js, all.map((b) => ({ ...barMessage(VENUE, b.symbol, b), headers: { [ORIGIN_HEADER]: 'market-sync' } })), 2_048);
    const expected = all.length - SYMBOLS * (spec.volWindow + spec.lookback - 1);
    const started = performance.now();
    const h = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: () => undefined, preloadBars: 0 });
    while (h.actor.getSnapshot().context.stats.bars < all.length) await new Promise((r) => setTimeout(r, 5));
    const s = (performance.now() - started) / 1000;
    const st = h.actor.getSnapshot().context.stats;
    await h.stop();
    if (st.predictions !== expected) throw new Error(`expected ${expected} predictions, got ${st.predictions}`);
    console.log(
      `bars → predictor → signal.pred + predictions table: ${all.length} bars, ${st.predictions} predictions in ${s.toFixed(2)} s → ` +
        `${Math.round(st.predictions / s)} predictions/s (${st.batches} batches, mean ${Math.round(st.bars / st.batches)} bars)`,
    );
  } finally {
    await sys.dispose();
  }
}

async function ticksMode(): Promise<void> {
  const sys = await startTestSystem('bench_predict_ticks', { BAR_GRACE_MS: 3_600_000, LOG_LEVEL: 'warn', INGEST_BATCH_SIZE: 2_000 });
  try {
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    await sync.ready();
    const h = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: () => undefined, preloadBars: 0 });
    await h.ready();
    const all = bars(WARM + MINUTES + 1);
    const prev = new Map<string, number>();
    // Tick slots: per minute, tick k of every symbol, then tick k + 1 (time order).
    const slots: { msgs: OutboundMessage[]; closes: string[] }[] = [];
    for (let m = 0; m <= WARM + MINUTES; m += 1) {
      const minute = all.slice(m * SYMBOLS, (m + 1) * SYMBOLS);
      const perSymbol = minute.map((b) => {
        const t = tickMessages(VENUE, b.symbol, b, prev.get(b.symbol));
        prev.set(b.symbol, b.close);
        return t;
      });
      for (let k = 0; k < 4; k += 1) {
        slots.push({
          msgs: perSymbol.flatMap((t): OutboundMessage[] => {
            const msg = t[k];
            return msg ? [msg] : [];
          }),
          // The first tick of minute m closes the bar of minute m - 1.
          closes: k === 0 && m > 0 ? minute.map((b) => `${b.symbol}:${b.ts - 60_000}`) : [],
        });
      }
    }
    const closeAt = new Map<string, number>();
    const latencies: number[] = [];
    const barLatencies: number[] = [];
    const barAt = new Map<string, number>();
    let measuring = false;
    // Where the time goes: the closed bar's arrival on md.bar.1m splits the path in two.
    const barSub = sys.nc.subscribe(`md.bar.1m.${VENUE}.>`, {
      callback: (_err, msg) => {
        const b = msg.json<{ symbol: string; ts: number }>();
        if (measuring) barAt.set(`${b.symbol}:${b.ts}`, performance.now());
      },
    });
    let received = 0;
    const sub = sys.nc.subscribe(`signal.pred.${VENUE}.>`, {
      callback: (_err, msg) => {
        const p = msg.json<{ symbol: string; ts: number }>();
        received += 1;
        const at = closeAt.get(`${p.symbol}:${p.ts}`);
        const now = performance.now();
        if (measuring && at !== undefined) latencies.push(now - at);
        const bar = barAt.get(`${p.symbol}:${p.ts}`);
        if (measuring && bar !== undefined) barLatencies.push(now - bar);
      },
    });
    const js = jetstream(sys.nc);
    const warmSlots = WARM * 4;
    // Warm-up at full speed, then wait until the predictor has caught up.
    for (const s of slots.slice(0, warmSlots)) await publishPipelined(js, s.msgs);
    while (h.actor.getSnapshot().context.stats.bars < SYMBOLS * (WARM - 1)) await new Promise((r) => setTimeout(r, 10));
    measuring = true;
    const measured = slots.slice(warmSlots);
    const started = performance.now();
    let sent = 0;
    for (const s of measured) {
      // Pace: the n-th tick goes out at n / RATE seconds.
      const due = started + (sent / RATE) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const now = performance.now();
      for (const key of s.closes) closeAt.set(key, now);
      await publishPipelined(js, s.msgs);
      sent += s.msgs.length;
    }
    const pubSeconds = (performance.now() - started) / 1000;
    const want = (MINUTES + 1) * SYMBOLS;
    const deadline = Date.now() + 30_000;
    while (latencies.length < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    barSub.unsubscribe();
    const st = h.actor.getSnapshot().context.stats;
    console.log(
      `ticks → marketSync → bars → predictor → signal.pred: ${sent} ticks in ${pubSeconds.toFixed(2)} s (${Math.round(sent / pubSeconds)} ticks/s offered), ` +
        `${latencies.length} of ${want} predictions timed (${received} received in all), predictor batches ${st.batches} (mean ${(st.bars / Math.max(1, st.batches)).toFixed(1)} bars)`,
    );
    console.log(
      `tick→prediction latency: p50 ${pct(latencies, 0.5).toFixed(2)} ms, p90 ${pct(latencies, 0.9).toFixed(2)} ms, p99 ${pct(latencies, 0.99).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms`,
    );
    console.log(
      `  of which bar→prediction (md.bar.1m received → signal.pred received): p50 ${pct(barLatencies, 0.5).toFixed(2)} ms, p99 ${pct(barLatencies, 0.99).toFixed(2)} ms (${barLatencies.length} samples)`,
    );
    await h.stop();
    await sync.stop();
  } finally {
    await sys.dispose();
  }
}

if (mode === 'all' || mode === 'engine') await engineMode();
if (mode === 'all' || mode === 'bars') await barsMode();
if (mode === 'all' || mode === 'ticks') await ticksMode();
for (const m of models.models()) m.predictor.dispose();
process.exit(0);
