-- Continuous aggregates of 1-minute bars into 5-minute and 1-hour bars.
-- first()/last() order by the bar time, so open/close are those of the first/last minute.
-- A database migrated without TimescaleDB first has plain views of the same names.
DROP VIEW IF EXISTS bars_5m;
DROP VIEW IF EXISTS bars_1h;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT venue, symbol, time_bucket(INTERVAL '5 minutes', ts) AS ts,
       first(open, ts) AS open, max(high) AS high, min(low) AS low, last(close, ts) AS close,
       sum(volume) AS volume, sum(trades)::bigint AS trades, count(*) AS bars
FROM bars_1m
GROUP BY venue, symbol, time_bucket(INTERVAL '5 minutes', ts)
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS bars_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT venue, symbol, time_bucket(INTERVAL '1 hour', ts) AS ts,
       first(open, ts) AS open, max(high) AS high, min(low) AS low, last(close, ts) AS close,
       sum(volume) AS volume, sum(trades)::bigint AS trades, count(*) AS bars
FROM bars_1m
GROUP BY venue, symbol, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('bars_5m', start_offset => INTERVAL '1 day',
  end_offset => INTERVAL '5 minutes', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE);
SELECT add_continuous_aggregate_policy('bars_1h', start_offset => INTERVAL '7 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);
