import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkClaims } from '../../streams/work-claims.ts';
import { connectNats } from '../../streams/index.ts';
import { eventually } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';

/** Two processes (two connections) competing for the same keys in KV `work_claims`. */
describe('WorkClaims', () => {
  let sys: TestSystem;
  const extra: NatsConnection[] = [];
  const connect = async (name: string) => {
    const nc = await connectNats(sys.settings, name);
    extra.push(nc);
    return nc;
  };
  beforeAll(async () => {
    sys = await startTestSystem('work_claims');
  });
  afterAll(async () => {
    for (const nc of extra) await nc.close().catch(() => undefined);
    await sys?.dispose();
  });

  it('one owner per key; a silent owner is taken over after the TTL; a clean stop hands over at once', async () => {
    const ttlMs = 800;
    const a = await WorkClaims.open(await connect('claims-a'), { ttlMs, refreshMs: 100, log: sys.log, processId: 'host:1:a' });
    const ncB = await connect('claims-b');
    const b = await WorkClaims.open(ncB, { ttlMs, refreshMs: 100, log: sys.log, processId: 'host:2:b' });
    const events: string[] = [];
    a.listen({ onAcquired: (k) => events.push(`a+${k}`), onLost: (k) => events.push(`a-${k}`) });
    b.listen({ onAcquired: (k) => events.push(`b+${k}`), onLost: (k) => events.push(`b-${k}`) });

    const [ra, rb] = await Promise.all([a.claim('pred.v.X'), b.claim('pred.v.X')]);
    expect([ra, rb].filter(Boolean), 'exactly one of two concurrent claims wins').toHaveLength(1);
    const [winner, loser] = ra ? [a, b] : [b, a];
    // Refreshed claims stay put for well over the TTL.
    await new Promise((r) => setTimeout(r, ttlMs * 2));
    expect(loser.owns('pred.v.X'), 'a refreshed claim is not taken over').toBe(false);

    // Presence: each sees the other alive and both hash new keys to the same owner, spread over the two.
    await eventually(() => a.peers().length === 2 && b.peers().length === 2, 3_000, 'a and b see each other');
    expect(a.peers(), 'both agree on who is alive').toEqual(b.peers());
    const keys = Array.from({ length: 40 }, (_, i) => `pred.v.S${i}`);
    expect(keys.map((k) => a.preferredOwner(k)), 'both agree on the preferred owner of each key').toEqual(keys.map((k) => b.preferredOwner(k)));
    const toA = keys.filter((k) => a.preferredOwner(k) === a.token).length;
    expect(toA, `40 keys spread over 2 processes (${toA} to a)`).toBeGreaterThan(8);
    expect(toA, `40 keys spread over 2 processes (${toA} to a)`).toBeLessThan(32);

    expect(await b.claim('ingest'), 'a free key is claimed at once').toBe(true);
    expect(await a.claim('ingest'), 'a key held by a live process is not taken').toBe(false);
    // b dies (its connection goes away without releasing anything): a takes its keys over after the TTL.
    const t0 = Date.now();
    await ncB.close();
    await eventually(() => a.owns('ingest') && (winner === a || a.owns('pred.v.X')), 5_000, 'a takes over the keys of the silent b');
    const took = Date.now() - t0;
    await eventually(() => a.peers().length === 1, 3_000, 'a no longer counts the dead b as a peer');
    expect(took, 'not before the TTL').toBeGreaterThanOrEqual(ttlMs - 150);
    expect(took, 'within a few refresh rounds after the TTL').toBeLessThan(ttlMs + 1_500);
    await b.stop();

    // A clean stop releases: a third process gets the keys without waiting for the TTL.
    const c = await WorkClaims.open(await connect('claims-c'), { ttlMs: 60_000, refreshMs: 100, log: sys.log, processId: 'host:3:c' });
    c.listen({ onAcquired: (k) => events.push(`c+${k}`) });
    expect(await c.claim('ingest'), 'ingest is held by a').toBe(false);
    expect(await c.claim('pred.v.X'), 'pred.v.X is held by a').toBe(false);
    await a.stop();
    await eventually(() => c.owns('ingest') && c.owns('pred.v.X'), 2_000, 'c takes the released keys at once (TTL 60 s)');
    await c.stop();
    const first = ra ? 'a' : 'b';
    expect(events[0], `the first claim is heard as an acquisition (${events.join(' ')})`).toBe(`${first}+pred.v.X`);
    expect(events, `the takeover is heard by a (${events.join(' ')})`).toContain('a+ingest');
    expect(events, `c acquires both released keys (${events.join(' ')})`).toEqual(expect.arrayContaining(['c+ingest', 'c+pred.v.X']));
  }, 30_000);

  it('a process that joins later is handed the keys it hashes to, once it has been up for a while', async () => {
    const ttlMs = 600;
    const a = await WorkClaims.open(await connect('rebalance-a'), { ttlMs, refreshMs: 100, log: sys.log, processId: 'host:1:ra' });
    const keys = Array.from({ length: 16 }, (_, i) => `pred.rb.S${i}`);
    for (const k of keys) expect(await a.claim(k), `a alone claims ${k}`).toBe(true);
    // The processes of the test before share the bucket: their presence lasts until it is a TTL old.
    await eventually(() => a.peers().length === 1, 5_000, 'a alone among the live processes');
    expect(a.misplaced('pred.rb.', 0), 'alone, no key is misplaced').toEqual([]);

    const b = await WorkClaims.open(await connect('rebalance-b'), { ttlMs, refreshMs: 100, log: sys.log, processId: 'host:2:rb' });
    const events: string[] = [];
    a.listen({ onAcquired: (k) => events.push(`a+${k}`), onLost: (k) => events.push(`a-${k}`) });
    b.listen({ onAcquired: (k) => events.push(`b+${k}`), onLost: (k) => events.push(`b-${k}`) });
    await eventually(() => a.peers().length === 2, 3_000, 'a sees b');
    expect(a.misplaced('pred.rb.', 60_000), 'nothing moves before b has been up for the stable period').toEqual([]);
    const toB = keys.filter((k) => a.preferredOwner(k) === b.token);
    expect(toB.length, `b's share of 16 keys (${toB.length})`).toBeGreaterThan(0);
    expect(toB.length).toBeLessThan(16);
    await new Promise((r) => setTimeout(r, ttlMs));
    const moves = a.misplaced('pred.rb.', ttlMs);
    expect(moves.map((m) => m.key).sort(), 'misplaced: exactly the keys that hash to b').toEqual([...toB].sort());
    expect(new Set(moves.map((m) => m.to)), 'all of them go to b').toEqual(new Set([b.token]));

    expect(await a.handOff('pred.rb.S0', 'no-such-process'), 'no hand-over to a process that has no presence').toBe(false);
    expect(a.owns('pred.rb.S0'), 'the key stays with a').toBe(true);
    for (const m of moves) expect(await a.handOff(m.key, m.to), `hand ${m.key} over`).toBe(true);
    await eventually(() => toB.every((k) => b.owns(k)), 3_000, 'b takes up the keys handed to it');
    expect(keys.filter((k) => a.owns(k)).sort(), 'a keeps the rest').toEqual(keys.filter((k) => !toB.includes(k)).sort());
    // Stable: b refreshes what it got (a does not take it back after the TTL) and nothing is misplaced any more.
    await new Promise((r) => setTimeout(r, ttlMs * 3));
    expect(toB.filter((k) => !b.owns(k) || a.owns(k)), 'b still owns, a does not').toEqual([]);
    expect([...a.misplaced('pred.rb.', 0), ...b.misplaced('pred.rb.', 0)], 'both agree that every key is where it belongs').toEqual([]);
    for (const k of toB) {
      expect(events, `the hand-over of ${k} is heard on both sides`).toEqual(expect.arrayContaining([`a-${k}`, `b+${k}`]));
    }
    expect(events.filter((e) => e.startsWith('b-') || e.startsWith('a+')), 'no key went back').toEqual([]);
    await a.stop();
    await b.stop();
  }, 30_000);
});
