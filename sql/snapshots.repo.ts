import type pg from 'pg';
import { TS_TO_MS } from './ticks.repo.ts';

/** One row of `actor_snapshots`: an actor's persisted state, tagged with the machine definition it was taken from. */
export type SnapshotRow = {
  actorId: string;
  machineId: string;
  definitionVersion: string;
  /** The snapshot as stored (jsonb); callers parse it with their schema. */
  snapshot: unknown;
  updatedAt: number;
};

export type SnapshotWrite = Pick<SnapshotRow, 'actorId' | 'machineId' | 'definitionVersion' | 'snapshot'>;

/**
 * Upserts snapshots in one statement (the last write of an actor wins). Keyed
 * by actor id; `updated_at` is set to now.
 */
export async function upsertSnapshots(db: pg.Pool | pg.ClientBase, rows: readonly SnapshotWrite[]): Promise<number> {
  if (rows.length === 0) return 0;
  // One row per actor id: a later entry of the same actor replaces an earlier one.
  const byId = new Map<string, SnapshotWrite>();
  for (const r of rows) byId.set(r.actorId, r);
  const list = [...byId.values()];
  const r = await db.query(
    `INSERT INTO actor_snapshots (actor_id, machine_id, definition_version, snapshot, updated_at)
     SELECT a, m, v, s, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS u(a, m, v, s)
     ON CONFLICT (actor_id) DO UPDATE
       SET machine_id = EXCLUDED.machine_id, definition_version = EXCLUDED.definition_version,
           snapshot = EXCLUDED.snapshot, updated_at = EXCLUDED.updated_at`,
    [list.map((x) => x.actorId), list.map((x) => x.machineId), list.map((x) => x.definitionVersion), list.map((x) => JSON.stringify(x.snapshot))],
  );
  return r.rowCount ?? 0;
}

/** The snapshots of the given actor ids (those that exist). */
export async function readSnapshots(db: pg.Pool | pg.ClientBase, actorIds: readonly string[]): Promise<SnapshotRow[]> {
  if (actorIds.length === 0) return [];
  const r = await db.query<{ actor_id: string; machine_id: string; definition_version: string; snapshot: unknown; updated_ms: number }>(
    `SELECT actor_id, machine_id, definition_version, snapshot, ${TS_TO_MS('updated_at')} AS updated_ms
     FROM actor_snapshots WHERE actor_id = ANY($1::text[])`,
    [actorIds],
  );
  return r.rows.map((x) => ({ actorId: x.actor_id, machineId: x.machine_id, definitionVersion: x.definition_version, snapshot: x.snapshot, updatedAt: Number(x.updated_ms) }));
}

export async function deleteSnapshots(db: pg.Pool | pg.ClientBase, actorIds: readonly string[]): Promise<number> {
  if (actorIds.length === 0) return 0;
  const r = await db.query(`DELETE FROM actor_snapshots WHERE actor_id = ANY($1::text[])`, [actorIds]);
  return r.rowCount ?? 0;
}
