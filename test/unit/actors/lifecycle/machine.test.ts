import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { modelLifecycleMachine, type LifecycleLoopEvent } from '../../../../actors/lifecycle/model-lifecycle.machine.ts';

/** The machine alone: effects replaced by a scripted work loop. */
function scripted(connectFails = 0) {
  let send: ((e: LifecycleLoopEvent) => void) | undefined;
  let stopAsked = 0;
  let connects = 0;
  const machine = modelLifecycleMachine.provide({
    actors: {
      connect: fromPromise(async () => {
        connects += 1;
        if (connects <= connectFails) throw new Error('nats down');
      }),
      work: fromCallback<{ type: 'lifecycle.stop' }>(({ sendBack, receive }) => {
        send = (e) => sendBack(e);
        receive(() => {
          stopAsked += 1;
          sendBack({ type: 'lifecycle.stopped' });
        });
      }),
    },
  });
  const actor = createActor(machine, { input: { retryMinMs: 1, retryMaxMs: 5 } });
  return {
    actor,
    emit: (e: LifecycleLoopEvent) => {
      if (!send) throw new Error('work loop not running');
      send(e);
    },
    stopAsked: () => stopAsked,
    connects: () => connects,
  };
}

describe('modelLifecycle machine', () => {
  it('reconnects after a failed connect, then tracks scopes in training and counts outcomes', async () => {
    const s = scripted(2);
    s.actor.start();
    await waitFor(s.actor, (x) => x.matches('running'), { timeout: 2_000 });
    expect(s.connects(), 'two failed connects, then success').toBe(3);
    expect(s.actor.getSnapshot().matches({ running: 'idle' })).toBe(true);
    s.emit({ type: 'retrain.queued', requestId: 'a', scope: 'x.A' });
    s.emit({ type: 'retrain.started', requestId: 'a', scope: 'x.A', attempt: 1 });
    s.emit({ type: 'retrain.started', requestId: 'b', scope: 'x.B', attempt: 1 });
    expect(s.actor.getSnapshot().matches({ running: 'retraining' })).toBe(true);
    expect(s.actor.getSnapshot().context.inFlight).toEqual({ 'x.A': 'a', 'x.B': 'b' });
    s.emit({ type: 'retrain.finished', requestId: 'a', scope: 'x.A', status: 'succeeded', version: 'v1.0.0', deployed: true });
    expect(s.actor.getSnapshot().matches({ running: 'retraining' }), 'x.B still trains').toBe(true);
    s.emit({ type: 'retrain.finished', requestId: 'b', scope: 'x.B', status: 'failed', deployed: false });
    expect(s.actor.getSnapshot().matches({ running: 'idle' }), 'idle once no scope trains').toBe(true);
    s.emit({ type: 'model.rolledback', scope: 'x.A', version: 'v1.0.0', auto: true, latencyMs: 5 });
    expect(s.actor.getSnapshot().context.stats).toEqual({ queued: 1, succeeded: 1, failed: 1, skipped: 0, deployed: 1, rollbacks: 1, autoRollbacks: 1 });
  });

  it('is degraded while NATS or the database fail, and stops through the work loop', async () => {
    const s = scripted();
    s.actor.start();
    await waitFor(s.actor, (x) => x.matches('running'), { timeout: 2_000 });
    s.emit({ type: 'lifecycle.degraded', reason: 'db down' });
    expect(s.actor.getSnapshot().matches({ running: 'degraded' })).toBe(true);
    expect(s.actor.getSnapshot().context.lastError).toBe('db down');
    s.emit({ type: 'lifecycle.recovered' });
    expect(s.actor.getSnapshot().matches({ running: 'idle' })).toBe(true);
    s.actor.send({ type: 'lifecycle.stop' });
    await waitFor(s.actor, (x) => x.status === 'done', { timeout: 2_000 });
    expect(s.stopAsked(), 'the work loop was asked to stop once').toBe(1);
  });
});
