import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimValueSchema, processToken, rendezvousOwner } from '../../streams/work-claims.ts';
import { ensureTopology, KV_BUCKETS, openBucket } from '../../streams/index.ts';
import { eventually } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { marketSlice, ledger, publishFeed, spawnSystem, tableDuplicates, tickFeed, WARMUP_BARS, weightsScored, type Ledger, type SystemProcess } from './harness.ts';

const SYMBOLS = ['SYMA', 'SYMB', 'SYMC', 'SYMD', 'SYME', 'SYMF', 'SYMG', 'SYMH'];
const BARS = 120;
/** The process is killed when this many minutes of the feed are published (after warm-up: both are predicting). */
const KILL_AT_MINUTE = 75;
const CLAIM_TTL_MS = 3_000;

/**
 * The pids of the live processes (their presence claims), and each pred.<venue>.* key -> the pid of the
 * process it hashes to among them.
 */
async function preferredPids(kv: KV, venue: string): Promise<{ live: number[]; byKey: Map<string, number> }> {
  const tokens = new Map<string, number>();
  for await (const key of await kv.keys('proc.*')) {
    const e = await kv.get(key);
    if (!e || e.operation !== 'PUT') continue;
    const owner = claimValueSchema.parse(JSON.parse(new TextDecoder().decode(e.value))).owner;
    tokens.set(processToken(owner), Number(owner.split(':')[1]));
  }
  const byKey = new Map(SYMBOLS.map((s) => [`pred.${venue}.${s}`, tokens.get(rendezvousOwner(`pred.${venue}.${s}`, [...tokens.keys()]) ?? '') ?? -1]));
  return { live: [...tokens.values()], byKey };
}

const barsExpected = BARS * SYMBOLS.length;
const predsExpected = (BARS - WARMUP_BARS) * SYMBOLS.length;

/** Waits until `venue` has every tick, bar and prediction (`tail`: output added to the error on a timeout). */
async function awaitLedger(sys: TestSystem, venue: string, ticksExpected: number, tail: () => string): Promise<void> {
  await eventually(
    async () => {
      const l = await ledger(sys.nc, sys.db, venue);
      return l.ticks >= ticksExpected && l.bars >= barsExpected && l.predMessages >= predsExpected && l.predictions >= predsExpected;
    },
    60_000,
    'all ticks, bars and predictions',
  ).catch(async (err: unknown) => {
    const l = await ledger(sys.nc, sys.db, venue);
    throw new Error(`${(err as Error).message}\nledger: ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.slice(0, 20) })}\noutput tail:\n${tail()}`);
  });
}

/** Every tick, bar and prediction (message and row) of `venue` exactly once, every outcome scored once. */
async function expectExactlyOnce(sys: TestSystem, venue: string, ticksExpected: number, why: string): Promise<Ledger> {
  const l = await ledger(sys.nc, sys.db, venue);
  expect(l.ticks, `every tick stored once (${why})`).toBe(ticksExpected);
  expect(l.bars, `every bar stored once (${why})`).toBe(barsExpected);
  expect(l.missingPredictions, `no bar after warm-up without a prediction message (${why})`).toEqual([]);
  expect(l.predMessages, `one prediction message per bar in SIGNALS (${why})`).toBe(predsExpected);
  expect(l.distinctPredMsgIds, `prediction messages have distinct msg ids (${why})`).toBe(predsExpected);
  expect(l.distinctPredKeys, `prediction messages have distinct (symbol, ts) (${why})`).toBe(predsExpected);
  expect(l.predictions, `one stored prediction per bar after warm-up (${why})`).toBe(predsExpected);
  expect(await tableDuplicates(sys.db, venue), 'no key duplicates in ticks, bars_1m, predictions').toBe(0);
  // The confidence weights moved with the symbols (actor_snapshots): every outcome but the last scored once.
  expect(await weightsScored(sys.db, venue, SYMBOLS), `the persisted weights scored each outcome exactly once across the handovers (${why})`).toEqual(
    Object.fromEntries(SYMBOLS.map((x) => [x, BARS - WARMUP_BARS - 1])),
  );
  return l;
}

