import type { Logger } from '../../config/index.ts';
import { errorText, type ChildWatch } from './child-restarts.ts';
import type { ChildStarters } from './child-starters.ts';
import type { Children } from './phase-supervisor.effects.ts';

/** Scale-out: the work-claim key of the ingest leader lease (marketSync and the quality supervisor). */
export const INGEST_CLAIM = 'ingest';

export type IngestLeaseEnv = {
  /** The supervisor's logger. */
  log: Logger;
  children: Children;
  starters: ChildStarters;
  watch: ChildWatch;
};

/**
 * Ingest: marketSync and the quality supervisor. Without scale-out they start in
 * Phase 2 and run for good; with it (SCALE_OUT=true) they run only while this
 * process holds the ingest lease, started and stopped as the lease comes and goes.
 */
export class IngestLease {
  /** Lease changes are applied one after the other; this is the last one. */
  chain: Promise<void> = Promise.resolve();
  /** Why the last marketSync start under the lease failed. */
  error: unknown;

  constructor(private readonly env: IngestLeaseEnv) {}

  /** Without scale-out ingest always runs; with it, only under the ingest lease. */
  mayRun(): boolean {
    const { claims } = this.env.children;
    return !claims || claims.owns(INGEST_CLAIM);
  }

  /** marketSync and the quality supervisor, without scale-out. */
  async start(): Promise<void> {
    this.env.watch.watch('marketSync', await this.env.starters.marketSync());
    this.attachSync();
    await this.env.starters.quality();
  }

  /** A lease change: applied after the ones before it; the returned promise is the new end of the chain. */
  onLease(acquired: boolean): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.env.watch.stopping) return;
      const { children, log } = this.env;
      if (acquired && !children.sync) {
        log.warn({ processId: children.claims?.processId }, 'ingest lease acquired: starting marketSync');
        await this.startUnderLease();
      } else if (!acquired && children.sync) {
        log.warn({ processId: children.claims?.processId }, 'ingest lease lost: stopping marketSync');
        await this.stop();
      }
    });
    return this.chain;
  }

  /** After a supervised restart of marketSync: monitoring follows the new actor, and a new leader gets its quality supervisor. */
  restarted(): void {
    const { children } = this.env;
    if (children.sync) children.ops?.attachMarketSync(children.sync.actor);
    if (children.claims) void this.startQualityUnderLease();
  }

  private async startUnderLease(): Promise<void> {
    // A marketSync that fails to start is restarted by the supervision like a crashed one.
    try {
      this.env.watch.watch('marketSync', await this.env.starters.marketSync());
      this.attachSync();
    } catch (err) {
      this.error = err;
      this.env.watch.exited('marketSync', errorText(err));
    }
    await this.startQualityUnderLease();
  }

  /** Scale-out: the quality supervisor of a new ingest leader; a failure is logged (ingest goes on without it). */
  private startQualityUnderLease(): Promise<void> {
    return this.env.children.quality
      ? Promise.resolve()
      : this.env.starters.quality().catch((err: unknown) => this.env.log.error({ err }, 'quality supervisor did not start'));
  }

  /** The lease was lost: ingest stops and this process is a standby. */
  private async stop(): Promise<void> {
    const { children, log, watch } = this.env;
    watch.unwatch('marketSync');
    const { sync, quality, history } = children;
    children.sync = undefined;
    children.quality = undefined;
    children.history = undefined;
    await history?.stop().catch((err: unknown) => log.warn({ err }, 'history loader stop'));
    children.status.marketSync.state = 'standby';
    await sync?.stop().catch((err: unknown) => log.warn({ err }, 'marketSync stop'));
    await quality?.stop(10_000).catch((err: unknown) => log.warn({ err }, 'quality supervisor stop'));
  }

  private attachSync(): void {
    const { children } = this.env;
    if (children.ops && children.sync) children.ops.attachMarketSync(children.sync.actor);
  }
}
