-- Compression and retention. Both need the Timescale License (community edition);
-- sql/timescale.ts applies this file only when timescaledb.license = 'timescale'.
ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol', timescaledb.compress_orderby = 'ts, trade_id');
ALTER TABLE bars_1m SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol', timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('ticks', INTERVAL '2 days', if_not_exists => TRUE);
SELECT add_compression_policy('bars_1m', INTERVAL '30 days', if_not_exists => TRUE);
-- Raw ticks are kept 30 days; bars and predictions are kept.
SELECT add_retention_policy('ticks', INTERVAL '30 days', if_not_exists => TRUE);
