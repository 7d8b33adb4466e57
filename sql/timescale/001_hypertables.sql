-- Applied only when TimescaleDB is available and preloaded (see sql/timescale.ts).
-- The plain tables from sql/migrations/ become hypertables in place; their keys
-- already include the time column, as hypertables require.
SELECT create_hypertable('ticks', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('bars_1m', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('predictions', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
