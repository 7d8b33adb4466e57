import { fromCallback, type AnyActorRef } from 'xstate';
import type { Logger } from '../../config/index.ts';
import type { AlertInput } from '../../ops/index.ts';
import { backoffDelay } from '../../streams/index.ts';
import type { ChildStarters } from './child-starters.ts';
import type { IngestLease } from './ingest-lease.ts';
import type { ChildName, Children, ChildStatus, SupervisionEvent, SupervisorDeps } from './phase-supervisor.effects.ts';

/** The message of a thrown value. */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export type ExitHandler = (name: ChildName, error: string) => void;

/**
 * Watches the running children: a child whose actor errors, or completes while the
 * system is not stopping, is passed to the exit handler that `supervise` installs.
 * Before Phase 4 and after `supervise` ends there is none, so nothing restarts then.
 */
export class ChildWatch {
  /** Set when the drain begins: a child that stops from then on has not failed, and nothing restarts. */
  stopping = false;
  private readonly watchers = new Map<ChildName, { unsubscribe(): void }>();
  private onExit: ExitHandler = () => undefined;

  constructor(private readonly status: Record<ChildName, ChildStatus>) {}

  /** Marks the child running and reports its actor's exit (replacing the watch of its previous actor). */
  watch(name: ChildName, actor: AnyActorRef): void {
    this.status[name].state = 'running';
    this.watchers.get(name)?.unsubscribe();
    this.watchers.set(
      name,
      actor.subscribe({
        error: (err: unknown) => this.exited(name, errorText(err)),
        complete: () => {
          if (!this.stopping) this.exited(name, 'stopped unexpectedly');
        },
      }),
    );
  }

  /** Stops watching a child stopped on purpose (scale-out: ingest lease lost). */
  unwatch(name: ChildName): void {
    this.watchers.get(name)?.unsubscribe();
    this.watchers.delete(name);
  }

  /** The drain begins: no exit is reported from now on. */
  stop(): void {
    this.stopping = true;
    for (const w of this.watchers.values()) w.unsubscribe();
  }

  /** Reports a child's exit (or its failure to start) to the current exit handler. */
  exited(name: ChildName, error: string): void {
    this.onExit(name, error);
  }

  /** Exits go to `handler` until the returned function is called. */
  handleExits(handler: ExitHandler): () => void {
    this.onExit = handler;
    return () => {
      this.onExit = () => undefined;
    };
  }
}

export type RestartDecision = { action: 'restart'; attempt: number } | { action: 'give_up' };

/**
 * Failures per child within a sliding window: a child that failed `max` times within
 * `windowMs` is given up on (the system runs degraded without it) instead of being
 * restarted again, so a crash loop becomes a visible state.
 */
export class RestartWindow {
  private readonly failures = new Map<ChildName, number[]>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /**
   * Records a failure of `name` at `now` and says what to do: restart, with its
   * attempt number within the window (0 first, for the backoff), or give up. A
   * given-up failure is not recorded.
   */
  record(name: ChildName, now: number): RestartDecision {
    const recent = (this.failures.get(name) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length >= this.max) return { action: 'give_up' };
    recent.push(now);
    this.failures.set(name, recent);
    return { action: 'restart', attempt: recent.length - 1 };
  }
}

/** The `child_restart` alert of a failed child. */
export function childFailedAlert(name: ChildName, error: string): AlertInput {
  return { severity: 'warning', message: `${name} failed: ${error}`, details: { child: name } };
}

/** The `degraded` alert of a child given up on. */
export function childGivenUpAlert(name: ChildName, restarts: RestartWindow): AlertInput {
  return {
    severity: 'critical',
    message: `${name} failed ${restarts.max} times within ${restarts.windowMs / 1000} s; running without it`,
    details: { child: name },
  };
}

export type SupervisionEnv = {
  deps: SupervisorDeps;
  /** The supervisor's logger. */
  log: Logger;
  children: Children;
  watch: ChildWatch;
  starters: ChildStarters;
  ingest: IngestLease;
};

type SendBack = (event: SupervisionEvent) => void;

/**
 * The `supervise` callback: while it runs (from Phase 4 on), a crashed child is
 * restarted with backoff, or given up on after `maxRestarts` within the window.
 */
export function superviseLogic(env: SupervisionEnv) {
  return fromCallback<{ type: 'noop' }>(({ sendBack }) => {
    const restarts = new RestartWindow(env.deps.maxRestarts ?? 5, env.deps.restartWindowMs ?? 60_000);
    return env.watch.handleExits((name, error) => onChildExit(env, restarts, sendBack, name, error));
  });
}

function onChildExit(env: SupervisionEnv, restarts: RestartWindow, sendBack: SendBack, name: ChildName, error: string): void {
  const { children, log, deps } = env;
  const status = children.status[name];
  status.state = 'restarting';
  status.lastError = error;
  log.error({ child: name, error }, 'child failed');
  sendBack({ type: 'child.failed', child: name, error });
  void children.ops?.alert('child_restart', childFailedAlert(name, error));
  const decision = restarts.record(name, Date.now());
  if (decision.action === 'give_up') {
    status.state = 'failed';
    sendBack({ type: 'child.gave_up', child: name, error });
    void children.ops?.alert('degraded', childGivenUpAlert(name, restarts));
    return;
  }
  const delay = backoffDelay(decision.attempt, deps.settings.RETRY_MIN_MS, deps.settings.RETRY_MAX_MS);
  setTimeout(() => restartChild(env, sendBack, name), delay);
}

function restartChild(env: SupervisionEnv, sendBack: SendBack, name: ChildName): void {
  const { children, watch } = env;
  const status = children.status[name];
  if (watch.stopping) return;
  // Scale-out: ingest runs only under the lease (a process that lost it is a standby).
  if (name === 'marketSync' && !env.ingest.mayRun()) {
    status.state = 'standby';
    return;
  }
  env.starters.start(name).then(
    (actor) => {
      status.restarts += 1;
      children.ops?.metrics.childRestarts.inc({ child: name });
      if (name === 'marketSync') env.ingest.restarted();
      watch.watch(name, actor);
      sendBack({ type: 'child.restarted', child: name, restarts: status.restarts });
    },
    (err: unknown) => watch.exited(name, errorText(err)),
  );
}
