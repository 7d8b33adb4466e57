import type pg from 'pg';
import { SignalsError } from '../config/index.ts';
import { MS_TO_TS } from './ticks.repo.ts';

/** A model version row with its packed artifact (models/artifact-io.ts `packArtifact`). */
export type ModelArtifactInsert = {
  version: string;
  /** `<venue>.<symbol>` or `global`. */
  scope: string;
  role: 'pretrained' | 'online';
  kind: string;
  runId: string;
  artifact: Uint8Array;
  artifactSha256: string;
  params?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  parentVersion?: string;
  regime?: string;
  dataFrom?: number;
  dataTo?: number;
};

export type StoredModelArtifact = {
  version: string;
  scope: string;
  role: string;
  kind: string;
  status: string;
  runId: string | null;
  /** Null once retention has removed the bytes (the row is kept). */
  artifact: Buffer | null;
  artifactSha256: string | null;
};

/** A version already stored with different artifact bytes: versions are immutable. Not retryable. */
export class ModelVersionConflictError extends SignalsError {
  override readonly name = 'ModelVersionConflictError';
  override readonly retryable = false;
  constructor(
    readonly version: string,
    readonly storedSha256: string | null,
  ) {
    super(`model version ${version} already exists with a different artifact (sha256 ${storedSha256 ?? 'none'})`);
  }
}

/**
 * Stores a model version as a `candidate` with its artifact bytes and sha256.
 * Idempotent: storing the same version with the same sha256 again changes
 * nothing; a different artifact under an existing version is refused.
 */
export async function saveModelArtifact(db: pg.Pool | pg.ClientBase, m: ModelArtifactInsert): Promise<void> {
  const r = await db.query<{ artifact_sha256: string | null }>(
    `WITH ins AS (
       INSERT INTO model_versions (version, scope, role, kind, run_id, artifact, artifact_sha256, params, metrics,
                                   parent_version, regime, data_from, data_to)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
               CASE WHEN $12::bigint IS NULL THEN NULL ELSE ${MS_TO_TS('$12::bigint')} END,
               CASE WHEN $13::bigint IS NULL THEN NULL ELSE ${MS_TO_TS('$13::bigint')} END)
       ON CONFLICT (version) DO NOTHING
       RETURNING artifact_sha256
     )
     SELECT artifact_sha256 FROM ins
     UNION ALL
     SELECT artifact_sha256 FROM model_versions WHERE version = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
    [
      m.version,
      m.scope,
      m.role,
      m.kind,
      m.runId,
      Buffer.from(m.artifact.buffer, m.artifact.byteOffset, m.artifact.byteLength),
      m.artifactSha256,
      JSON.stringify(m.params ?? {}),
      JSON.stringify(m.metrics ?? {}),
      m.parentVersion ?? null,
      m.regime ?? null,
      m.dataFrom ?? null,
      m.dataTo ?? null,
    ],
  );
  let row = r.rows[0];
  if (!row) {
    // A concurrent insert of the same version committed after this statement's snapshot.
    row = (await db.query<{ artifact_sha256: string | null }>('SELECT artifact_sha256 FROM model_versions WHERE version = $1', [m.version])).rows[0];
  }
  const stored = row?.artifact_sha256 ?? null;
  if (stored !== m.artifactSha256) throw new ModelVersionConflictError(m.version, stored);
}

/** A model version with its artifact bytes, or undefined when the version does not exist. */
export async function loadModelArtifact(db: pg.Pool | pg.ClientBase, version: string): Promise<StoredModelArtifact | undefined> {
  const r = await db.query<{
    version: string;
    scope: string;
    role: string;
    kind: string;
    status: string;
    run_id: string | null;
    artifact: Buffer | null;
    artifact_sha256: string | null;
  }>(
    `SELECT version, scope, role, kind, status, run_id, artifact, artifact_sha256
     FROM model_versions WHERE version = $1`,
    [version],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    version: row.version,
    scope: row.scope,
    role: row.role,
    kind: row.kind,
    status: row.status,
    runId: row.run_id,
    artifact: row.artifact,
    artifactSha256: row.artifact_sha256,
  };
}
