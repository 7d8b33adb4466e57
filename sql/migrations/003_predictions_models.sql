-- Predictions, the model registry, deployments, retraining runs, actor snapshots.

CREATE TABLE IF NOT EXISTS predictions (
  venue      text             NOT NULL,
  symbol     text             NOT NULL,
  ts         timestamptz      NOT NULL,   -- open time of the bar the prediction is made after
  horizon    text             NOT NULL,
  created_at timestamptz      NOT NULL,
  value      double precision NOT NULL,
  p_up       double precision NOT NULL CHECK (p_up BETWEEN 0 AND 1),
  confidence double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  regime     text             NOT NULL,
  components jsonb            NOT NULL,
  quality    text             NOT NULL CHECK (quality IN ('ok', 'degraded')),
  PRIMARY KEY (venue, symbol, ts, horizon)
);

CREATE TABLE IF NOT EXISTS model_versions (
  version         text        PRIMARY KEY,
  scope           text        NOT NULL,   -- '<venue>.<symbol>' or 'global'
  role            text        NOT NULL CHECK (role IN ('pretrained', 'online')),
  kind            text        NOT NULL,   -- lstm | mlp | naive-*
  status          text        NOT NULL DEFAULT 'candidate'
                              CHECK (status IN ('candidate', 'active', 'retired', 'rejected')),
  parent_version  text        REFERENCES model_versions (version),
  regime          text,
  params          jsonb       NOT NULL DEFAULT '{}'::jsonb,
  metrics         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  data_from       timestamptz,
  data_to         timestamptz,
  run_id          text,
  artifact        bytea,                  -- NULL once removed by retention (row kept)
  artifact_sha256 text,
  ever_active     boolean     NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  activated_at    timestamptz,
  retired_at      timestamptz
);
CREATE INDEX IF NOT EXISTS model_versions_scope_idx ON model_versions (scope, role, created_at DESC);

CREATE TABLE IF NOT EXISTS model_deployments (
  id           bigserial   PRIMARY KEY,
  scope        text        NOT NULL,
  role         text        NOT NULL,
  from_version text,
  to_version   text        NOT NULL,
  action       text        NOT NULL CHECK (action IN ('activate', 'rollback')),
  reason       text        NOT NULL,
  actor        text        NOT NULL,
  at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS retrain_runs (
  request_id  text        PRIMARY KEY,
  scope       text        NOT NULL,
  trigger     text        NOT NULL,
  status      text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped')),
  attempts    integer     NOT NULL DEFAULT 0,
  version     text,
  deployed    boolean     NOT NULL DEFAULT false,
  config      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  metrics     jsonb,
  comparison  jsonb,
  error       text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE TABLE IF NOT EXISTS actor_snapshots (
  actor_id           text        PRIMARY KEY,
  machine_id         text        NOT NULL,
  definition_version text        NOT NULL,
  snapshot           jsonb       NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT now()
);
