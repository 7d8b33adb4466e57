// History → live handoff, as shipped: `signals run --live` with its default settings
// (fine-tuning on, in its worker thread; the real gate; the schedule and feedback
// rules on) on a private nats-server + PostgreSQL.
//
//   npx tsx bench/handoff.ts [--symbols 10] [--history 2700] [--live 300] [--bar-ms 250] [--seed 11]
//
// N new symbols' history (--history one-minute bars each, as 4 ticks per bar) is
// published at full speed, then --live more bars at a steady pace (one minute of
// every symbol each --bar-ms). Printed:
//   - catch-up: from the last history tick until the predictions of every history
//     bar are out (the last history bar closes with the first live tick, so the bars
//     up to the one before it), and until the live latency settles (the first live
//     minute from which every bar's latency stays ≤ 100 ms);
//   - bar close → prediction latency of the live part: p50, p99, max (from the
//     publish of the tick that closes the bar to the prediction received here);
//   - the event-loop delay p99 of the system process, from `signals.status`
//     (10 s windows), once settled and while working off the history, and the
//     fine-tunes judged in the settled part;
//   - the floor of the same run: a NATS round trip from this process to the server
//     and back.
// Synthetic bars (market/synth), so it runs in any clone.
import { parseArgs } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import type { SystemStatus } from '../actors/system/index.ts';
import { synthBars, tickMessages, type SynthBar } from '../market/index.ts';
import { publishPipelined, type TimedMessage } from '../streams/index.ts';
import { startTestSystem } from '../test/helpers/system.ts';
import { spawnSystem } from '../test/system/harness.ts';

const { values } = parseArgs({
  options: {
    symbols: { type: 'string', default: '10' },
    history: { type: 'string', default: '2700' },
    live: { type: 'string', default: '300' },
    'bar-ms': { type: 'string', default: '250' },
    seed: { type: 'string', default: '11' },
  },
});
const SYMBOLS = Number(values.symbols);
const HISTORY = Number(values.history);
const LIVE = Number(values.live);
const BAR_MS = Number(values['bar-ms']);
const SEED = Number(values.seed);
const VENUE = 'handoff';
const SETTLED_MS = 100;

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

/** Ticks of every symbol, one array per minute (the first tick of minute m closes the bar of minute m − 1). */
function minutesOfTicks(bars: readonly SynthBar[]): { ts: number; ticks: TimedMessage[] }[] {
  const prev = new Map<string, number>();
  const out: { ts: number; ticks: TimedMessage[] }[] = [];
  for (let i = 0; i < bars.length; i += SYMBOLS) {
    const minute = bars.slice(i, i + SYMBOLS);
    const ticks = minute.flatMap((b) => {
      const t = tickMessages(VENUE, b.symbol, b, prev.get(b.symbol));
      prev.set(b.symbol, b.close);
      return t;
    });
    out.push({ ts: minute[0]?.ts ?? 0, ticks });
  }
  return out;
}

/** Median NATS round trip (publish → the server → this subscriber), the transport floor of this run. */
async function roundTripFloor(nc: NatsConnection): Promise<number> {
  const subject = `_bench.floor.${process.pid}`;
  const times: number[] = [];
  const sub = nc.subscribe(subject);
  const iter = sub[Symbol.asyncIterator]();
  for (let i = 0; i < 200; i += 1) {
    const t = performance.now();
    nc.publish(subject, '');
    await iter.next();
    times.push(performance.now() - t);
  }
  sub.unsubscribe();
  return pct(times, 0.5);
}

