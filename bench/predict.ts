// Hybrid predictor latency and throughput, 100 symbols replayed together.
//
//   npx tsx bench/predict.ts [--mode all|ticks|bars|engine|floor|minimal] [--symbols 100] [--rate 5000]
//       [--minutes 40] [--warm 60] [--bar-minutes 300] [--seed 7] [--no-lane]
//
// ticks:  the real path on a private nats-server + PostgreSQL: synthetic ticks of
//         N symbols (4 per bar) published to MD_TICKS paced at --rate ticks/s →
//         marketSync (store ticks, close bars, md.bar.1m; closed bars also handed to
//         the predictor in memory, the fast lane, unless --no-lane) → predictor
//         (features, regime, one predictBatch per model per round, blend) →
//         signal.pred (+ store). The feed and its subscriber run on a worker thread
//         (tick-feeder.worker.ts). Latency = prediction received − publish of the tick
//         that closed the bar (the first tick of the next minute; stamped as that tick
//         goes out, its payload encoded beforehand). The first --warm
//         minutes fill the feature windows and are not measured.
// bars:   throughput: N × --bar-minutes bars are put in MD_BARS first, then the
//         predictor is started and timed until every bar is handled (published,
//         stored and acked): predictions/s through NATS and PostgreSQL.
// floor:  the ticks mode's feed and subscriber with an echo in place of the system
//         (see floorMode): the share of the latency that is transport on this machine.
// minimal: the floor plus the least work any implementation must do (fold ticks into
//         bars, one engine step per burst, publish the predictions): a lower bound.
// engine: the same bars straight into HybridEngine.step in batches of N symbols
//         (no I/O): the inference + blending ceiling.
// The served model: a small MLP ([32,16], lookback 24) pretrained for 1 epoch on
// synthetic bars, one per regime; fine-tuning is off (it is not the hot path).
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { BarLane } from '../actors/ingest/index.ts';
import { createConfidenceWeighters } from '../actors/prediction/index.ts';
import { startMarketSync } from '../actors/ingest/index.ts';
import { minuteOf } from '../actors/ingest/index.ts';
import { startPredictors } from '../actors/prediction/index.ts';
import { barMessage, synthBars, tickMessages, type SynthBar } from '../market/index.ts';
import { DEFAULT_SIGNAL_SETTINGS, selectBackend, warmupBars, type OhlcvBar } from '../models/index.ts';
import { DEFAULT_PRETRAIN, HybridEngine, type EngineBar, pretrainRegimeModels, servingModels, StaticModelSource } from '../actors/prediction/index.ts';
import { AckPolicy } from '@nats-io/jetstream';
import { ackPublisher, encodeJson, ensureDurable, ensureTopology, ORIGIN_HEADER, publishPipelined, PullPump, subjects } from '../streams/index.ts';
import { startTestSystem } from '../test/helpers/system.ts';
import type { FeederInput, FeederResult, FeederTick } from './tick-feeder.worker.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'all' },
    symbols: { type: 'string', default: '100' },
    rate: { type: 'string', default: '5000' },
    minutes: { type: 'string', default: '40' },
    warm: { type: 'string', default: '60' },
    'bar-minutes': { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    'no-lane': { type: 'boolean', default: false },
    // Bars mode: the predictor's SIGNAL_HORIZONS (default the shipped list), e.g. --horizons 1 for the 1-minute path alone.
    horizons: { type: 'string' },
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

const utf8 = new TextDecoder();

const gcLine = (what: string, pauses: readonly number[], seconds: number): string => {
  const ms = pauses.reduce((a, b) => a + b, 0);
  return (
    `${what}: ${pauses.length} pauses, ${ms.toFixed(0)} ms (${((ms / (seconds * 1000)) * 100).toFixed(1)} % of the time), ` +
    `median ${pct(pauses, 0.5).toFixed(2)} ms, p90 ${pct(pauses, 0.9).toFixed(2)} ms, max ${Math.max(0, ...pauses).toFixed(2)} ms`
  );
};

/** Collects the main thread's GC pauses (ms) from now until `stop()`. */
function gcPauses(): { stop(): Promise<number[]> } {
  const pauses: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push(e.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    async stop() {
      // Entries are delivered on a later turn of the event loop.
      await new Promise((r) => setTimeout(r, 50));
      observer.disconnect();
      return pauses;
    },
  };
}
const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

await selectBackend({ force: 'wasm' });
const t0 = performance.now();
const pretrainBars = new Map<string, OhlcvBar[]>();
for (const b of synthBars({ symbols: 2, minutes: 3_000, seed: 1_000 + SEED })) pretrainBars.set(b.symbol, [...(pretrainBars.get(b.symbol) ?? []), b]);
const pretrainSet = [...pretrainBars].map(([name, bars]) => ({ name, bars }));
const pre = await pretrainRegimeModels(pretrainSet, { ...DEFAULT_PRETRAIN, spec, epochs: 1, minRegimeWindows: 600, versionPrefix: 'bench' });
const models = new StaticModelSource(servingModels(pre));
console.log(`bench/predict: ${pre.models.length} pretrained MLPs (${pre.models.map((m) => m.regime).join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

/** Bars of every symbol, minute-major (all symbols of minute 0, then minute 1, ...). */
function bars(minutes: number): SynthBar[] {
  return [...synthBars({ symbols: SYMBOLS, minutes, seed: SEED })];
}

/** One engine pass over the bars with the given horizons: throughput and the per-step (one minute of N symbols) latency. */
async function enginePass(
  all: readonly SynthBar[],
  source: StaticModelSource,
  horizons: readonly number[],
  label: string,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  // The weight keepers the predictor uses: one confidence-weighter machine per symbol.
  const engine = new HybridEngine(source, { spec, firstFineTuneBars: 1e9, signals: { ...DEFAULT_SIGNAL_SETTINGS, horizons } }, { weightKeeper: createConfidenceWeighters() });
  let predictions = 0;
  const batches = [];
  for (let i = 0; i < all.length; i += SYMBOLS) batches.push(all.slice(i, i + SYMBOLS).map((b) => ({ ...b, venue: VENUE })));
  const steps: number[] = [];
  const gc = gcPauses();
  const started = performance.now();
  for (const batch of batches) {
    const t = performance.now();
    predictions += engine.step(batch).outputs.length;
    steps.push(performance.now() - t);
  }
  const s = (performance.now() - started) / 1000;
  const pauses = await gc.stop();
  engine.stop();
  // Steps before the first prediction are warm-up: not measured.
  const measured = steps.slice(warmupBars(spec));
  const r = { perSecond: predictions / s, p50: pct(measured, 0.5), p99: pct(measured, 0.99) };
  console.log(
    `engine (no I/O), horizons ${label}: ${all.length} bars, ${predictions} predictions in ${s.toFixed(2)} s → ${Math.round(r.perSecond)} predictions/s; ` +
      `step of ${SYMBOLS} symbols p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`,
  );
  console.log(gcLine('engine GC', pauses, s));
  return r;
}

async function engineMode(): Promise<void> {
  const all = bars(BAR_MINUTES);
  // As shipped, the learned models have a head per horizon: the all-horizons pass serves those.
  const horizons = DEFAULT_SIGNAL_SETTINGS.horizons;
  const t = performance.now();
  const withHeads = await pretrainRegimeModels(pretrainSet, { ...DEFAULT_PRETRAIN, spec: { ...spec, horizons: [...horizons] }, epochs: 1, minRegimeWindows: 600, versionPrefix: 'bench-h' });
  const headModels = new StaticModelSource(servingModels(withHeads));
  console.log(`bench/predict: ${withHeads.models.length} pretrained MLPs with heads for ${horizons.map((h) => `${h}m`).join(',')} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // Alternating passes, so drift of the machine's speed falls on both alike; medians of the ratios.
  const one: { perSecond: number; p50: number }[] = [];
  const every: { perSecond: number; p50: number }[] = [];
  for (let round = 0; round < 3; round += 1) {
    one.push(await enginePass(all, models, [1], '1m only, 1-minute heads'));
    every.push(await enginePass(all, headModels, horizons, `${horizons.map((h) => `${h}m`).join(',')}, a head per horizon`));
  }
  const median = (xs: number[]) => pct(xs, 0.5);
  const throughput = median(one.map((o, i) => o.perSecond / (every[i]?.perSecond ?? Number.NaN)));
  const latency = median(every.map((e, i) => e.p50 / (one[i]?.p50 ?? Number.NaN)));
  console.log(`cost of the extra horizons (median of 3 paired passes): throughput 1m-only / all = ${throughput.toFixed(2)}×, step p50 all / 1m-only = ${latency.toFixed(2)}×`);
}

async function barsMode(): Promise<void> {
  const sys = await startTestSystem('bench_predict_bars', { LOG_LEVEL: 'warn', ...(values.horizons !== undefined ? { SIGNAL_HORIZONS: values.horizons } : {}) });
  try {
    const warm = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: () => undefined, preloadBars: 0 });
    await warm.ready();
    await warm.stop();
    const all = bars(BAR_MINUTES);
    const js = ackPublisher(sys.nc);
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

/** Tick slots of WARM + MINUTES + 1 minutes: per minute, tick k of every symbol, then tick k + 1 (time order). */
function tickSlots(): FeederInput['slots'] {
  const all = bars(WARM + MINUTES + 1);
  const prev = new Map<string, number>();
  const slots: FeederInput['slots'] = [];
  for (let m = 0; m <= WARM + MINUTES; m += 1) {
    const minute = all.slice(m * SYMBOLS, (m + 1) * SYMBOLS);
    const perSymbol = minute.map((b) => {
      const t = tickMessages(VENUE, b.symbol, b, prev.get(b.symbol));
      prev.set(b.symbol, b.close);
      return t;
    });
    for (let k = 0; k < 4; k += 1) {
      slots.push({
        msgs: perSymbol.flatMap((t, i): FeederTick[] => {
          const msg = t[k];
          const bar = minute[i];
          if (!msg || !bar) return [];
          // The first tick of minute m closes the bar of minute m - 1.
          const closes = k === 0 && m > 0 ? `${bar.symbol}:${bar.ts - 60_000}` : undefined;
          return [{ subject: msg.subject, payload: msg.payload, ...(msg.msgId ? { msgId: msg.msgId } : {}), ...(closes ? { closes } : {}) }];
        }),
      });
    }
  }
  return slots;
}

/**
 * Runs the feed on its own thread (as other processes do in production): the
 * warm-up minutes at full speed, then `warmedUp()` (wait there until the system
 * has caught up), then the measured minutes paced at --rate.
 */
async function runFeeder(natsUrl: string, waitForBars: boolean, warmedUp: () => Promise<void>): Promise<FeederResult> {
  const input: FeederInput = { natsUrl, venue: VENUE, rate: RATE, warmSlots: WARM * 4, slots: tickSlots(), waitForBars };
  const feederUrl = new URL('./tick-feeder.worker.ts', import.meta.url).href;
  const feeder = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(feederUrl)}); })`, { eval: true, workerData: input });
  const messages: { type: string; result?: FeederResult }[] = [];
  let wake: (() => void) | undefined;
  feeder.on('message', (m: { type: string; result?: FeederResult }) => {
    messages.push(m);
    wake?.();
  });
  const failed = new Promise<never>((_, reject) => feeder.once('error', reject));
  const next = async (type: string) => {
    for (;;) {
      const i = messages.findIndex((m) => m.type === type);
      if (i >= 0) return messages.splice(i, 1)[0];
      await Promise.race([new Promise<void>((r) => (wake = r)), failed]);
    }
  };
  try {
    await next('warmed');
    await warmedUp();
    feeder.postMessage('go');
    const r = (await next('done'))?.result;
    if (!r) throw new Error('the feeder sent no result');
    return r;
  } finally {
    await feeder.terminate();
  }
}

const latencyLine = (what: string, xs: readonly number[]) =>
  `${what}: p50 ${pct(xs, 0.5).toFixed(2)} ms, p90 ${pct(xs, 0.9).toFixed(2)} ms, p99 ${pct(xs, 0.99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;

async function ticksMode(): Promise<void> {
  const sys = await startTestSystem('bench_predict_ticks', { BAR_GRACE_MS: 3_600_000, LOG_LEVEL: 'warn', INGEST_BATCH_SIZE: 2_000 });
  try {
    // As in `signals run`: marketSync hands closed bars to the predictor of its process (unless --no-lane).
    const lane = values['no-lane'] ? undefined : new BarLane();
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, ...(lane ? { lane } : {}) });
    await sync.ready();
    const h = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: () => undefined, preloadBars: 0, ...(lane ? { lane } : {}) });
    await h.ready();
    let gc: ReturnType<typeof gcPauses> | undefined;
    const r = await runFeeder(sys.settings.NATS_URL, true, async () => {
      // Warm-up went at full speed: wait until the predictor has caught up.
      while (h.actor.getSnapshot().context.stats.bars < SYMBOLS * (WARM - 1)) await new Promise((r) => setTimeout(r, 10));
      gc = gcPauses();
    });
    const pauses = (await gc?.stop()) ?? [];
    const want = (MINUTES + 1) * SYMBOLS;
    const st = h.actor.getSnapshot().context.stats;
    console.log(
      `ticks → marketSync → predictor → signal.pred${lane ? ' (fast lane on)' : ' (fast lane off: bars via MD_BARS)'}: ${r.sent} ticks in ${r.pubSeconds.toFixed(2)} s ` +
        `(${Math.round(r.sent / r.pubSeconds)} ticks/s offered), ${r.latencies.length} of ${want} predictions timed (${r.received} received in all), ` +
        `${st.lane} predictions on the lane, ${st.laneMismatches} lane/stored bar mismatches`,
    );
    console.log(latencyLine('tick→prediction latency', r.latencies));
    console.log(
      `tick→md.bar.1m (the stored bar, durable path): p50 ${pct(r.barLatencies, 0.5).toFixed(2)} ms, p99 ${pct(r.barLatencies, 0.99).toFixed(2)} ms; ` +
        `${r.beforeBar} of ${r.latencies.length} predictions arrived before their bar`,
    );
    console.log(gcLine('main thread GC while measured', pauses, r.pubSeconds));
    await h.stop();
    await sync.stop();
  } finally {
    await sys.dispose();
  }
}

