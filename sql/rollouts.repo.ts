import type pg from 'pg';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/*
 * Staged rollouts (model_rollouts) and their paired evidence (rollout_outcomes).
 * The lifecycle decides; these queries only store and read.
 */

type Queryable = pg.Pool | pg.ClientBase;

export const ROLLOUT_ROW_STAGES = ['shadow', 'canary', 'promoted', 'rolledback'] as const;
export type RolloutRowStage = (typeof ROLLOUT_ROW_STAGES)[number];

export type RolloutRow = {
  id: number;
  scope: string;
  role: 'pretrained' | 'online';
  regime: string;
  version: string;
  champion: string;
  stage: RolloutRowStage;
  canary: string[];
  reason: string;
  decision: Record<string, unknown> | null;
  startedAt: number;
  stageAt: number;
  endedAt: number | null;
};

type RolloutDbRow = {
  id: string;
  scope: string;
  role: 'pretrained' | 'online';
  regime: string;
  version: string;
  champion: string;
  stage: RolloutRowStage;
  canary: string[];
  reason: string;
  decision: Record<string, unknown> | null;
  started_ms: string;
  stage_ms: string;
  ended_ms: string | null;
};

const COLUMNS = `id, scope, role, regime, version, champion, stage, canary, reason, decision,
  ${TS_TO_MS('started_at')} AS started_ms, ${TS_TO_MS('stage_at')} AS stage_ms, ${TS_TO_MS('ended_at')} AS ended_ms`;

function toRow(r: RolloutDbRow): RolloutRow {
  return {
    id: Number(r.id),
    scope: r.scope,
    role: r.role,
    regime: r.regime,
    version: r.version,
    champion: r.champion,
    stage: r.stage,
    canary: r.canary,
    reason: r.reason,
    decision: r.decision,
    startedAt: Number(r.started_ms),
    stageAt: Number(r.stage_ms),
    endedAt: r.ended_ms === null ? null : Number(r.ended_ms),
  };
}

/** Opens a rollout in shadow. Throws (unique violation) when the scope has one open already. */
export async function insertRollout(
  db: Queryable,
  r: { scope: string; role: 'pretrained' | 'online'; regime: string; version: string; champion: string; reason: string; at: number },
): Promise<RolloutRow> {
  const res = await db.query<RolloutDbRow>(
    `INSERT INTO model_rollouts (scope, role, regime, version, champion, stage, reason, started_at, stage_at)
     VALUES ($1, $2, $3, $4, $5, 'shadow', $6, ${MS_TO_TS('$7::bigint')}, ${MS_TO_TS('$7::bigint')})
     RETURNING ${COLUMNS}`,
    [r.scope, r.role, r.regime, r.version, r.champion, r.reason, r.at],
  );
  const row = res.rows[0];
  if (!row) throw new Error('model_rollouts insert returned no row');
  return toRow(row);
}

/** Moves an open rollout to its next stage; returns the row, or undefined when it was not open in `from` (someone else moved it). */
export async function updateRolloutStage(
  db: Queryable,
  id: number,
  from: RolloutRowStage,
  next: { stage: RolloutRowStage; at: number; canary?: string[]; reason?: string; decision?: Record<string, unknown> },
): Promise<RolloutRow | undefined> {
  const ended = next.stage === 'promoted' || next.stage === 'rolledback';
  const res = await db.query<RolloutDbRow>(
    `UPDATE model_rollouts SET stage = $3, stage_at = ${MS_TO_TS('$4::bigint')},
       canary = coalesce($5::jsonb, canary), reason = coalesce($6, reason), decision = coalesce($7::jsonb, decision),
       ended_at = CASE WHEN $8 THEN ${MS_TO_TS('$4::bigint')} ELSE ended_at END
     WHERE id = $1 AND stage = $2 RETURNING ${COLUMNS}`,
    [id, from, next.stage, next.at, next.canary ? JSON.stringify(next.canary) : null, next.reason ?? null, next.decision ? JSON.stringify(next.decision) : null, ended],
  );
  const row = res.rows[0];
  return row ? toRow(row) : undefined;
}

/** Rollouts in shadow or canary, of one scope or all. */
export async function openRollouts(db: Queryable, scope?: string): Promise<RolloutRow[]> {
  const res = await db.query<RolloutDbRow>(
    `SELECT ${COLUMNS} FROM model_rollouts WHERE stage IN ('shadow', 'canary') AND ($1::text IS NULL OR scope = $1) ORDER BY id`,
    [scope ?? null],
  );
  return res.rows.map(toRow);
}

