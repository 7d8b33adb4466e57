-- Applied only without TimescaleDB: plain views with the names and columns of the
-- continuous aggregates, so the same queries work on either database.
CREATE OR REPLACE VIEW bars_5m AS
SELECT venue, symbol, date_bin(INTERVAL '5 minutes', ts, TIMESTAMPTZ '2000-01-01') AS ts,
       (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume) AS volume, sum(trades)::bigint AS trades, count(*) AS bars
FROM bars_1m
GROUP BY venue, symbol, date_bin(INTERVAL '5 minutes', ts, TIMESTAMPTZ '2000-01-01');

CREATE OR REPLACE VIEW bars_1h AS
SELECT venue, symbol, date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-01') AS ts,
       (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume) AS volume, sum(trades)::bigint AS trades, count(*) AS bars
FROM bars_1m
GROUP BY venue, symbol, date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-01');