/**
 * The transport's floor: the same feed, stream, pull consumer and subscriber,
 * with the system replaced by an echo that, at each bar-closing tick, publishes a
 * small message on the bar's prediction subject (JetStream, with a msg id, as the
 * predictor does). Nothing is validated, stored or predicted. What it measures
 * (publish → stream → pull delivery → publish → subscriber, all on this
 * machine's two cores) is a part of every tick→prediction latency no
 * implementation of the system can remove.
 *
 * With `withEngine` (--mode minimal) the echo does the least work any
 * implementation of the issue must do: it folds ticks into bars, runs one
 * HybridEngine step per burst of closed bars (the micro-batch) and publishes the
 * real predictions. No validation, storage, actors or dead letters: a lower
 * bound for the real path on the same machine.
 */
async function floorMode(withEngine: boolean): Promise<void> {
  const sys = await startTestSystem(withEngine ? 'bench_predict_minimal' : 'bench_predict_floor', { LOG_LEVEL: 'warn' });
  const engine = withEngine ? new HybridEngine(models, { spec, firstFineTuneBars: 1e9 }, { weightKeeper: createConfidenceWeighters() }) : undefined;
  try {
    const jsm = await ensureTopology(sys.nc, {
      maxAgeDays: sys.settings.STREAM_MAX_AGE_DAYS,
      maxBytesMb: sys.settings.STREAM_MAX_BYTES_MB,
      duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S,
    });
    await ensureDurable(jsm, { stream: 'MD_TICKS', durable: 'floor', ackWaitMs: 30_000, maxAckPending: 50_000, ackPolicy: AckPolicy.All });
    const js = ackPublisher(sys.nc);
    const open = new Map<string, EngineBar & { volume: number; high: number; low: number; close: number }>();
    const closed: EngineBar[] = [];
    let handled = 0;
    let failed: unknown;
    /** Counts `bars` as handled once `p` (their publication) resolves. */
    const track = (p: Promise<unknown>, bars: number) => p.then(() => (handled += bars), (err: unknown) => (failed ??= err));
    // One engine step for all the bars a delivery closed (the pump delivers a pull batch synchronously).
    let scheduled = false;
    const step = () => {
      scheduled = false;
      const batch = closed.splice(0);
      const out = (engine?.step(batch).outputs ?? [])
        .filter((o) => !o.withheld)
        .map((o) => ({ subject: subjects.prediction(o.prediction.venue, o.prediction.symbol), payload: o.prediction, msgId: `${o.prediction.venue}:${o.prediction.symbol}:${o.prediction.ts}:${o.prediction.horizon}` }));
      void track(publishPipelined(js, out, 4_096), batch.length);
    };
    const pump = new PullPump(sys.nc, {
      stream: 'MD_TICKS',
      durable: 'floor',
      batch: 2_000,
      wantsMore: () => true,
      onMessage: (m) => {
        const t = JSON.parse(utf8.decode(m.data)) as { symbol: string; ts: number; price: number; size: number };
        const minute = minuteOf(t.ts);
        const bar = open.get(t.symbol);
        if (bar === undefined || minute > bar.ts) {
          open.set(t.symbol, { venue: VENUE, symbol: t.symbol, ts: minute, open: t.price, high: t.price, low: t.price, close: t.price, volume: t.size });
          if (bar !== undefined && !engine) {
            const payload = { venue: VENUE, symbol: t.symbol, ts: bar.ts };
            void track(js.publish(subjects.prediction(VENUE, t.symbol), encodeJson(payload), { msgID: `${VENUE}:${t.symbol}:${bar.ts}:floor` }), 1);
          }
          if (bar !== undefined && engine) {
            closed.push(bar);
            if (!scheduled) setImmediate(step);
            scheduled = true;
          }
        } else {
          bar.high = Math.max(bar.high, t.price);
          bar.low = Math.min(bar.low, t.price);
          bar.close = t.price;
          bar.volume += t.size;
        }
        m.ack();
      },
    });
    pump.start();
    const r = await runFeeder(sys.settings.NATS_URL, false, async () => {
      while (handled < SYMBOLS * (WARM - 1) && failed === undefined) await new Promise((r) => setTimeout(r, 10));
    });
    await pump.close();
    if (failed !== undefined) throw failed;
    const what = engine ? 'minimal system (fold ticks, one engine step per burst, publish; nothing validated or stored)' : 'transport floor (echo instead of the system)';
    console.log(`${what}: ${r.sent} ticks in ${r.pubSeconds.toFixed(2)} s (${Math.round(r.sent / r.pubSeconds)} ticks/s offered), ${r.latencies.length} bars timed`);
    console.log(latencyLine(engine ? 'tick→prediction latency' : 'tick→echo latency', r.latencies));
  } finally {
    await sys.dispose();
  }
}

if (mode === 'all' || mode === 'engine') await engineMode();
if (mode === 'all' || mode === 'bars') await barsMode();
if (mode === 'all' || mode === 'ticks') await ticksMode();
if (mode === 'all' || mode === 'floor') await floorMode(false);
if (mode === 'all' || mode === 'minimal') await floorMode(true);
for (const m of models.models()) m.predictor.dispose();
process.exit(0);
