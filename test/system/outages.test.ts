import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopology } from '../../streams/index.ts';
import { adminQuery } from '../helpers/postgres.ts';
import { eventually } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { marketSlice, ledger, publishFeed, spawnSystem, tableDuplicates, tickFeed, WARMUP_BARS, weightsScored, type SystemProcess } from './harness.ts';

const SYMBOLS = ['BTCUSDT', 'BTCUSDT_B'];
const BARS = 100;

/**
 * The whole system (`signals run --live`, a child process) while the feed is
 * published, through a nats-server restart and a PostgreSQL outage: it degrades,
 * retries and recovers by itself (same process, no child restarted), and ends
 * with every tick, bar and prediction exactly once.
 */
describe('outages of the servers under the running system', () => {
  let sys: TestSystem;
  let env: NodeJS.ProcessEnv;
  let proc: SystemProcess | undefined;
  beforeAll(async () => {
    sys = await startTestSystem('faults_outage');
    env = {
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      BAR_GRACE_MS: '500',
      INGEST_ACK_WAIT_MS: '4000',
      RETRY_MIN_MS: '100',
      RETRY_MAX_MS: '1000',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    };
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 256, duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S });
  });
  afterAll(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await adminQuery(`ALTER DATABASE ${sys.database.name} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await sys?.dispose();
  });

  /** Runs the system over the feed of `venue`, calling `fault` once 40 % of it is published; checks the ledger. */
  async function survives(venue: string, fault: () => Promise<void>): Promise<string> {
    const bars = marketSlice(venue === 'natsv' ? 4_000 : 6_000, BARS);
    const feed = tickFeed(venue, SYMBOLS, bars);
    const ticksExpected = feed.reduce((n, m) => n + m.length, 0);
    const run = spawnSystem(['run', '--live'], env);
    proc = run;
    await run.waitFor(/"phase":"running/, 50_000);
    const cut = Math.floor(feed.length * 0.4);
    await publishFeed(sys.nc, feed.slice(0, cut), 40);
    const t0 = Date.now();
    await fault();
    const faultMs = Date.now() - t0;
    await publishFeed(sys.nc, feed.slice(cut), 40);
    const barsExpected = BARS * SYMBOLS.length;
    const predsExpected = (BARS - WARMUP_BARS) * SYMBOLS.length;
    await eventually(async () => {
      const l = await ledger(sys.nc, sys.db, venue).catch(() => undefined);
      return l !== undefined && l.ticks >= ticksExpected && l.bars >= barsExpected && l.predMessages >= predsExpected && l.predictions >= predsExpected;
    }, 45_000, `every tick, bar and prediction of ${venue}`).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\nledger: ${JSON.stringify(await ledger(sys.nc, sys.db, venue))}\noutput tail:\n${run.output().slice(-5_000)}`);
    });
    await new Promise((r) => setTimeout(r, 4_500)); // redeliveries (ack wait) must add nothing
    expect(run.child.exitCode, 'the system kept running through the outage (no restart of its own)').toBeNull();
    expect(run.output(), 'no child actor crashed (the outage was retried, not blamed on a message)').not.toMatch(/"msg":"child failed"/);
    run.child.kill('SIGTERM');
    const exit = await run.exited;
    expect(exit.code, `drains and exits 0 after the outage:\n${run.output().slice(-2_000)}`).toBe(0);
    const l = await ledger(sys.nc, sys.db, venue);
    expect(l.ticks, 'every tick stored once').toBe(ticksExpected);
    expect(l.bars, 'every bar stored once').toBe(barsExpected);
    expect(l.predictions, 'one stored prediction per bar after warm-up').toBe(predsExpected);
    expect(l.missingPredictions, 'no bar after warm-up without a prediction message').toEqual([]);
    expect(l.predMessages, 'one prediction message per bar in SIGNALS').toBe(predsExpected);
    expect(l.distinctPredMsgIds, 'distinct msg ids').toBe(predsExpected);
    expect(l.distinctPredKeys, 'distinct (symbol, ts)').toBe(predsExpected);
    expect(await tableDuplicates(sys.db, venue)).toBe(0);
    // Every prediction but the last is scored once when its bar closes: no outcome lost or counted twice across restarts.
    const scored = await weightsScored(sys.db, venue, SYMBOLS);
    expect(scored, 'the persisted weights scored each outcome exactly once').toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, BARS - WARMUP_BARS - 1])));
    const degraded = (run.output().match(/degraded|retrying/g) ?? []).length;
    return `${venue}: fault took ${faultMs} ms; ${degraded} degraded/retrying log lines; ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.length })}`;
  }

  it('nats-server restart mid-replay: reconnects, recovers, zero lost and zero duplicated rows and predictions', async () => {
    const summary = await survives('natsv', () => sys.nats.restart(1_000));
    console.log(summary);
  }, 120_000);

  it('PostgreSQL outage mid-replay: degrades, retries, recovers without a restart, zero lost and duplicated', async () => {
    let output = '';
    const summary = await survives('pgv', async () => {
      await adminQuery(`ALTER DATABASE ${sys.database.name} ALLOW_CONNECTIONS false`);
      await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${sys.database.name}'`);
      await new Promise((r) => setTimeout(r, 3_000));
      output = proc?.output() ?? '';
      await adminQuery(`ALTER DATABASE ${sys.database.name} ALLOW_CONNECTIONS true`);
    });
    expect(output, 'the system noticed the outage (degraded / retrying)').toMatch(/degraded|retrying/);
    console.log(summary);
  }, 120_000);
});
