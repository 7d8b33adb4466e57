import { jetstream } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msgIds, subjects, type Tick } from '../../streams/index.ts';
import { eventually } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { spawnSystem, type SystemProcess } from './harness.ts';

const M0 = Date.UTC(2024, 2, 1);
const tick = (i: number): Tick => ({ venue: 'stopv', symbol: 'STUCK', ts: M0 + i * 1_000, price: 100 + i, size: 1, tradeId: `s${i}` });

/**
 * SIGINT/SIGTERM ends `signals run` within STOP_TIMEOUT_MS even when a batch is
 * stuck in the database: what is in hand stays unacked (stored by the next run) and
 * the exit code says the stop was not clean. A stop with nothing stuck is clean.
 */
describe('stop means stop', () => {
  let sys: TestSystem;
  let env: NodeJS.ProcessEnv;
  const procs: SystemProcess[] = [];
  beforeAll(async () => {
    sys = await startTestSystem('stop');
    env = { NATS_URL: sys.settings.NATS_URL, DATABASE_URL: sys.settings.DATABASE_URL, LOG_LEVEL: 'info', STOP_TIMEOUT_MS: '3000', BAR_GRACE_MS: '600000', INGEST_STALL_MS: '1500' };
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await sys?.dispose();
  });

  const publish = (t: Tick) => jetstream(sys.nc).publish(subjects.tick(t.venue, t.symbol), JSON.stringify(t), { msgID: msgIds.tick(t.venue, t.symbol, t.tradeId) });
  const stored = async () => Number((await sys.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ticks WHERE venue = 'stopv'`)).rows[0]?.n);
  const start = async () => {
    const run = spawnSystem(['run', '--live'], env);
    procs.push(run);
    await run.waitFor(/"phase":"running/, 90_000);
    return run;
  };

  it('a batch stuck on a locked table: SIGINT ends the process within the timeout, exit 11, the tick is stored by the next run', async () => {
    const first = await start();
    await publish(tick(1));
    await eventually(async () => (await stored()) === 1, 20_000, 'the first tick');
    const locker = new pg.Client({ connectionString: sys.settings.DATABASE_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ticks IN ACCESS EXCLUSIVE MODE');
      await publish(tick(2));
      // The batch now waits on the lock: after INGEST_STALL_MS `signals status` says ingest is stalled.
      await eventually(async () => {
        const status = spawnSystem(['status', '--json'], env);
        await status.exited;
        const report = JSON.parse(status.output().trim().split('\n').at(-1) ?? '{}') as { system?: { sync?: { stalled?: { batchesInFlight: number } } } };
        return report.system?.sync?.stalled?.batchesInFlight === 1;
      }, 20_000, 'signals status --json to report the stall');
      const t0 = Date.now();
      first.child.kill('SIGINT');
      const exit = await Promise.race([first.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
      const ms = Date.now() - t0;
      expect(exit, first.output().slice(-2_000)).toEqual({ code: 11, signal: null });
      expect(ms).toBeLessThan(3_000 + 4_000);
      expect(first.output()).toMatch(/stop did not finish within 3000 ms; messages in hand stay unacked/);
      expect(first.output()).toMatch(/"alert":"ingest_stalled"/);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    // The stuck tick was never acknowledged: the next run stores it.
    const second = await start();
    await eventually(async () => (await stored()) === 2, 30_000, 'the unacked tick, stored by the next run');
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 180_000);
});
