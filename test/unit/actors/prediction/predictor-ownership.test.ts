import { describe, expect, it } from 'vitest';
import {
  predictionClaimKey,
  PredictorOwnership,
  REBALANCE_STABLE_TTLS,
  type PendingCatchUp,
  type PredictionClaims,
} from '../../../../actors/prediction/predictor-ownership.ts';
import type { Bar, ClaimListener } from '../../../../streams/index.ts';

const T0 = 1_700_000_040_000;
const TTL = 3_000;
const bar = (symbol: string, ts: number): Bar => ({ venue: 'v', symbol, interval: '1m', ts, open: 1, high: 1, low: 1, close: 1, volume: 1, source: 'live' });

/**
 * The claims of one process in memory (the real WorkClaims needs a NATS KV bucket and
 * is tested on real servers): `preferred` names the process each key hashes to, `taken`
 * the keys another process holds.
 */
function fakeClaims(opts: { preferred?: Record<string, string>; taken?: string[]; refuse?: string[] } = {}) {
  const owned = new Set<string>();
  const watched = new Set<string>(opts.taken ?? []);
  const listeners = new Set<ClaimListener>();
  const calls: string[] = [];
  let moves: { key: string; to: string }[] = [];
  const claims: PredictionClaims = {
    token: 'me',
    knows: (key) => owned.has(key) || watched.has(key),
    owns: (key) => owned.has(key),
    preferredOwner: (key) => opts.preferred?.[key] ?? 'me',
    observe: async (key) => {
      calls.push(`observe ${key}`);
      // Nobody holds it: the caller defers it (true = left to another process).
      return !watched.has(key);
    },
    claim: async (key) => {
      calls.push(`claim ${key}`);
      if (opts.refuse?.includes(key)) return false;
      owned.add(key);
      return true;
    },
    listen: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    ownedKeys: () => [...owned],
    misplaced: (prefix, stableMs) => {
      calls.push(`misplaced ${prefix} ${stableMs}`);
      return moves;
    },
    handOff: async (key, to) => {
      calls.push(`handOff ${key} ${to}`);
      owned.delete(key);
      return true;
    },
  };
  return {
    claims,
    calls,
    owned,
    setMoves: (m: { key: string; to: string }[]) => (moves = m),
    acquire: (key: string) => {
      owned.add(key);
      for (const l of listeners) l.onAcquired?.(key);
    },
    lose: (key: string) => {
      owned.delete(key);
      for (const l of listeners) l.onLost?.(key);
    },
  };
}

/** A catch-up reader that records what it was asked and returns `bars` per symbol. */
function recordingReader(bars: Record<string, Bar[]> = {}) {
  const asked: PendingCatchUp[] = [];
  const read = async (p: PendingCatchUp) => {
    asked.push(p);
    return bars[p.symbol] ?? [];
  };
  return { asked, read };
}

