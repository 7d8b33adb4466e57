import { spawn, type ChildProcess } from 'node:child_process';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { readBars, tickMessages, type BarRow } from '../../market/index.ts';
import type { Db } from '../../sql/index.ts';
import { publishPipelined, type TimedMessage } from '../../streams/index.ts';
import { readStream } from '../helpers/stream-reader.ts';
import { BTCUSDT_CSV } from '../support/market/shared-data.ts';
import { marketBars } from '../support/models/fixtures.ts';

/** The real BTCUSDT March 2024 file (never copied into the project). */
export const BTC_CSV = BTCUSDT_CSV;

/** Bars a symbol needs before its first prediction (default spec: volWindow 30 + lookback 24). */
export const WARMUP_BARS = 53;

/** `count` bars of the real BTC file starting at bar `from`. */
export async function btcSlice(from: number, count: number): Promise<BarRow[]> {
  const { bars } = await readBars(BTC_CSV);
  const slice = bars.slice(from, from + count);
  if (slice.length !== count) throw new Error(`${BTC_CSV} has fewer than ${from + count} bars`);
  return slice;
}

/** `count` bars of the seeded market starting at bar `from`: bars shaped like a market that every clone has. */
export function marketSlice(from: number, count: number): BarRow[] {
  return marketBars(count, from);
}

/** The ticks of `bars` for each symbol, interleaved minute by minute (as a live feed would send them). */
export function tickFeed(venue: string, symbols: readonly string[], bars: readonly BarRow[]): TimedMessage[][] {
  const minutes: TimedMessage[][] = [];
  bars.forEach((bar, i) => {
    const prev = i > 0 ? bars[i - 1]?.close : undefined;
    minutes.push(symbols.flatMap((s) => tickMessages(venue, s, bar, prev)));
  });
  return minutes;
}

/** Publishes the feed one minute at a time, `gapMs` apart, until done or `signal` aborts. Resolves with ticks published. */
export async function publishFeed(nc: NatsConnection, feed: readonly TimedMessage[][], gapMs: number, signal?: AbortSignal): Promise<number> {
  const js = jetstream(nc);
  let n = 0;
  for (const minute of feed) {
    if (signal?.aborted) break;
    // Retried through a nats-server restart: the msg ids make a re-publish harmless.
    for (let attempt = 0; ; attempt++) {
      try {
        await publishPipelined(js, minute);
        break;
      } catch (err) {
        if (attempt >= 100 || signal?.aborted) throw err;
        await new Promise((r2) => setTimeout(r2, 200));
      }
    }
    n += minute.length;
    if (gapMs > 0) await new Promise((r2) => setTimeout(r2, gapMs));
  }
  return n;
}

/** Runs `signals <args>` to its end, stdout and stderr together. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/signals.js', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** A `signals` CLI child process with its output kept. */
export type SystemProcess = {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches `re` (rejects when the process exits first or after `timeoutMs`). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** Spawns `node bin/signals.js <args>` with the given env (NATS_URL, DATABASE_URL, ...). */
export function spawnSystem(args: readonly string[], env: NodeJS.ProcessEnv): SystemProcess {
  const child = spawn(process.execPath, ['bin/signals.js', ...args], { env: { ...process.env, METRICS_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const l of listeners) l();
  });
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output tail:\n${out.slice(-3_000)}`)), timeoutMs);
        const check = () => {
          if (re.test(out)) finish();
          else if (done) finish(new Error(`system exited before ${re}; output tail:\n${out.slice(-3_000)}`));
        };
        function finish(err?: Error) {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        }
        listeners.add(check);
        check();
      });
    },
  };
}

/** Row counts and duplicate checks of what the system stored and published, per venue. */
export type Ledger = {
  ticks: number;
  bars: number;
  predictions: number;
  /** Prediction messages in SIGNALS (signal.pred.<venue>.>). */
  predMessages: number;
  distinctPredMsgIds: number;
  distinctPredKeys: number;
  /** (symbol, ts) of stored bars after warm-up with no prediction message. */
  missingPredictions: string[];
};

export async function ledger(nc: NatsConnection, db: Db, venue: string): Promise<Ledger> {
  const q = async (sql: string) => Number((await db.query<{ n: string }>(sql, [venue])).rows[0]?.n ?? -1);
  const [ticks, bars, predictions] = await Promise.all([
    q(`SELECT count(*) AS n FROM ticks WHERE venue = $1`),
    q(`SELECT count(*) AS n FROM bars_1m WHERE venue = $1`),
    q(`SELECT count(*) AS n FROM predictions WHERE venue = $1`),
  ]);
  const msgs = await readStream<{ symbol?: unknown; ts?: unknown }>(nc, 'SIGNALS', `signal.pred.${venue}.>`);
  const keys = new Set(msgs.map((m) => `${String(m.data.symbol)}@${String(m.data.ts)}`));
  const barRows = await db.query<{ symbol: string; ms: string; rank: string }>(
    `SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS ms, row_number() OVER (PARTITION BY symbol ORDER BY ts) AS rank FROM bars_1m WHERE venue = $1`,
    [venue],
  );
  const missingPredictions = barRows.rows.filter((r) => Number(r.rank) > WARMUP_BARS && !keys.has(`${r.symbol}@${Number(r.ms)}`)).map((r) => `${r.symbol}@${new Date(Number(r.ms)).toISOString()}`);
  return {
    ticks,
    bars,
    predictions,
    predMessages: msgs.length,
    distinctPredMsgIds: new Set(msgs.map((m) => m.msgId)).size,
    distinctPredKeys: keys.size,
    missingPredictions,
  };
}

/** Key duplicates in the tables (must be 0: the primary keys forbid them; checked anyway). */
export async function tableDuplicates(db: Db, venue: string): Promise<number> {
  const r = await db.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM (SELECT 1 FROM ticks WHERE venue = $1 GROUP BY symbol, ts, trade_id HAVING count(*) > 1) a)
          + (SELECT count(*) FROM (SELECT 1 FROM bars_1m WHERE venue = $1 GROUP BY symbol, ts HAVING count(*) > 1) b)
          + (SELECT count(*) FROM (SELECT 1 FROM predictions WHERE venue = $1 GROUP BY symbol, ts, horizon HAVING count(*) > 1) c) AS n`,
    [venue],
  );
  return Number(r.rows[0]?.n ?? -1);
}

/** Outcomes scored by each symbol's persisted confidence weighter (`actor_snapshots`), -1 when it has no snapshot. */
export async function weightsScored(db: Db, venue: string, symbols: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of symbols) {
    const r = await db.query<{ scored: number | null }>(`SELECT (snapshot->'state'->>'scored')::int AS scored FROM actor_snapshots WHERE actor_id = $1`, [`confidenceWeighter:${venue}.${s}`]);
    out[s] = r.rows[0]?.scored ?? -1;
  }
  return out;
}
