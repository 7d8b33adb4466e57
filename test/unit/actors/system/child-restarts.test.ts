import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise } from 'xstate';
import { ChildWatch, childFailedAlert, childGivenUpAlert, errorText, RestartWindow } from '../../../../actors/system/child-restarts.ts';
import type { ChildName, ChildStatus } from '../../../../actors/system/phase-supervisor.effects.ts';

const statuses = (): Record<ChildName, ChildStatus> => ({
  marketSync: { state: 'not started', restarts: 0, lastError: undefined },
  predictor: { state: 'not started', restarts: 0, lastError: undefined },
  lifecycle: { state: 'not started', restarts: 0, lastError: undefined },
});

/** An actor that fails or completes when told to. */
function controllable() {
  let finish: (outcome: 'fail' | 'complete') => void = () => undefined;
  const actor = createActor(
    fromPromise<void>(
      () =>
        new Promise<void>((resolve, reject) => {
          finish = (outcome) => (outcome === 'fail' ? reject(new Error('boom')) : resolve());
        }),
    ),
  );
  // The test's own observer: an actor erroring with no observer at all is an unhandled error.
  actor.subscribe({ error: () => undefined });
  actor.start();
  return { actor, fail: () => finish('fail'), complete: () => finish('complete') };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('RestartWindow', () => {
  it('numbers the restarts within the window and gives up at max', () => {
    const w = new RestartWindow(2, 1_000);
    expect(w.record('predictor', 0)).toEqual({ action: 'restart', attempt: 0 });
    expect(w.record('predictor', 100)).toEqual({ action: 'restart', attempt: 1 });
    expect(w.record('predictor', 200), 'a third failure within 1 s is one too many').toEqual({ action: 'give_up' });
  });

  it('forgets failures older than the window', () => {
    const w = new RestartWindow(2, 1_000);
    w.record('lifecycle', 0);
    w.record('lifecycle', 500);
    expect(w.record('lifecycle', 1_000), 'the failure at 0 is out of the window at 1000').toEqual({ action: 'restart', attempt: 1 });
    expect(w.record('lifecycle', 2_500), 'every earlier failure has expired').toEqual({ action: 'restart', attempt: 0 });
  });

  it('counts each child on its own', () => {
    const w = new RestartWindow(1, 60_000);
    expect(w.record('marketSync', 0)).toEqual({ action: 'restart', attempt: 0 });
    expect(w.record('predictor', 0), 'another child failing does not use up this one').toEqual({ action: 'restart', attempt: 0 });
    expect(w.record('marketSync', 1)).toEqual({ action: 'give_up' });
  });

  it('does not record a failure it gives up on', () => {
    const w = new RestartWindow(1, 1_000);
    w.record('predictor', 0);
    expect(w.record('predictor', 900)).toEqual({ action: 'give_up' });
    expect(w.record('predictor', 1_000), 'only the failure at 0 was recorded, and it has expired').toEqual({ action: 'restart', attempt: 0 });
  });
});

describe('restart alerts', () => {
  it('name the child, the error and the limit', () => {
    expect(childFailedAlert('predictor', 'poison bar')).toEqual({ severity: 'warning', message: 'predictor failed: poison bar', details: { child: 'predictor' } });
    expect(childGivenUpAlert('marketSync', new RestartWindow(5, 60_000))).toEqual({
      severity: 'critical',
      message: 'marketSync failed 5 times within 60 s; running without it',
      details: { child: 'marketSync' },
    });
  });

  it('errorText takes an Error message or the thrown value as text', () => {
    expect(errorText(new TypeError('bad'))).toBe('bad');
    expect(errorText('plain')).toBe('plain');
    expect(errorText(42)).toBe('42');
  });
});

describe('ChildWatch', () => {
  it('marks a watched child running and reports its error to the installed handler', async () => {
    const status = statuses();
    const watch = new ChildWatch(status);
    const exits: [ChildName, string][] = [];
    watch.handleExits((name, error) => exits.push([name, error]));
    const c = controllable();
    watch.watch('predictor', c.actor);
    expect(status.predictor.state).toBe('running');
    c.fail();
    await settle();
    expect(exits).toEqual([['predictor', 'boom']]);
  });

  it('reports a child that stops while the system runs, not once the drain began', async () => {
    const watch = new ChildWatch(statuses());
    const exits: string[] = [];
    watch.handleExits((_, error) => exits.push(error));
    const running = controllable();
    watch.watch('lifecycle', running.actor);
    running.complete();
    await settle();
    expect(exits).toEqual(['stopped unexpectedly']);

    const drained = controllable();
    watch.watch('lifecycle', drained.actor);
    watch.stop();
    expect(watch.stopping).toBe(true);
    drained.fail();
    await settle();
    expect(exits, 'after stop() no exit is reported').toEqual(['stopped unexpectedly']);
  });

  it('follows only the newest actor of a child and nothing once unwatched', async () => {
    const watch = new ChildWatch(statuses());
    const exits: string[] = [];
    watch.handleExits((name) => exits.push(name));
    const old = controllable();
    const replacement = controllable();
    watch.watch('marketSync', old.actor);
    watch.watch('marketSync', replacement.actor);
    old.fail();
    await settle();
    expect(exits, 'the replaced actor is not watched any more').toEqual([]);
    watch.unwatch('marketSync');
    replacement.fail();
    await settle();
    expect(exits, 'an unwatched child is not reported').toEqual([]);
  });

  it('drops exits once the handler is removed (supervise ended)', () => {
    const watch = new ChildWatch(statuses());
    const exits: string[] = [];
    const remove = watch.handleExits((_, error) => exits.push(error));
    watch.exited('predictor', 'first');
    remove();
    watch.exited('predictor', 'second');
    expect(exits).toEqual(['first']);
  });

  it('reports a callback actor that errors', () => {
    const watch = new ChildWatch(statuses());
    const exits: string[] = [];
    watch.handleExits((_, error) => exits.push(error));
    const actor = createActor(
      fromCallback(() => {
        throw new Error('start failed');
      }),
    );
    watch.watch('predictor', actor);
    actor.start();
    expect(exits).toEqual(['start failed']);
  });
});
