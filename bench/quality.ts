// Data-quality costs on the real BTCUSDT minutes (../shared/data):
//
//   npx tsx bench/quality.ts [--runs 5] [--gaps 200] [--fill-runs 3]
//
// 1. gap detection: `findTimeGaps` over the whole file with `--gaps` carved holes,
//    and the incremental `observeBar` the backfill actor runs per bar (bars/s);
// 2. consistency checks: `checkWindow` over the whole file in 15-bar windows (µs/bar);
// 3. gap fill: a fresh database per run holds the carved file as live bars; the
//    backfill actor scans the whole range and fills every hole from the CSV
//    history (rows/s and gaps/s of scan + fill, database round trips included).
// Prints each run and the medians.
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { createActor, SimulatedClock, waitFor } from 'xstate';
import { backfillMachine } from '../actors/quality/index.ts';
import { createBackfillActors } from '../actors/quality/index.ts';
import { readBarsCsv, type BarRow } from '../market/index.ts';
import {
  checkWindow,
  createCalendar,
  createCsvDirHistory,
  DEFAULT_CHECK_CONFIG,
  emptyCheckState,
  findTimeGaps,
  observeBar,
  type DetectorState,
  type GapScope,
} from '../actors/quality/index.ts';
import { ensureTopology } from '../streams/index.ts';
import { startTestSystem } from '../test/helpers/system.ts';
import { BTCUSDT_CSV } from '../test/support/market/shared-data.ts';
import { carve, type Carve } from '../test/support/actors/quality/carve.ts';
import { HistoryDir, storeLiveBars } from '../test/support/actors/quality/fixtures.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    gaps: { type: 'string', default: '200' },
    'fill-runs': { type: 'string', default: '3' },
  },
});
const RUNS = Number(values.runs);
const GAPS = Number(values.gaps);
const FILL_RUNS = Number(values['fill-runs']);

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};
const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const bars: BarRow[] = (await readBarsCsv(BTCUSDT_CSV)).bars;
// Holes of 1..60 minutes spread evenly over the file.
const carves: Carve[] = Array.from({ length: GAPS }, (_, k) => {
  const start = 100 + Math.floor((k * (bars.length - 200)) / GAPS);
  return { name: `hole ${k}`, start, end: start + 1 + (k % 60) };
});
const carved = carve(bars, carves);
const holeRows = bars.length - carved.length;
const scope: GapScope = { venue: 'bench', symbol: 'BTCUSDT', calendar: createCalendar('always'), interval: '1m' };
const window = { from: bars[0]?.ts ?? 0, to: bars.at(-1)?.ts ?? 0 };
const times = carved.map((b) => b.ts);
console.log(`BTCUSDT 1m: ${bars.length} bars, ${GAPS} carved gaps (${holeRows} rows), ${RUNS} runs`);

// 1. Gap detection.
const batchRates: number[] = [];
const incrementalRates: number[] = [];
for (let r = 0; r < RUNS; r += 1) {
  let t = performance.now();
  const found = findTimeGaps(times, scope, window);
  batchRates.push(times.length / ((performance.now() - t) / 1000));
  if (found.length !== GAPS) throw new Error(`findTimeGaps found ${found.length} gaps, carved ${GAPS}`);
  t = performance.now();
  let state: DetectorState = {};
  let n = 0;
  for (const ts of times) {
    const seen = observeBar(state, { ts }, scope);
    state = seen.state;
    if (seen.gap) n += 1;
  }
  incrementalRates.push(times.length / ((performance.now() - t) / 1000));
  if (n !== GAPS) throw new Error(`observeBar found ${n} gaps, carved ${GAPS}`);
}
console.log(`gap detection, findTimeGaps (window scan): median ${fmt(median(batchRates))} bars/s  runs: ${batchRates.map((x) => fmt(x)).join(', ')}`);
console.log(`gap detection, observeBar (per bar):       median ${fmt(median(incrementalRates))} bars/s  runs: ${incrementalRates.map((x) => fmt(x)).join(', ')}`);

// 2. Consistency checks.
const perBar: number[] = [];
for (let r = 0; r < RUNS; r += 1) {
  let state = emptyCheckState();
  const t = performance.now();
  for (let i = 0; i < bars.length; i += 15) state = checkWindow(bars.slice(i, i + 15), state, DEFAULT_CHECK_CONFIG).state;
  perBar.push(((performance.now() - t) * 1000) / bars.length);
}
console.log(`consistency checks (15-bar windows):       median ${fmt(median(perBar), 2)} µs/bar  runs: ${perBar.map((x) => fmt(x, 2)).join(', ')}`);

// 3. Gap fill against PostgreSQL.
const rowRates: number[] = [];
const gapRates: number[] = [];
for (let r = 0; r < FILL_RUNS; r += 1) {
  const sys = await startTestSystem(`bench_quality_${r}`);
  const history = await HistoryDir.create();
  try {
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
    await history.link('bench', 'BTCUSDT', BTCUSDT_CSV);
    await storeLiveBars(sys.db, 'bench', 'BTCUSDT', carved);
    const provider = createCsvDirHistory({ dir: history.dir });
    await provider.fetchBars('bench', 'BTCUSDT', 0, 0); // parse the CSV once, outside the timing
    const actors = createBackfillActors({ db: sys.db, js: jetstream(sys.nc), provider, log: sys.log, feed: false });
    const t = performance.now();
    const actor = createActor(backfillMachine.provide({ actors }), {
      input: { venue: 'bench', symbol: 'BTCUSDT', scan: window, config: { jitter: false } },
      clock: new SimulatedClock(),
    });
    actor.start();
    const done = await waitFor(
      actor,
      (s) => s.context.stats.filled + s.context.stats.unfillable === GAPS && s.matches({ running: { fill: 'idle' } }),
      { timeout: 300_000 },
    );
    const seconds = (performance.now() - t) / 1000;
    actor.stop();
    if (done.context.stats.rows !== holeRows) throw new Error(`filled ${done.context.stats.rows} rows, carved ${holeRows}`);
    rowRates.push(holeRows / seconds);
    gapRates.push(GAPS / seconds);
    console.log(`  fill run ${r + 1}: ${GAPS} gaps / ${holeRows} rows in ${fmt(seconds * 1000)} ms`);
  } finally {
    await history.dispose();
    await sys.dispose();
  }
}
console.log(`gap fill (scan + record + fill + events):  median ${fmt(median(rowRates))} rows/s, ${fmt(median(gapRates), 1)} gaps/s`);