/** SIGTERM (SIGKILL after 20 s) to each process still running: a failed scenario must not leave one holding claims. */
async function stopAll(procs: readonly (SystemProcess | undefined)[]): Promise<void> {
  for (const p of procs) {
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) continue;
    p.child.kill('SIGTERM');
    const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
    await p.exited;
    clearTimeout(t);
  }
}

/** Owner pid of every work claim in `work_claims` (key -> pid); `presence` (default false): the `proc.<token>` claims instead. */
async function claimOwners(kv: KV, presence = false): Promise<Map<string, number>> {
  const owners = new Map<string, number>();
  for await (const key of await kv.keys()) {
    if (key.startsWith('proc.') !== presence) continue;
    const e = await kv.get(key);
    if (!e || e.operation !== 'PUT') continue;
    const v = claimValueSchema.safeParse(JSON.parse(new TextDecoder().decode(e.value)));
    if (!v.success) throw new Error(`claim ${key} holds an invalid value: ${v.error.message}`);
    owners.set(key, Number(v.data.owner.split(':')[1]));
  }
  return owners;
}

/**
 * Scale-out: two `signals run --live` processes (SCALE_OUT=true) share one feed
 * of several symbols, split between them; one is SIGKILLed midway while the
 * feed goes on: the ingest leader (its symbols and the ingest lease are taken
 * over), or the standby (the leader goes on publishing bars of its symbols that
 * nobody predicts until the survivor takes them over and catches up). The
 * takeover comes within seconds, and at the end every bar of every symbol after
 * warm-up was predicted exactly once overall (messages in SIGNALS by msg id and
 * by (symbol, ts), rows in `predictions`).
 */
