import type { NatsConnection } from '@nats-io/transport-node';
import type { Db } from '../sql/index.ts';

/** The answer of one readiness check: "not ready" is a value with a reason, never a throw. */
export type CheckResult = { ok: true; detail?: string } | { ok: false; reason: string };
export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

export type ReadinessReport = {
  ready: boolean;
  /** Names of the checks that did not pass. */
  notReady: string[];
  checks: Record<string, CheckResult>;
};

/**
 * The readiness checks of a process (`/readyz`). Components register a named check
 * when they start and remove it when they stop; the process is ready when every
 * registered check passes. A check that throws or takes longer than `timeoutMs`
 * counts as not ready.
 */
export class HealthChecks {
  private readonly checks = new Map<string, ReadinessCheck>();

  constructor(private readonly timeoutMs = 2_000) {}

  /** Adds (or replaces) a check; returns the function that removes it. */
  register(name: string, check: ReadinessCheck): () => void {
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  /** Runs every check in parallel. */
  async evaluate(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]): Promise<[string, CheckResult]> => [name, await this.runOne(check)]),
    );
    const checks = Object.fromEntries(entries);
    const notReady = entries.filter(([, r]) => !r.ok).map(([n]) => n);
    return { ready: notReady.length === 0, notReady, checks };
  }

  private async runOne(check: ReadinessCheck): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${this.timeoutMs} ms` }), this.timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(check), timeout]);
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** NATS is connected: not closed, and a round trip to the server answers. */
export function natsCheck(nc: NatsConnection): ReadinessCheck {
  return async () => {
    if (nc.isClosed()) return { ok: false, reason: 'connection closed' };
    const ms = await nc.rtt();
    return { ok: true, detail: `rtt ${ms.toFixed(1)} ms` };
  };
}

/** PostgreSQL answers `SELECT 1`. */
export function databaseCheck(db: Db): ReadinessCheck {
  return async () => {
    await db.query('SELECT 1');
    return { ok: true };
  };
}

/**
 * An actor is ready while its state matches one of `readyStates` (e.g. marketSync
 * `running.live` or `running.catchingUp`; `running.degraded` and `connecting` are not).
 * `state()` returns the dotted state name.
 */
export function stateCheck(state: () => string, readyStates: readonly string[]): ReadinessCheck {
  return () => {
    const s = state();
    return readyStates.includes(s) ? { ok: true, detail: s } : { ok: false, reason: `state ${s}` };
  };
}
