import type { RetrainRequest } from './retrain-request.ts';

export type RetrainQueueHooks = {
  /** Runs one request to its end. Must settle without rejecting: a failure is reported by the runner itself. */
  run(req: RetrainRequest): Promise<void>;
  /** A request joined its scope's queue. */
  onQueued(req: RetrainRequest): void;
};

/**
 * Retrain requests waiting, one run at a time per scope (two trainings of one
 * scope would race to register and activate), different scopes side by side. A
 * request id is known from the moment it is queued until its run ends, so a
 * command redelivered meanwhile (or resumed at start) is not run twice.
 */
export class RetrainQueue {
  private readonly queues = new Map<string, RetrainRequest[]>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly known = new Set<string>();
  private stopping = false;

  constructor(private readonly hooks: RetrainQueueHooks) {}

  enqueue(req: RetrainRequest): void {
    if (this.known.has(req.requestId)) return;
    this.known.add(req.requestId);
    const q = this.queues.get(req.scope) ?? [];
    q.push(req);
    this.queues.set(req.scope, q);
    this.hooks.onQueued(req);
    this.pump(req.scope);
  }

  /** No further run starts; runs in flight go on (see `inFlight`). Requests still waiting stay unfinished in retrain_runs for the next start. */
  stop(): void {
    this.stopping = true;
  }

  /** Requests waiting, all scopes together. */
  queuedCount(): number {
    return [...this.queues.values()].reduce((n, q) => n + q.length, 0);
  }

  /** Scopes with a run in flight, in the order their runs started. */
  runningScopes(): string[] {
    return [...this.running.keys()];
  }

  /** The runs in flight, to wait for on stop. */
  inFlight(): Promise<void>[] {
    return [...this.running.values()];
  }

  private pump(scope: string): void {
    if (this.stopping || this.running.has(scope)) return;
    const next = this.queues.get(scope)?.shift();
    if (!next) return;
    const p = this.hooks.run(next).finally(() => {
      this.running.delete(scope);
      this.known.delete(next.requestId);
      this.pump(scope);
    });
    this.running.set(scope, p);
  }
}
