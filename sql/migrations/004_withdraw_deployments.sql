-- An online model that goes bad and has no earlier version to return to is withdrawn:
-- the scope serves without it (its weight goes to the pretrained models). The row's
-- from_version and to_version both name the withdrawn version.
ALTER TABLE model_deployments DROP CONSTRAINT IF EXISTS model_deployments_action_check;
ALTER TABLE model_deployments ADD CONSTRAINT model_deployments_action_check
  CHECK (action IN ('activate', 'rollback', 'withdraw'));
