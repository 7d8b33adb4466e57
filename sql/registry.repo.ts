import type pg from 'pg';
import { MS_TO_TS, TS_TO_MS } from './ticks.repo.ts';

/*
 * The model registry's queries (model_versions, model_deployments, retrain_runs).
 * Artifact bytes are written by sql/model-artifacts.repo.ts (`saveModelArtifact`)
 * and read by models/inference.ts (`loadPredictor`); nothing here returns them.
 */

type Queryable = pg.Pool | pg.ClientBase;

export const VERSION_STATUSES = ['candidate', 'active', 'retired', 'rejected'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

/** A registry row without its artifact bytes. Times are epoch ms (null when unset). */
export type VersionRow = {
  version: string;
  scope: string;
  role: 'pretrained' | 'online';
  kind: string;
  status: VersionStatus;
  parentVersion: string | null;
  regime: string | null;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  dataFrom: number | null;
  dataTo: number | null;
  runId: string | null;
  /** Bytes of the stored artifact; null once retention removed it. */
  artifactBytes: number | null;
  artifactSha256: string | null;
  everActive: boolean;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
};

type VersionDbRow = {
  version: string;
  scope: string;
  role: 'pretrained' | 'online';
  kind: string;
  status: VersionStatus;
  parent_version: string | null;
  regime: string | null;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  data_from_ms: number | null;
  data_to_ms: number | null;
  run_id: string | null;
  artifact_bytes: number | null;
  artifact_sha256: string | null;
  ever_active: boolean;
  created_ms: number;
  activated_ms: number | null;
  retired_ms: number | null;
};

const VERSION_COLUMNS = `version, scope, role, kind, status, parent_version, regime, params, metrics,
  ${TS_TO_MS('data_from')} AS data_from_ms, ${TS_TO_MS('data_to')} AS data_to_ms, run_id,
  octet_length(artifact) AS artifact_bytes, artifact_sha256, ever_active,
  ${TS_TO_MS('created_at')} AS created_ms, ${TS_TO_MS('activated_at')} AS activated_ms, ${TS_TO_MS('retired_at')} AS retired_ms`;

const num = (v: number | null): number | null => (v === null ? null : Number(v));

function toVersionRow(r: VersionDbRow): VersionRow {
  return {
    version: r.version,
    scope: r.scope,
    role: r.role,
    kind: r.kind,
    status: r.status,
    parentVersion: r.parent_version,
    regime: r.regime,
    params: r.params,
    metrics: r.metrics,
    dataFrom: num(r.data_from_ms),
    dataTo: num(r.data_to_ms),
    runId: r.run_id,
    artifactBytes: num(r.artifact_bytes),
    artifactSha256: r.artifact_sha256,
    everActive: r.ever_active,
    createdAt: Number(r.created_ms),
    activatedAt: num(r.activated_ms),
    retiredAt: num(r.retired_ms),
  };
}

/** Versions ever registered (0 means the next one is the first model ever). */
export async function countVersions(db: Queryable): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM model_versions');
  return r.rows[0]?.n ?? 0;
}

/** Version names starting with `prefix` (for the per-day counter). */
export async function versionsWithPrefix(db: Queryable, prefix: string): Promise<string[]> {
  const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const r = await db.query<{ version: string }>('SELECT version FROM model_versions WHERE version LIKE $1', [like]);
  return r.rows.map((x) => x.version);
}

export async function getVersion(db: Queryable, version: string): Promise<VersionRow | undefined> {
  const r = await db.query<VersionDbRow>(`SELECT ${VERSION_COLUMNS} FROM model_versions WHERE version = $1`, [version]);
  const row = r.rows[0];
  return row ? toVersionRow(row) : undefined;
}

/** Versions, newest first, optionally of one scope / role / status. */
export async function listVersions(
  db: Queryable,
  filter: { scope?: string; role?: string; status?: VersionStatus; limit?: number } = {},
): Promise<VersionRow[]> {
  const r = await db.query<VersionDbRow>(
    `SELECT ${VERSION_COLUMNS} FROM model_versions
     WHERE ($1::text IS NULL OR scope = $1) AND ($2::text IS NULL OR role = $2) AND ($3::text IS NULL OR status = $3)
     ORDER BY created_at DESC, version DESC
     LIMIT $4`,
    [filter.scope ?? null, filter.role ?? null, filter.status ?? null, filter.limit ?? 1000],
  );
  return r.rows.map(toVersionRow);
}

/** The active versions of a scope (one per role and regime). */
export async function activeVersions(db: Queryable, scope: string): Promise<VersionRow[]> {
  const r = await db.query<VersionDbRow>(
    `SELECT ${VERSION_COLUMNS} FROM model_versions WHERE scope = $1 AND status = 'active' ORDER BY role, regime`,
    [scope],
  );
  return r.rows.map(toVersionRow);
}

/** Every scope with an active version. */
export async function activeScopes(db: Queryable): Promise<string[]> {
  const r = await db.query<{ scope: string }>(`SELECT DISTINCT scope FROM model_versions WHERE status = 'active' ORDER BY scope`);
  return r.rows.map((x) => x.scope);
}

