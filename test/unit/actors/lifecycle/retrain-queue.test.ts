import { describe, expect, it } from 'vitest';
import { RetrainQueue } from '../../../../actors/lifecycle/retrain-queue.ts';
import type { RetrainRequest } from '../../../../actors/lifecycle/retrain-request.ts';

const req = (requestId: string, scope: string): RetrainRequest => ({ requestId, scope, trigger: 'manual', config: {} });

/** A queue whose runs finish only when the test says so. */
function harness() {
  const started: string[] = [];
  const queued: string[] = [];
  const finishers = new Map<string, () => void>();
  const queue = new RetrainQueue({
    run: (r) =>
      new Promise<void>((resolve) => {
        started.push(r.requestId);
        finishers.set(r.requestId, resolve);
      }),
    onQueued: (r) => queued.push(r.requestId),
  });
  const finish = async (requestId: string) => {
    const f = finishers.get(requestId);
    if (!f) throw new Error(`${requestId} is not running`);
    f();
    // Let the run's `finally` (release, next pump) happen.
    await new Promise((r) => setImmediate(r));
  };
  return { queue, started, queued, finish };
}

describe('retrain queue', () => {
  it('runs one request at a time per scope, and scopes side by side', async () => {
    const h = harness();
    h.queue.enqueue(req('a1', 'x.A'));
    h.queue.enqueue(req('a2', 'x.A'));
    h.queue.enqueue(req('b1', 'x.B'));
    expect(h.started, 'a2 waits for a1; b1 does not wait for scope x.A').toEqual(['a1', 'b1']);
    expect(h.queue.queuedCount()).toBe(1);
    expect(h.queue.runningScopes()).toEqual(['x.A', 'x.B']);
    await h.finish('a1');
    expect(h.started, 'the next of the scope starts when the previous ends').toEqual(['a1', 'b1', 'a2']);
    expect(h.queue.queuedCount()).toBe(0);
  });

  it('tells of every request queued, once', () => {
    const h = harness();
    h.queue.enqueue(req('a1', 'x.A'));
    h.queue.enqueue(req('a1', 'x.A'));
    h.queue.enqueue(req('a2', 'x.A'));
    expect(h.queued, 'a redelivered request id is not queued twice').toEqual(['a1', 'a2']);
  });

  it('forgets a request id once its run ended, so it can be asked for again', async () => {
    const h = harness();
    h.queue.enqueue(req('a1', 'x.A'));
    h.queue.enqueue(req('a1', 'x.A'));
    await h.finish('a1');
    h.queue.enqueue(req('a1', 'x.A'));
    expect(h.started, 'while running the id was known; after, it is new again').toEqual(['a1', 'a1']);
  });

  it('starts nothing new once stopped, and hands out the runs in flight to wait for', async () => {
    const h = harness();
    h.queue.enqueue(req('a1', 'x.A'));
    h.queue.enqueue(req('a2', 'x.A'));
    h.queue.stop();
    h.queue.enqueue(req('b1', 'x.B'));
    expect(h.started, 'b1 queued after stop does not start').toEqual(['a1']);
    const inFlight = h.queue.inFlight();
    expect(inFlight).toHaveLength(1);
    await h.finish('a1');
    await expect(Promise.all(inFlight)).resolves.toBeDefined();
    expect(h.started, 'a2 stays queued: its run is left to the next start').toEqual(['a1']);
    expect(h.queue.queuedCount()).toBe(2);
  });
});
