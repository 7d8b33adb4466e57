import type { z } from 'zod';
import type { Logger } from '../../config/index.ts';
import { readSnapshots, upsertSnapshots, type Db } from '../../sql/index.ts';

/** Counters of a snapshot store (what was restored, what was thrown away and why). */
export type SnapshotStoreStats = {
  saved: number;
  loaded: number;
  /** Snapshots not found (first start of the actor). */
  missing: number;
  /** Snapshots taken from another definition version of the machine: ignored with a warning. */
  versionMismatch: number;
  /** Snapshots that failed the schema (a bug or a hand edit): ignored with a warning. */
  invalid: number;
};

export type SnapshotStoreOptions<S extends z.ZodType> = {
  db: Db;
  log: Logger;
  /** The machine's id (`confidenceWeighter`): stored for inspection, and a snapshot of another machine is ignored. */
  machineId: string;
  /**
   * Version of the machine definition the snapshots belong to. Bump it whenever
   * the machine's states or context change shape: older snapshots are then
   * ignored (the actor starts fresh) instead of restoring a state the new
   * definition does not have.
   */
  definitionVersion: string;
  /** The snapshot's schema: what is read back is parsed, never cast. */
  schema: S;
};

/**
 * Persisted actor snapshots in `actor_snapshots`: `save` upserts, `load` returns
 * the snapshots of this machine and definition version. A snapshot of another
 * definition version (or machine, or one that fails the schema) is ignored with a
 * warning and counted: the actor starts from its initial state.
 */
export class SnapshotStore<S extends z.ZodType> {
  readonly stats: SnapshotStoreStats = { saved: 0, loaded: 0, missing: 0, versionMismatch: 0, invalid: 0 };
  private readonly log: Logger;

  constructor(private readonly opts: SnapshotStoreOptions<S>) {
    this.log = opts.log.child({ actor: 'snapshotStore', machine: opts.machineId });
  }

  get definitionVersion(): string {
    return this.opts.definitionVersion;
  }

  /** Upserts the snapshots (one statement). */
  async save(entries: readonly { actorId: string; snapshot: z.output<S> }[]): Promise<void> {
    if (entries.length === 0) return;
    await upsertSnapshots(
      this.opts.db,
      entries.map((e) => ({ actorId: e.actorId, machineId: this.opts.machineId, definitionVersion: this.opts.definitionVersion, snapshot: e.snapshot })),
    );
    this.stats.saved += entries.length;
  }

  /** The usable snapshots of these actors, by actor id. */
  async loadMany(actorIds: readonly string[]): Promise<Map<string, z.output<S>>> {
    const out = new Map<string, z.output<S>>();
    if (actorIds.length === 0) return out;
    const rows = await readSnapshots(this.opts.db, actorIds);
    this.stats.missing += actorIds.length - rows.length;
    for (const row of rows) {
      if (row.machineId !== this.opts.machineId || row.definitionVersion !== this.opts.definitionVersion) {
        this.stats.versionMismatch += 1;
        this.log.warn(
          { actorId: row.actorId, stored: `${row.machineId}@${row.definitionVersion}`, running: `${this.opts.machineId}@${this.opts.definitionVersion}` },
          'snapshot of another machine definition ignored; the actor starts fresh',
        );
        continue;
      }
      const parsed = this.opts.schema.safeParse(row.snapshot);
      if (!parsed.success) {
        this.stats.invalid += 1;
        this.log.warn({ actorId: row.actorId, issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) }, 'invalid snapshot ignored; the actor starts fresh');
        continue;
      }
      out.set(row.actorId, parsed.data);
      this.stats.loaded += 1;
    }
    return out;
  }

  async load(actorId: string): Promise<z.output<S> | undefined> {
    return (await this.loadMany([actorId])).get(actorId);
  }
}