const sys = await startTestSystem('bench_handoff', { LOG_LEVEL: 'warn' });
const proc = spawnSystem(['run', '--live'], { NATS_URL: sys.settings.NATS_URL, DATABASE_URL: sys.settings.DATABASE_URL, LOG_LEVEL: 'warn' });
try {
  const bootStart = performance.now();
  // The system answers `signals.status` with phase `running` once Phase 1 is done and its children are up.
  for (;;) {
    const s = await status(sys.nc);
    if (s?.phase.startsWith('running')) break;
    if (proc.child.exitCode !== null) throw new Error(`signals run exited: ${proc.output().slice(-2_000)}`);
    await sleep(200);
  }
  console.log(`bench/handoff: signals run --live up (Phase 1 included) in ${fmt(performance.now() - bootStart)}`);

  const all = [...synthBars({ symbols: SYMBOLS, minutes: HISTORY + LIVE + 1, seed: SEED })];
  const minutes = minutesOfTicks(all);
  const history = minutes.slice(0, HISTORY);
  const live = minutes.slice(HISTORY);
  const closedAt = new Map<number, number>(); // bar ts → publish time of the tick that closes it
  const received = new Map<number, number[]>(); // bar ts → arrival of each symbol's prediction
  const pred = sys.nc.subscribe(`signal.pred.${VENUE}.>`, {
    callback: (_err, msg) => {
      const at = performance.now();
      const p = msg.json<{ ts: number }>();
      const list = received.get(p.ts) ?? [];
      list.push(at);
      received.set(p.ts, list);
    },
  });
  const fineTunes: { at: number; kind: string }[] = []; // `at` on the wall clock
  const events = sys.nc.subscribe('model.events.>', {
    callback: (_err, msg) => {
      const e = msg.json<{ kind: string; actor: string; role: string }>();
      if (e.role === 'online' && (e.kind === 'registered' || e.kind === 'rejected' || e.kind === 'deployed')) fineTunes.push({ at: Date.now(), kind: e.kind });
    },
  });
  // Event-loop windows of the system process, on its wall clock (this machine's).
  const loopWindows = new Map<number, { start: number; end: number; p99Ms: number; maxMs: number }>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const s = await status(sys.nc);
      if (s) loopWindows.set(s.eventLoop.at, { start: s.eventLoop.at - s.eventLoop.windowMs, end: s.eventLoop.at, p99Ms: s.eventLoop.p99Ms, maxMs: s.eventLoop.maxMs });
      await sleep(2_000);
    }
  })();

  // Where the backlog sits: history bars stored by the ingest path vs predicted, sampled every 100 ms.
  const stages: { at: number; stored: number; predicted: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await sys.db.query<{ n: string }>('SELECT count(*) AS n FROM bars_1m WHERE venue = $1', [VENUE]);
      let predicted = 0;
      for (const l of received.values()) predicted += l.length;
      stages.push({ at: performance.now(), stored: Number(r.rows[0]?.n ?? 0), predicted });
      await sleep(100);
    }
  })();

  const js = jetstream(sys.nc);
  const floorMs = await roundTripFloor(sys.nc);
  const histStart = performance.now();
  for (const [i, m] of history.entries()) {
    const prev = history[i - 1];
    if (prev) closedAt.set(prev.ts, performance.now());
    await publishPipelined(js, m.ticks, 4_096);
  }
  const histEnd = performance.now();
  const histTicks = history.reduce((n, m) => n + m.ticks.length, 0);
  console.log(`history: ${SYMBOLS} symbols × ${HISTORY} bars = ${histTicks} ticks published in ${fmt(histEnd - histStart)} (${Math.round(histTicks / ((histEnd - histStart) / 1000))} ticks/s)`);

  const histEndWall = Date.now();
  const liveStart = performance.now();
  for (const [i, m] of live.entries()) {
    const prev = i === 0 ? history.at(-1) : live[i - 1];
    const due = liveStart + i * BAR_MS;
    await sleep(due - performance.now());
    if (prev) closedAt.set(prev.ts, performance.now());
    await publishPipelined(js, m.ticks);
  }
  const liveEndWall = Date.now();
  // Every bar but the last closes; wait for their predictions (or give up after a minute).
  const lastClosed = live.at(-2)?.ts ?? 0;
  const waitUntil = performance.now() + 60_000;
  while ((received.get(lastClosed)?.length ?? 0) < SYMBOLS && performance.now() < waitUntil) await sleep(50);
  polling = false;
  sampling = false;
  await Promise.all([poller, sampler]);
  pred.unsubscribe();
  events.unsubscribe();

  // Catch-up: the predictions of the history bar before the last (bars of a symbol are
  // predicted in order, so every earlier one is out by then; the first bars of a new
  // symbol only fill its feature window and get none).
  const caughtUpBar = history.at(-2)?.ts ?? 0;
  const historyDone = (received.get(caughtUpBar)?.length ?? 0) >= SYMBOLS;
  const lastHistoryPrediction = Math.max(...(received.get(caughtUpBar) ?? [Number.NaN]));
  const latencies: number[] = [];
  const perMinuteWorst: number[] = [];
  const liveBars = [history.at(-1), ...live.slice(0, -1)].filter((m): m is NonNullable<typeof m> => m !== undefined);
  let missing = 0;
  for (const m of liveBars) {
    const closed = closedAt.get(m.ts);
    const got = received.get(m.ts) ?? [];
    missing += Math.max(0, SYMBOLS - got.length);
    if (closed === undefined) continue;
    const ls = got.map((t) => t - closed);
    latencies.push(...ls);
    perMinuteWorst.push(ls.length < SYMBOLS ? Number.POSITIVE_INFINITY : Math.max(...ls));
  }
  let settleIdx = perMinuteWorst.length;
  for (let i = perMinuteWorst.length - 1; i >= 0; i -= 1) {
    if ((perMinuteWorst[i] ?? Number.POSITIVE_INFINITY) > SETTLED_MS) break;
    settleIdx = i;
  }
  const settleBar = liveBars[settleIdx];
  const settleAt = settleBar ? closedAt.get(settleBar.ts) : undefined;
  // The live part split at the moment its latency settled: before it, the system works off the history backlog.
  const settledWall = settleAt === undefined ? liveEndWall : histEndWall + (settleAt - histEnd);
  const settledWindows = [...loopWindows.values()].filter((w) => w.start >= settledWall && w.end <= liveEndWall);
  const backlogWindows = [...loopWindows.values()].filter((w) => w.end > histEndWall - 10_000 && w.start < settledWall);
  const settledFineTunes = fineTunes.filter((f) => f.at >= settledWall && f.at <= liveEndWall);
  const loopLine = (ws: { p99Ms: number; maxMs: number }[]) =>
    ws.length === 0 ? 'no full window' : `p99 median ${fmt(pct(ws.map((w) => w.p99Ms), 0.5))}, worst window p99 ${fmt(Math.max(...ws.map((w) => w.p99Ms)))}, max ${fmt(Math.max(...ws.map((w) => w.maxMs)))} (${ws.length} windows)`;

  console.log(`floor (same run): NATS round trip median ${fmt(floorMs)}`);
  // History bars that close during the history: all but each symbol's last; predicted: all but the warm-up ones.
  const storedAll = stages.find((x) => x.stored >= SYMBOLS * (HISTORY - 1));
  const atEnd = stages.find((x) => x.at >= histEnd);
  console.log(
    `pipeline: at the last history tick ${atEnd?.stored ?? '?'} bars stored, ${atEnd?.predicted ?? '?'} predicted (of ${SYMBOLS * (HISTORY - 1)} closed); ` +
      `every closed history bar stored ${storedAll ? `${fmt(storedAll.at - histEnd)} after the last history tick` : 'never'}`,
  );
  console.log(
    `catch-up: every history bar predicted ${historyDone ? `${fmt(lastHistoryPrediction - histEnd)} after the last history tick` : 'NOT within the run'}; ` +
      `live latency settled (every bar ≤ ${SETTLED_MS} ms from then on) ${settleAt === undefined ? 'never' : `${fmt(settleAt - histEnd)} after the last history tick (live minute ${settleIdx} of ${liveBars.length})`}`,
  );
  console.log(
    `live part: ${LIVE} minutes × ${SYMBOLS} symbols, a minute every ${BAR_MS} ms: bar close → prediction p50 ${fmt(pct(latencies, 0.5))}, p99 ${fmt(pct(latencies, 0.99))}, ` +
      `max ${fmt(Math.max(...latencies))} (${latencies.length} predictions${missing > 0 ? `, ${missing} missing` : ''}); ` +
      `from the first settled minute on: p99 ${fmt(pct(latencies.slice(settleIdx * SYMBOLS), 0.99))}`,
  );
  console.log(`event loop of the system, 10 s windows: settled live part ${loopLine(settledWindows)}; working off the history ${loopLine(backlogWindows)}`);
  console.log(`fine-tunes judged by the gate (online registered/deployed/rejected events): ${settledFineTunes.length} during the settled live part, ${fineTunes.length} in the whole run`);
  console.log(`scaled: catch-up per 1,000 history bars per symbol ${fmt((lastHistoryPrediction - histEnd) / ((SYMBOLS * HISTORY) / 1000))} (the target, 3 s for 2 × 2,700 bars, is ${fmt(3000 / 5.4)} per 1,000)`);
} finally {
  proc.child.kill('SIGTERM');
  await Promise.race([proc.exited, sleep(60_000)]);
  if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  await sys.dispose();
}

async function status(conn: NatsConnection): Promise<SystemStatus | null> {
  try {
    const reply = await conn.request('signals.status', '', { timeout: 2_000 });
    if (reply.headers?.get('Nats-Service-Error-Code')) return null;
    return reply.json<SystemStatus>();
  } catch {
    return null;
  }
}