export async function getRollout(db: Queryable, id: number): Promise<RolloutRow | undefined> {
  const res = await db.query<RolloutDbRow>(`SELECT ${COLUMNS} FROM model_rollouts WHERE id = $1`, [id]);
  const row = res.rows[0];
  return row ? toRow(row) : undefined;
}

/** Rollouts, newest first (status, tests). */
export async function listRollouts(db: Queryable, filter: { scope?: string; limit?: number } = {}): Promise<RolloutRow[]> {
  const res = await db.query<RolloutDbRow>(
    `SELECT ${COLUMNS} FROM model_rollouts WHERE ($1::text IS NULL OR scope = $1) ORDER BY id DESC LIMIT $2`,
    [filter.scope ?? null, filter.limit ?? 100],
  );
  return res.rows.map(toRow);
}

/** One realised outcome on which both the champion and the challenger forecast. */
export type RolloutOutcome = {
  venue: string;
  symbol: string;
  ts: number;
  stage: string;
  actual: number;
  championValue: number;
  championPUp: number;
  challengerValue: number;
  challengerPUp: number;
};

/** Stores outcomes of a rollout; returns those not stored before (a repeat counts once). */
export async function insertRolloutOutcomes(db: Queryable, rolloutId: number, rows: readonly RolloutOutcome[]): Promise<RolloutOutcome[]> {
  if (rows.length === 0) return [];
  const res = await db.query<{ venue: string; symbol: string; ms: string }>(
    `INSERT INTO rollout_outcomes (rollout_id, venue, symbol, ts, stage, actual, champion_value, champion_p_up, challenger_value, challenger_p_up)
     SELECT $1, v, s, ${MS_TO_TS('t')}, st, a, cv, cp, xv, xp
     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[])
       AS u(v, s, t, st, a, cv, cp, xv, xp)
     ON CONFLICT DO NOTHING
     RETURNING venue, symbol, ${TS_TO_MS('ts')} AS ms`,
    [
      rolloutId,
      rows.map((r) => r.venue),
      rows.map((r) => r.symbol),
      rows.map((r) => r.ts),
      rows.map((r) => r.stage),
      rows.map((r) => r.actual),
      rows.map((r) => r.championValue),
      rows.map((r) => r.championPUp),
      rows.map((r) => r.challengerValue),
      rows.map((r) => r.challengerPUp),
    ],
  );
  const stored = new Set(res.rows.map((r) => `${r.venue}.${r.symbol}@${Number(r.ms)}`));
  return rows.filter((r) => stored.has(`${r.venue}.${r.symbol}@${r.ts}`));
}

/** The evidence of a rollout, in the order it was realised (bar time, then symbol). */
export async function readRolloutOutcomes(db: Queryable, rolloutId: number): Promise<RolloutOutcome[]> {
  const res = await db.query<{ venue: string; symbol: string; ms: string; stage: string; actual: number; cv: number; cp: number; xv: number; xp: number }>(
    `SELECT venue, symbol, ${TS_TO_MS('ts')} AS ms, stage, actual, champion_value AS cv, champion_p_up AS cp, challenger_value AS xv, challenger_p_up AS xp
     FROM rollout_outcomes WHERE rollout_id = $1 ORDER BY ts, venue, symbol`,
    [rolloutId],
  );
  return res.rows.map((r) => ({
    venue: r.venue,
    symbol: r.symbol,
    ts: Number(r.ms),
    stage: r.stage,
    actual: r.actual,
    championValue: r.cv,
    championPUp: r.cp,
    challengerValue: r.xv,
    challengerPUp: r.xp,
  }));
}

/** Outcomes stored for a rollout, and the symbols (`<venue>.<symbol>`) they came from. */
export async function rolloutEvidenceSize(db: Queryable, rolloutId: number): Promise<{ n: number; symbols: string[] }> {
  const res = await db.query<{ key: string; n: string }>(
    `SELECT venue || '.' || symbol AS key, count(*)::bigint AS n FROM rollout_outcomes WHERE rollout_id = $1 GROUP BY venue, symbol ORDER BY 1`,
    [rolloutId],
  );
  return { n: res.rows.reduce((a, r) => a + Number(r.n), 0), symbols: res.rows.map((r) => r.key) };
}