describe('PredictorOwnership', () => {
  it('claims a symbol seen for the first time that hashes to this process, and predicts only owned symbols', async () => {
    const f = fakeClaims({ taken: [predictionClaimKey('v', 'B')] });
    const o = new PredictorOwnership(f.claims, { claimTtlMs: TTL, now: () => T0 });
    const { read } = recordingReader();
    const r = await o.ownedBars([bar('A', T0), bar('B', T0)], read);
    expect(r.bars.map((b) => b.symbol), 'B is held by another process').toEqual(['A']);
    expect(f.calls).toEqual(['claim pred.v.A']);
  });

  it('leaves a new symbol to its preferred process for a claim TTL, then claims it and catches up from its first bar seen', async () => {
    const key = predictionClaimKey('v', 'A');
    const f = fakeClaims({ preferred: { [key]: 'other' } });
    let now = T0;
    const o = new PredictorOwnership(f.claims, { claimTtlMs: TTL, now: () => now });
    o.watch();
    const reader = recordingReader();
    expect((await o.ownedBars([bar('A', T0)], reader.read)).bars, 'deferred: not predicted here').toEqual([]);
    now += TTL - 1;
    expect((await o.ownedBars([bar('A', T0 + 60_000)], reader.read)).bars, 'still within the TTL').toEqual([]);
    expect(f.calls).toEqual([`observe ${key}`]);
    now += 1;
    f.calls.length = 0;
    const next = bar('A', T0 + 120_000);
    const r = await o.ownedBars([next], reader.read);
    expect(f.calls).toEqual([`claim ${key}`]);
    expect(r.bars, 'owned now').toEqual([next]);
    // The real WorkClaims reports the claim to its listeners; the fake leaves that to the test.
    f.acquire(key);
    await o.ownedBars([], reader.read);
    expect(reader.asked, 'catch-up starts at the first bar seen while deferred').toEqual([{ venue: 'v', symbol: 'A', deferredFrom: T0, firstLiveTs: undefined }]);
  });

  it('forgets the deferral start when the claim is lost to a race', async () => {
    const key = predictionClaimKey('v', 'A');
    const f = fakeClaims({ preferred: { [key]: 'other' }, refuse: [key] });
    let now = T0;
    const o = new PredictorOwnership(f.claims, { claimTtlMs: TTL, now: () => now });
    o.watch();
    const reader = recordingReader();
    await o.ownedBars([bar('A', T0)], reader.read);
    now += TTL;
    await o.ownedBars([bar('A', T0 + 60_000)], reader.read);
    f.acquire(key);
    await o.ownedBars([], reader.read);
    expect(reader.asked[0]?.deferredFrom, 'no deferral start after a lost claim').toBeUndefined();
  });

  it('puts catch-up bars before the live ones and keeps the catch-up until it is marked done', async () => {
    const key = predictionClaimKey('v', 'A');
    const f = fakeClaims();
    const o = new PredictorOwnership(f.claims, { claimTtlMs: TTL });
    o.watch();
    f.acquire(key);
    expect(o.catchUpPending).toBe(true);
    const missed = [bar('A', T0 - 120_000), bar('A', T0 - 60_000)];
    const reader = recordingReader({ A: missed });
    const live = bar('A', T0);
    const r = await o.ownedBars([live], reader.read);
    expect(r.bars, 'catch-up first, then the live bar').toEqual([...missed, live]);
    expect(r.caughtUp).toEqual([key]);
    expect(reader.asked[0]?.firstLiveTs, 'the catch-up ends before the first live bar').toBe(T0);
    expect(o.accepts('v', 'A'), 'the fast lane waits for the catch-up').toBe(false);
    await o.ownedBars([], reader.read);
    expect(reader.asked, 'a retried batch computes its catch-up again').toHaveLength(2);
    o.caughtUpDone(r.caughtUp);
    expect(o.catchUpPending).toBe(false);
    expect(o.accepts('v', 'A')).toBe(true);
    await o.ownedBars([], reader.read);
    expect(reader.asked, 'no catch-up once done').toHaveLength(2);
  });

  it('marks every symbol owned at the start for catch-up, ignores other claims, and drops symbols lost meanwhile', async () => {
    const f = fakeClaims();
    f.owned.add(predictionClaimKey('v', 'A'));
    f.owned.add(predictionClaimKey('v', 'B'));
    f.owned.add('proc.me');
    const o = new PredictorOwnership(f.claims, { claimTtlMs: TTL });
    const stop = o.watch();
    f.acquire('quality.v.C');
    f.lose(predictionClaimKey('v', 'B'));
    const reader = recordingReader();
    const r = await o.ownedBars([], reader.read);
    expect(reader.asked.map((p) => p.symbol)).toEqual(['A']);
    expect(r.caughtUp).toEqual([predictionClaimKey('v', 'A')]);
    stop();
    f.acquire(predictionClaimKey('v', 'D'));
    o.caughtUpDone(r.caughtUp);
    expect(o.catchUpPending, 'no acquisition is followed after the stop').toBe(false);
  });

  it('hands misplaced symbols over, but none while a fast-lane publication is in flight', async () => {
    const f = fakeClaims();
    const o = new PredictorOwnership(f.claims, { claimTtlMs: TTL });
    f.owned.add(predictionClaimKey('v', 'A'));
    f.owned.add(predictionClaimKey('v', 'B'));
    f.setMoves([
      { key: predictionClaimKey('v', 'A'), to: 'p2' },
      { key: predictionClaimKey('v', 'B'), to: 'p3' },
    ]);
    let release!: () => void;
    const inFlight = o.lanePublication(() => new Promise<string>((r) => (release = () => r('published'))));
    expect(await o.rebalance(), 'nothing handed over during a lane publication').toBe(0);
    release();
    expect(await inFlight).toBe('published');
    expect(await o.rebalance()).toBe(2);
    expect(f.calls).toEqual([
      `misplaced pred. ${REBALANCE_STABLE_TTLS * TTL}`,
      `misplaced pred. ${REBALANCE_STABLE_TTLS * TTL}`,
      'handOff pred.v.A p2',
      'handOff pred.v.B p3',
    ]);
    expect(o.ownedPredictionKeys()).toEqual([]);
  });

  it('refuses the fast lane a symbol while it is being handed over', async () => {
    const f = fakeClaims();
    const key = predictionClaimKey('v', 'A');
    f.owned.add(key);
    let seenDuringHandOff: boolean | undefined;
    const handOff = async (): Promise<boolean> => {
      seenDuringHandOff = o.accepts('v', 'A');
      return true;
    };
    const o: PredictorOwnership = new PredictorOwnership({ ...f.claims, handOff }, { claimTtlMs: TTL });
    f.setMoves([{ key, to: 'p2' }]);
    expect(o.accepts('v', 'A')).toBe(true);
    await o.rebalance();
    expect(seenDuringHandOff, 'a leaving symbol is not predicted on the fast lane').toBe(false);
  });
});
