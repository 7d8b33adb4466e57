// Hot swap under load: ticks replayed through the live path (marketSync -> bars ->
// predictor -> signal.pred) at a fixed rate while a new model version is activated
// N times (KV model_active -> KvModelSource load + warm + swap).
//
//   npx tsx bench/hotswap.ts [--rate 2500] [--symbols 10] [--minutes 1000] [--swaps 20]
//                            [--swap-every-ms 600] [--swap-window-ms 300] [--predictor hybrid|minimal]
//
// Checks, in the same run:
//  - the replay rate reached (ticks/s);
//  - every expected prediction (one per bar with a full feature window, per symbol)
//    was published exactly once (stream and table), none missing, none extra;
//  - each prediction names exactly one pretrained version, its value equals that
//    version's model recomputed offline on the same window (no half-loaded model),
//    and per symbol versions only move forward in activation order (swaps land
//    between bars);
//  - p99 of bar -> prediction latency inside swap windows (activation .. +window)
//    vs outside them (steady state): must be within 2x.
// Exit code 1 when a check fails.
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { startMarketSync } from '../actors/ingest/index.ts';
import { startPredictors } from '../actors/prediction/index.ts';
import { KvModelSource } from '../actors/lifecycle/index.ts';
import { activateVersion, registerCandidate } from '../actors/lifecycle/index.ts';
import { startServingLoop } from './support/serving-loop.ts';
import { percentile } from '../actors/lifecycle/index.ts';
import { GLOBAL_SCOPE } from '../actors/lifecycle/index.ts';
import { barToTicks, synthBars } from '../market/index.ts';
import {
  buildWindows,
  decodeModel,
  NeuralPredictor,
  packArtifact,
  readArtifactDir,
  runTraining,
  selectBackend,
  unpackArtifact,
  windowAt,
  type OhlcvBar,
  type PackedArtifact,
} from '../models/index.ts';
import { readBars } from '../sql/index.ts';
import { connectNats, msgIds, predictionSchema, publishPipelined, subjects, type Prediction, type Tick } from '../streams/index.ts';
import { readStream } from '../test/helpers/stream-reader.ts';
import { startTestSystem } from '../test/helpers/system.ts';
import { registryEnv, tinyTrainConfig, TINY_SPEC } from '../test/support/actors/lifecycle/fixtures.ts';
import { btcBars, tempDir } from '../test/support/models/fixtures.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '2500' },
    symbols: { type: 'string', default: '10' },
    minutes: { type: 'string', default: '1000' },
    swaps: { type: 'string', default: '20' },
    'swap-every-ms': { type: 'string', default: '600' },
    'swap-window-ms': { type: 'string', default: '300' },
    predictor: { type: 'string', default: 'hybrid' },
  },
});
const RATE = Number(values.rate);
const SYMBOLS = Number(values.symbols);
const MINUTES = Number(values.minutes);
const SWAPS = Number(values.swaps);
const SWAP_EVERY = Number(values['swap-every-ms']);
const SWAP_WINDOW = Number(values['swap-window-ms']);
const PREDICTOR = values.predictor;
if (PREDICTOR !== 'hybrid' && PREDICTOR !== 'minimal') throw new Error('--predictor must be hybrid or minimal');

const checks: { name: string; ok: boolean; detail: string }[] = [];
const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