/**
 * Serialises activations and rollbacks of one scope (transaction-scoped advisory
 * lock): two deciders cannot both retire the same champion.
 */
export async function lockScope(client: pg.ClientBase, scope: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`model_scope:${scope}`]);
}

/**
 * Moves a version to `status`: `active` stamps activated_at and ever_active,
 * `retired` stamps retired_at. Returns false when the version does not exist.
 */
export async function setVersionStatus(db: Queryable, version: string, status: VersionStatus, atMs: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE model_versions SET status = $2,
       activated_at = CASE WHEN $2 = 'active' THEN ${MS_TO_TS('$3::bigint')} ELSE activated_at END,
       ever_active = ever_active OR $2 = 'active',
       retired_at = CASE WHEN $2 = 'retired' THEN ${MS_TO_TS('$3::bigint')} ELSE retired_at END
     WHERE version = $1`,
    [version, status, atMs],
  );
  return (r.rowCount ?? 0) > 0;
}

/** True when the stored artifact bytes still hash to the stored sha256 (checked in the database, bytes stay there). */
export async function artifactIntact(db: Queryable, version: string): Promise<boolean> {
  const r = await db.query<{ ok: boolean | null }>(
    `SELECT encode(sha256(artifact), 'hex') = artifact_sha256 AS ok FROM model_versions WHERE version = $1`,
    [version],
  );
  return r.rows[0]?.ok === true;
}

/** Replaces a version's metrics (e.g. after verification added numbers). */
export async function mergeVersionMetrics(db: Queryable, version: string, metrics: Record<string, unknown>): Promise<void> {
  await db.query('UPDATE model_versions SET metrics = metrics || $2::jsonb WHERE version = $1', [version, JSON.stringify(metrics)]);
}

export type DeploymentAction = 'activate' | 'rollback' | 'withdraw' | 'shadow' | 'canary' | 'promote';
export type DeploymentRow = {
  id: number;
  scope: string;
  role: string;
  fromVersion: string | null;
  toVersion: string;
  action: DeploymentAction;
  reason: string;
  actor: string;
  at: number;
};

export async function insertDeployment(db: Queryable, d: Omit<DeploymentRow, 'id'>): Promise<number> {
  const r = await db.query<{ id: number }>(
    `INSERT INTO model_deployments (scope, role, from_version, to_version, action, reason, actor, at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, ${MS_TO_TS('$8::bigint')}) RETURNING id`,
    [d.scope, d.role, d.fromVersion, d.toVersion, d.action, d.reason, d.actor, d.at],
  );
  return Number(r.rows[0]?.id ?? 0);
}

/** Deployments, newest first, of one scope (or all). */
export async function listDeployments(db: Queryable, filter: { scope?: string; limit?: number } = {}): Promise<DeploymentRow[]> {
  const r = await db.query<{
    id: number; scope: string; role: string; from_version: string | null; to_version: string;
    action: DeploymentAction; reason: string; actor: string; at_ms: number;
  }>(
    `SELECT id, scope, role, from_version, to_version, action, reason, actor, ${TS_TO_MS('at')} AS at_ms
     FROM model_deployments WHERE ($1::text IS NULL OR scope = $1) ORDER BY id DESC LIMIT $2`,
    [filter.scope ?? null, filter.limit ?? 1000],
  );
  return r.rows.map((x) => ({
    id: Number(x.id), scope: x.scope, role: x.role, fromVersion: x.from_version, toVersion: x.to_version,
    action: x.action, reason: x.reason, actor: x.actor, at: Number(x.at_ms),
  }));
}

/**
 * Retention: keeps the artifacts of the newest `keep` versions of a scope and of
 * every version that was ever active; the other artifacts are removed (set to
 * NULL), their rows kept. Returns the versions whose artifact was removed.
 */
export async function applyRetention(db: Queryable, scope: string, keep: number): Promise<string[]> {
  const r = await db.query<{ version: string }>(
    `UPDATE model_versions SET artifact = NULL
     WHERE scope = $1 AND artifact IS NOT NULL AND NOT ever_active AND status <> 'active'
       AND version NOT IN (SELECT version FROM model_versions WHERE scope = $1 ORDER BY created_at DESC, version DESC LIMIT $2)
     RETURNING version`,
    [scope, keep],
  );
  return r.rows.map((x) => x.version).sort();
}

// --- retrain_runs ---------------------------------------------------------------

export const RETRAIN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type RetrainStatus = (typeof RETRAIN_STATUSES)[number];

export type RetrainRunRow = {
  requestId: string;
  scope: string;
  trigger: string;
  status: RetrainStatus;
  attempts: number;
  version: string | null;
  deployed: boolean;
  config: Record<string, unknown>;
  metrics: Record<string, unknown> | null;
  comparison: Record<string, unknown> | null;
  error: string | null;
  startedAt: number;
  finishedAt: number | null;
};

/** Records a retrain request as queued. Idempotent: false when the request id is already known. */
export async function insertRetrainRun(
  db: Queryable,
  run: { requestId: string; scope: string; trigger: string; config: Record<string, unknown> },
): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO retrain_runs (request_id, scope, trigger, status, config) VALUES ($1, $2, $3, 'queued', $4)
     ON CONFLICT (request_id) DO NOTHING`,
    [run.requestId, run.scope, run.trigger, JSON.stringify(run.config)],
  );
  return (r.rowCount ?? 0) > 0;
}