describe('scale-out: two processes, one killed', () => {
  let sys: TestSystem;
  let env: NodeJS.ProcessEnv;
  const procs: SystemProcess[] = [];
  beforeAll(async () => {
    sys = await startTestSystem('scale_out');
    env = {
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      BAR_GRACE_MS: '500',
      INGEST_ACK_WAIT_MS: '4000',
      LOG_LEVEL: 'info',
      SCALE_OUT: 'true',
      CLAIM_TTL_MS: String(CLAIM_TTL_MS),
      METRICS_PORT: '0',
    };
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await sys?.dispose();
  });

  /** Two processes on `venue`; `kill` says which one is SIGKILLed midway. */
  async function scenario(venue: string, kill: 'leader' | 'standby'): Promise<void> {
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 256, duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S });
    const kv = await openBucket(sys.nc, KV_BUCKETS.workClaims, 1);
    const bars = marketSlice(3_000, BARS);
    const feed = tickFeed(venue, SYMBOLS, bars);
    const ticksExpected = feed.reduce((n, m) => n + m.length, 0);
    // One after the other: the second finds the pretrained versions of the first (no second Phase 1).
    for (const name of ['first', 'second']) {
      const p = spawnSystem(['run', '--live'], env);
      procs.push(p);
      await p.waitFor(/"phase":"running/, 90_000).catch((err: unknown) => {
        throw new Error(`the ${name} process did not reach Phase 4: ${(err as Error).message}`);
      });
    }
    const [p1, p2] = procs.slice(-2);
    if (!p1?.child.pid || !p2?.child.pid) throw new Error('the processes did not start');
    const abort = new AbortController();
    try {
      const head = await publishFeed(sys.nc, feed.slice(0, KILL_AT_MINUTE), 60, abort.signal);
      // Both are predicting: every symbol has an owner.
      await eventually(async () => [...(await claimOwners(kv)).keys()].filter((k) => k.startsWith(`pred.${venue}.`)).length === SYMBOLS.length, 10_000, 'a claim per symbol');
      const before = await claimOwners(kv);
      const held = (pid: number) => [...before].filter(([k, o]) => k.startsWith(`pred.${venue}.`) && o === pid).map(([k]) => k);
      // leader: its symbols and the ingest lease are taken over. standby: its symbols are taken over while the
      // leader goes on publishing their bars, which the survivor must catch up on.
      const leader = before.get('ingest') === p1.child.pid ? p1 : p2;
      const victim = kill === 'leader' ? leader : leader === p1 ? p2 : p1;
      const survivor = victim === p1 ? p2 : p1;
      const victimPid = victim.child.pid ?? -1;
      const victimKeys = [...before].filter(([, o]) => o === victimPid).map(([k]) => k);
      const split = `${held(p1.child.pid).length}/${held(p2.child.pid).length} symbols; ingest leader pid ${before.get('ingest')}`;
      expect([p1.child.pid, p2.child.pid], `one of the two holds the ingest lease (${split})`).toContain(before.get('ingest'));
      // Symbols are spread by hashing: each process gets none with probability 1/256 (then the split is printed).
      if (kill === 'standby') expect(held(victimPid).length, `the killed standby predicts some symbols (${split})`).toBeGreaterThan(0);

      // Kill it and keep publishing; measure how long until the survivor owns everything the victim held.
      const tKill = Date.now();
      const outputAtKill = survivor.output().length;
      victim.child.kill('SIGKILL');
      const publishing = publishFeed(sys.nc, feed.slice(KILL_AT_MINUTE), 60, abort.signal);
      let takeoverMs = -1;
      await eventually(
        async () => {
          const now = await claimOwners(kv);
          const done = victimKeys.every((k) => now.get(k) === survivor.child.pid);
          if (done) takeoverMs = Date.now() - tKill;
          return done;
        },
        CLAIM_TTL_MS + 10_000,
        `the survivor takes over ${victimKeys.join(', ')}`,
      );
      const published = head + (await publishing);
      expect(published, 'the whole feed was published').toBe(ticksExpected);
      expect(takeoverMs, `takeover within TTL + 3 s (TTL ${CLAIM_TTL_MS} ms)`).toBeLessThan(CLAIM_TTL_MS + 3_000);

      await awaitLedger(sys, venue, ticksExpected, () => survivor.output().slice(-5_000));
      // Let late duplicates (redeliveries, a second catch-up) show up before counting.
      await new Promise((r) => setTimeout(r, 5_000));
      survivor.child.kill('SIGTERM');
      const exit = await survivor.exited;
      expect(exit.code, `the survivor drains and exits 0 on SIGTERM:\n${survivor.output().slice(-2_000)}`).toBe(0);

      const why = `${split}; killed the ${kill} pid ${victimPid} holding ${victimKeys.join(', ')}`;
      const l = await expectExactlyOnce(sys, venue, ticksExpected, why);
      expect(await claimOwners(kv), 'the survivor released its claims on its clean stop').toEqual(new Map());
      expect(await claimOwners(kv, true), 'no presence claim left: the dead process\'s removed by the survivor, the survivor\'s released').toEqual(new Map());
      // The survivor's catch-up log lines since the kill: { bars } per symbol acquired with bars to predict.
      const catchUps = survivor
        .output()
        .slice(outputAtKill)
        .split('\n')
        .filter((line) => line.includes('catching up an acquired symbol'))
        .map((line) => Number((JSON.parse(line) as { bars?: unknown }).bars ?? 0));
      const caughtUp = catchUps.reduce((a, b) => a + b, 0);
      if (kill === 'standby') expect(caughtUp, `bars of the dead standby's symbols published before the takeover were caught up (${why})`).toBeGreaterThan(0);
      console.log(
        `scale-out (${kill} killed): ${why}; took over in ${takeoverMs} ms (TTL ${CLAIM_TTL_MS} ms); survivor caught up ${catchUps.length} symbols (${caughtUp} bars); final ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.length })}`,
      );
    } finally {
      abort.abort();
      await stopAll([p1, p2]);
    }
  }

  it('the ingest leader killed: lease and symbols taken over within seconds, every bar after warm-up predicted exactly once', async () => {
    await scenario('scalel', 'leader');
  }, 180_000);

  it('a standby killed: its symbols taken over and caught up, every bar after warm-up predicted exactly once', async () => {
    await scenario('scales', 'standby');
  }, 180_000);

  /**
   * A second process joins a running one: once it has been up for a few claim TTLs, the first
   * hands it the symbols that hash to it, in the idle seconds between bars (a bar every 1.5 s
   * here, as a live feed gives one a minute), while the feed goes on. Every bar after warm-up is
   * still predicted exactly once and every outcome scored once.
   */
  it('a process that joins later gets its share of the symbols while bars flow; every bar after warm-up predicted exactly once', async () => {
    const venue = 'scalej';
    const JOIN_AT_MINUTE = 60;
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 256, duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S });
    const kv = await openBucket(sys.nc, KV_BUCKETS.workClaims, 1);
    const feed = tickFeed(venue, SYMBOLS, marketSlice(6_000, BARS));
    const ticksExpected = feed.reduce((n, m) => n + m.length, 0);
    const p1 = spawnSystem(['run', '--live'], env);
    procs.push(p1);
    await p1.waitFor(/"phase":"running/, 90_000);
    const abort = new AbortController();
    let p2: SystemProcess | undefined;
    try {
      let published = await publishFeed(sys.nc, feed.slice(0, JOIN_AT_MINUTE), 60, abort.signal);
      const pid1 = p1.child.pid ?? -1;
      await eventually(async () => [...(await claimOwners(kv))].filter(([k, o]) => k.startsWith(`pred.${venue}.`) && o === pid1).length === SYMBOLS.length, 10_000, 'the first process alone holds every symbol');

      p2 = spawnSystem(['run', '--live'], env);
      procs.push(p2);
      const joined = Date.now();
      const running = p2.waitFor(/"phase":"running/, 90_000);
      // The feed goes on, a minute every 1.5 s, until the symbols are where they hash to.
      let minute = JOIN_AT_MINUTE;
      let settledMs = -1;
      let expected = new Map<string, number>();
      while (minute < BARS && settledMs < 0 && Date.now() - joined < 90_000) {
        published += await publishFeed(sys.nc, feed.slice(minute, minute + 1), 1_500, abort.signal);
        minute += 1;
        // Settled when both are alive and every symbol is with the one it hashes to (none may hash to the second).
        const preferred = await preferredPids(kv, venue);
        expected = preferred.byKey;
        const owners = await claimOwners(kv);
        if (preferred.live.includes(p2.child.pid ?? -2) && [...expected].every(([k, pid]) => owners.get(k) === pid)) settledMs = Date.now() - joined;
      }
      await running;
      const split = `${[...expected.values()].filter((p) => p === pid1).length}/${[...expected.values()].filter((p) => p !== pid1).length} symbols hash to the first/second`;
      expect(settledMs, `the symbols reached the processes they hash to (${split}; at minute ${minute})`).toBeGreaterThan(0);
      published += await publishFeed(sys.nc, feed.slice(minute), 60, abort.signal);
      expect(published, 'the whole feed was published').toBe(ticksExpected);

      await awaitLedger(sys, venue, ticksExpected, () => `${p1.output().slice(-2_500)}\n${p2?.output().slice(-2_500) ?? ''}`);
      await new Promise((r) => setTimeout(r, 3_000));
      const owners = await claimOwners(kv);
      expect([...expected].filter(([k, pid]) => owners.get(k) !== pid), `every symbol stays with the process it hashes to (${split})`).toEqual([]);
      for (const p of [p2, p1]) {
        p.child.kill('SIGTERM');
        expect((await p.exited).code, `drains and exits 0 on SIGTERM:\n${p.output().slice(-2_000)}`).toBe(0);
      }
      const why = `${split}; settled ${settledMs} ms after the second process was spawned, at minute ${minute}`;
      const l = await expectExactlyOnce(sys, venue, ticksExpected, why);
      const handed = p1.output().split('\n').filter((line) => line.includes('claim handed over to its preferred owner')).length;
      expect(handed, `the first process handed over the symbols that hash to the second (${why})`).toBe([...expected.values()].filter((p) => p !== pid1).length);
      console.log(`scale-out (late join): ${why}; ${handed} hand-overs; final ${JSON.stringify({ ...l, missingPredictions: l.missingPredictions.length })}`);
    } finally {
      abort.abort();
      await stopAll([p1, p2]);
    }
  }, 240_000);
});