const sys = await startTestSystem('bench_hotswap', { BAR_GRACE_MS: 1_000, LOG_LEVEL: 'warn' });
const dir = await tempDir('hotswap');
try {
  const { env } = await registryEnv(sys);

  // Two tiny models with different weights; 1 + SWAPS versions alternate between them.
  const backend = await selectBackend({ force: 'wasm' });
  const trainBars = await btcBars(900, 5_000);
  const packs: PackedArtifact[] = [];
  for (const seed of [1, 2]) {
    const r = await runTraining(tinyTrainConfig(dir.path, `hotswap-${seed}`, seed), { bars: trainBars, source: 'btc slice', backend });
    packs.push(packArtifact(await readArtifactDir(r.paths.best)));
  }
  // Registered just before each activation, as a retrain would (retention keeps the newest 10 candidates).
  const versions: string[] = [];
  const artifactOf = new Map<string, PackedArtifact>();
  const register = async (i: number): Promise<string> => {
    const pack = packs[i % 2];
    if (!pack) throw new Error('no artifact');
    const v = await registerCandidate(sys.db, { scope: GLOBAL_SCOPE, role: 'pretrained', kind: 'mlp', runId: `hotswap-${(i % 2) + 1}`, artifact: pack });
    versions.push(v);
    artifactOf.set(v, pack);
    return v;
  };
  await activateVersion(env, { version: await register(0), reason: 'bench start', actor: 'bench' });

  const loads: number[] = [];
  const source = await KvModelSource.start({ nc: sys.nc, db: sys.db, log: sys.log, name: 'bench', onSwap: (s) => loads.push(s.loadMs) });

  // Observer on its own connection: arrival times of bars and predictions.
  const obs = await connectNats(sys.settings, 'bench-observer');
  const barAt = new Map<string, number>();
  const predAt = new Map<string, number>();
  const barSub = obs.subscribe('md.bar.1m.>', {
    callback: (_e, m) => {
      const t = performance.now();
      const b = m.json<{ venue: string; symbol: string; ts: number }>();
      const k = `${b.venue}.${b.symbol}.${b.ts}`;
      if (!barAt.has(k)) barAt.set(k, t);
    },
  });
  const predSub = obs.subscribe('signal.pred.>', {
    callback: (_e, m) => {
      const t = performance.now();
      const p = m.json<{ venue: string; symbol: string; ts: number }>();
      const k = `${p.venue}.${p.symbol}.${p.ts}`;
      if (!predAt.has(k)) predAt.set(k, t);
    },
  });

  const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
  await sync.ready();
  let stopPredictor: () => Promise<void>;
  if (PREDICTOR === 'hybrid') {
    const p = startPredictors({
      nc: sys.nc,
      db: sys.db,
      settings: sys.settings,
      log: sys.log,
      models: source,
      durable: 'bench_predictor',
      spec: TINY_SPEC,
      fineTune: false,
      retrainCommands: false,
      preloadBars: 0,
      quality: () => 'healthy',
    });
    await p.ready();
    stopPredictor = () => p.stop();
  } else {
    const loop = await startServingLoop({ nc: sys.nc, db: sys.db, log: sys.log, models: source, spec: TINY_SPEC, durable: 'bench_minimal' });
    stopPredictor = () => loop.stop();
  }

  // Ticks, minute by minute for every symbol.
  const ticks: Tick[] = [];
  const prevClose = new Map<string, number>();
  for (const bar of synthBars({ symbols: SYMBOLS, minutes: MINUTES, seed: 42 })) {
    const pc = prevClose.get(bar.symbol);
    ticks.push(...barToTicks(bar, { venue: 'bench', symbol: bar.symbol, ...(pc !== undefined ? { prevClose: pc } : {}) }));
    prevClose.set(bar.symbol, bar.close);
  }
  const js = jetstream(sys.nc);
  const swapAt: number[] = [];
  let swapsDone = 0;
  const swapper = (async () => {
    await new Promise((r) => setTimeout(r, 1_500));
    for (let i = 1; i <= SWAPS; i += 1) {
      const v = await register(i);
      swapAt.push(performance.now());
      await activateVersion(env, { version: v, reason: `bench swap ${i}`, actor: 'bench' });
      swapsDone += 1;
      await new Promise((r) => setTimeout(r, SWAP_EVERY));
    }
  })();

  const tickT0 = performance.now();
  const slice = Math.max(1, Math.round(RATE / 20)); // 50 ms slices
  for (let i = 0; i < ticks.length; i += slice) {
    const due = tickT0 + (i / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await publishPipelined(
      js,
      ticks.slice(i, i + slice).map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) })),
      1_024,
    );
  }
  const tickSeconds = (performance.now() - tickT0) / 1000;
  await swapper;
  const replayRate = ticks.length / tickSeconds;
  check('replay rate', replayRate >= 2_000, `${ticks.length} ticks in ${tickSeconds.toFixed(1)} s = ${replayRate.toFixed(0)} ticks/s (need >= 2000)`);
  check('activations', swapsDone === SWAPS, `${swapsDone} of ${SWAPS} new versions activated during the replay`);

  // Expected: one prediction per bar that completes a feature window, per symbol.
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `SYN${String(i).padStart(3, '0')}`);
  const barsBySymbol = new Map<string, OhlcvBar[]>();
  let expected = 0;
  const expectedKeys = new Set<string>();
  const settleEnd = Date.now() + 60_000;
  for (;;) {
    expected = 0;
    expectedKeys.clear();
    for (const s of symbols) {
      const bars = (await readBars(sys.db, 'bench', s)).map((b) => ({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume }));
      barsBySymbol.set(s, bars);
      const set = buildWindows(bars, TINY_SPEC);
      for (let i = 0; i < set.count; i += 1) expectedKeys.add(`bench.${s}.${set.ts[i] ?? 0}`);
      expected += set.count;
    }
    const totalBars = [...barsBySymbol.values()].reduce((n, b) => n + b.length, 0);
    if ((totalBars === SYMBOLS * MINUTES && predAt.size >= expected) || Date.now() > settleEnd) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await new Promise((r) => setTimeout(r, 1_000));
  await stopPredictor();
  await sync.stop();
  barSub.unsubscribe();
  predSub.unsubscribe();

  const stream = await readStream(sys.nc, 'SIGNALS', 'signal.pred.>');
  const preds: Prediction[] = stream.map((m) => predictionSchema.parse(m.data));
  const perKey = new Map<string, number>();
  for (const p of preds) perKey.set(`${p.venue}.${p.symbol}.${p.ts}`, (perKey.get(`${p.venue}.${p.symbol}.${p.ts}`) ?? 0) + 1);
  const dupes = [...perKey.values()].filter((n) => n > 1).length;
  const missing = [...expectedKeys].filter((k) => !perKey.has(k)).length;
  const extra = [...perKey.keys()].filter((k) => !expectedKeys.has(k)).length;
  const rows = Number((await sys.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM predictions WHERE venue = 'bench'`)).rows[0]?.n ?? 0);
  check(
    'exactly once',
    dupes === 0 && missing === 0 && extra === 0 && rows === expected,
    `expected ${expected}, published ${preds.length} (duplicates ${dupes}, missing ${missing}, unexpected ${extra}), stored ${rows}`,
  );

  // Versions: one per prediction, forward only per symbol, values reproduce the named model.
  const order = new Map(versions.map((v, i) => [v, i]));
  // versions is complete here: the swapper finished before the checks.
  const models = new Map<string, NeuralPredictor>();
  for (const [i, pack] of packs.entries()) {
    const loaded = await decodeModel(unpackArtifact(pack.bytes, pack.sha256), { source: `pack ${i}` });
    models.set(pack.sha256, new NeuralPredictor(loaded.model, loaded.preprocessor));
  }
  let mixed = 0;
  let backwards = 0;
  let wrongValue = 0;
  let maxErr = 0;
  const usedVersions = new Set<string>();
  const windowsBySymbol = new Map(symbols.map((s) => [s, buildWindows(barsBySymbol.get(s) ?? [], TINY_SPEC)]));
  const lastIdx = new Map<string, number>();
  for (const p of [...preds].sort((a, b) => a.ts - b.ts)) {
    const comps = p.components.filter((c) => c.role === 'pretrained');
    const versionsNamed = new Set(comps.map((c) => c.version));
    if (versionsNamed.size !== 1) {
      mixed += 1;
      continue;
    }
    const c = comps[0];
    if (!c) continue;
    usedVersions.add(c.version);
    const idx = order.get(c.version) ?? -1;
    if (idx < (lastIdx.get(p.symbol) ?? -1)) backwards += 1;
    lastIdx.set(p.symbol, idx);
    const pack = artifactOf.get(c.version);
    const model = pack ? models.get(pack.sha256) : undefined;
    const set = windowsBySymbol.get(p.symbol);
    const wi = set ? set.ts.indexOf(p.ts) : -1;
    if (!model || !set || wi < 0) {
      wrongValue += 1;
      continue;
    }
    const f = model.predict(windowAt(set, wi));
    const err = Math.abs((f?.value ?? Number.NaN) - c.value);
    maxErr = Math.max(maxErr, err);
    if (!(err <= 1e-6 * Math.max(1, Math.abs(c.value)))) wrongValue += 1;
  }
  check('one version per prediction', mixed === 0, `${mixed} predictions name more or less than one pretrained version`);
  check('versions switch between bars, forward only', backwards === 0, `${backwards} predictions went back to an older version; ${usedVersions.size} versions named`);
  check('values come from the named version', wrongValue === 0, `${wrongValue} component values differ from the named version's model (max |error| ${maxErr.toExponential(2)})`);

  // Latency: bar published -> prediction published, inside vs outside swap windows.
  const during: number[] = [];
  const steady: number[] = [];
  for (const [k, tp] of predAt) {
    const tb = barAt.get(k);
    if (tb === undefined) continue;
    const inSwap = swapAt.some((s) => tb >= s && tb <= s + SWAP_WINDOW);
    (inSwap ? during : steady).push(tp - tb);
  }
  during.sort((a, b) => a - b);
  steady.sort((a, b) => a - b);
  const p99d = percentile(during, 99);
  const p99s = percentile(steady, 99);
  const p50d = percentile(during, 50);
  const p50s = percentile(steady, 50);
  check(
    'p99 latency during swaps <= 2x steady',
    during.length > 0 && steady.length > 0 && p99d <= 2 * p99s,
    `during swaps p50 ${p50d.toFixed(1)} ms p99 ${p99d.toFixed(1)} ms (${during.length} bars); steady p50 ${p50s.toFixed(1)} ms p99 ${p99s.toFixed(1)} ms (${steady.length} bars); ratio ${(p99d / p99s).toFixed(2)}`,
  );
  loads.sort((a, b) => a - b);
  console.log(
    `hot swap bench (${PREDICTOR} predictor): ${SYMBOLS} symbols x ${MINUTES} minutes, ${SWAPS} activations every ${SWAP_EVERY} ms; ` +
      `KV swap load+warm p50 ${percentile(loads, 50).toFixed(1)} ms, max ${(loads.at(-1) ?? 0).toFixed(1)} ms`,
  );
  for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  for (const m of models.values()) m.dispose();
  await source.stop();
  await obs.close();
  process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
} finally {
  await sys.dispose();
  await dir.dispose();
}