export type RetrainRunPatch = {
  status?: RetrainStatus;
  attempts?: number;
  version?: string | null;
  deployed?: boolean;
  metrics?: Record<string, unknown> | null;
  comparison?: Record<string, unknown> | null;
  error?: string | null;
  finished?: boolean;
};

export async function updateRetrainRun(db: Queryable, requestId: string, p: RetrainRunPatch): Promise<void> {
  await db.query(
    `UPDATE retrain_runs SET
       status = COALESCE($2, status),
       attempts = COALESCE($3, attempts),
       version = CASE WHEN $4 THEN $5 ELSE version END,
       deployed = COALESCE($6, deployed),
       metrics = CASE WHEN $7 THEN $8::jsonb ELSE metrics END,
       comparison = CASE WHEN $9 THEN $10::jsonb ELSE comparison END,
       error = CASE WHEN $11 THEN $12 ELSE error END,
       finished_at = CASE WHEN $13 THEN now() ELSE finished_at END
     WHERE request_id = $1`,
    [
      requestId,
      p.status ?? null,
      p.attempts ?? null,
      p.version !== undefined,
      p.version ?? null,
      p.deployed ?? null,
      p.metrics !== undefined,
      p.metrics === undefined || p.metrics === null ? null : JSON.stringify(p.metrics),
      p.comparison !== undefined,
      p.comparison === undefined || p.comparison === null ? null : JSON.stringify(p.comparison),
      p.error !== undefined,
      p.error ?? null,
      p.finished === true,
    ],
  );
}

type RetrainDbRow = {
  request_id: string; scope: string; trigger: string; status: RetrainStatus; attempts: number; version: string | null;
  deployed: boolean; config: Record<string, unknown>; metrics: Record<string, unknown> | null;
  comparison: Record<string, unknown> | null; error: string | null; started_ms: number; finished_ms: number | null;
};
const RETRAIN_COLUMNS = `request_id, scope, trigger, status, attempts, version, deployed, config, metrics, comparison, error,
  ${TS_TO_MS('started_at')} AS started_ms, ${TS_TO_MS('finished_at')} AS finished_ms`;

function toRetrainRow(x: RetrainDbRow): RetrainRunRow {
  return {
    requestId: x.request_id, scope: x.scope, trigger: x.trigger, status: x.status, attempts: x.attempts,
    version: x.version, deployed: x.deployed, config: x.config, metrics: x.metrics, comparison: x.comparison,
    error: x.error, startedAt: Number(x.started_ms), finishedAt: num(x.finished_ms),
  };
}

export async function getRetrainRun(db: Queryable, requestId: string): Promise<RetrainRunRow | undefined> {
  const r = await db.query<RetrainDbRow>(`SELECT ${RETRAIN_COLUMNS} FROM retrain_runs WHERE request_id = $1`, [requestId]);
  const row = r.rows[0];
  return row ? toRetrainRow(row) : undefined;
}

/** Requests not finished (queued or running), oldest first: resumed after a restart. */
export async function unfinishedRetrainRuns(db: Queryable): Promise<RetrainRunRow[]> {
  const r = await db.query<RetrainDbRow>(
    `SELECT ${RETRAIN_COLUMNS} FROM retrain_runs WHERE status IN ('queued', 'running') ORDER BY started_at, request_id`,
  );
  return r.rows.map(toRetrainRow);
}

/** Start time of the scope's last successful retrain (epoch ms), or undefined. */
export async function lastSucceededRetrainAt(db: Queryable, scope: string): Promise<number | undefined> {
  const r = await db.query<{ at: number | null }>(
    `SELECT ${TS_TO_MS('max(started_at)')} AS at FROM retrain_runs WHERE scope = $1 AND status = 'succeeded'`,
    [scope],
  );
  const at = r.rows[0]?.at;
  return at === null || at === undefined ? undefined : Number(at);
}

/** Bars of a series with open time after `afterMs` (the feedback trigger's "new labelled bars"). */
export async function countBarsAfter(db: Queryable, venue: string, symbol: string, afterMs: number): Promise<number> {
  const r = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM bars_1m WHERE venue = $1 AND symbol = $2 AND ts > ${MS_TO_TS('$3::bigint')}`,
    [venue, symbol, afterMs],
  );
  return r.rows[0]?.n ?? 0;
}

/** When a model of this scope and role was last trained (the newest registered version, any outcome), epoch ms. */
export async function lastTrainedAt(db: Queryable, scope: string, role: 'pretrained' | 'online'): Promise<number | undefined> {
  const r = await db.query<{ at: number | null }>(`SELECT ${TS_TO_MS('max(created_at)')} AS at FROM model_versions WHERE scope = $1 AND role = $2`, [scope, role]);
  const at = r.rows[0]?.at;
  return at === null || at === undefined ? undefined : Number(at);
}
