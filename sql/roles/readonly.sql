-- Read-only access for consumers that only read (dashboards, notebooks, reports).
-- Not a migration: a database administrator runs it once per database, AS THE ROLE THAT
-- RUNS THE MIGRATIONS (the owner of the tables), so the default privileges below cover
-- the tables and views later migrations create:
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/roles/readonly.sql
--
-- It creates the group role `signals_reader` (NOLOGIN: no password lives in this file)
-- and gives it SELECT on every table and view of schema public (ticks, bars_1m, the
-- 5m/1h bar views, data_gaps, quality_reports, predictions, model_versions,
-- model_deployments, retrain_runs, actor_snapshots, ...), now and in the future.
-- People and programs then log in as their own role, member of the group:
--
--   CREATE ROLE grafana LOGIN PASSWORD '...' IN ROLE signals_reader;
--   ALTER ROLE grafana SET default_transaction_read_only = on;   -- belt and braces
--
-- and connect with DATABASE_URL=postgresql://grafana:...@host:5432/signals.
-- Idempotent: running it again changes nothing. With TimescaleDB, grants on a
-- hypertable or continuous aggregate are propagated to its chunks and
-- materialisation by the extension.
--
-- On PostgreSQL 14 and older every role may CREATE in schema public by default; to
-- make the reader strictly read-only there, also run (affects every role without an
-- explicit grant):  REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signals_reader') THEN
    CREATE ROLE signals_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO signals_reader', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO signals_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO signals_reader;
-- Tables and views created later by the role running this script (the migrations' role).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO signals_reader;
-- Explicitly nothing else: no INSERT/UPDATE/DELETE/TRUNCATE, no sequences, no functions
-- beyond what PUBLIC already has.
