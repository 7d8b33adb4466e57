-- Staged rollout of a challenger that passed the gate: shadow (forecasts beside the
-- champion, serves nothing), canary (serves a fraction of the scope's symbols), then
-- promoted or rolled back on the paired live evidence. One open rollout per scope
-- (its KV entry names one). The stage lives here (the source of truth) and is mirrored into
-- KV model_active, so a restarted process resumes the rollout where it was.
CREATE TABLE IF NOT EXISTS model_rollouts (
  id         bigserial   PRIMARY KEY,
  scope      text        NOT NULL,
  role       text        NOT NULL CHECK (role IN ('pretrained', 'online')),
  regime     text        NOT NULL,
  version    text        NOT NULL REFERENCES model_versions (version),
  champion   text        NOT NULL REFERENCES model_versions (version),
  stage      text        NOT NULL CHECK (stage IN ('shadow', 'canary', 'promoted', 'rolledback')),
  canary     jsonb       NOT NULL DEFAULT '[]'::jsonb,   -- ['<venue>.<symbol>', ...] chosen at canary start
  reason     text        NOT NULL,
  decision   jsonb,                                      -- the paired test that ended it
  started_at timestamptz NOT NULL,
  stage_at   timestamptz NOT NULL,
  ended_at   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS model_rollouts_open_idx ON model_rollouts (scope)
  WHERE stage IN ('shadow', 'canary');

-- The paired evidence: one row per realised outcome of a bar on which both the
-- champion and the challenger forecast. The key makes a redelivered or replayed
-- outcome count once.
CREATE TABLE IF NOT EXISTS rollout_outcomes (
  rollout_id       bigint           NOT NULL REFERENCES model_rollouts (id) ON DELETE CASCADE,
  venue            text             NOT NULL,
  symbol           text             NOT NULL,
  ts               timestamptz      NOT NULL,   -- open time of the bar whose close realised the outcome
  stage            text             NOT NULL,
  actual           double precision NOT NULL,
  champion_value   double precision NOT NULL,
  champion_p_up    double precision NOT NULL,
  challenger_value double precision NOT NULL,
  challenger_p_up  double precision NOT NULL,
  PRIMARY KEY (rollout_id, venue, symbol, ts)
);

ALTER TABLE model_deployments DROP CONSTRAINT IF EXISTS model_deployments_action_check;
ALTER TABLE model_deployments ADD CONSTRAINT model_deployments_action_check
  CHECK (action IN ('activate', 'rollback', 'withdraw', 'shadow', 'canary', 'promote'));
