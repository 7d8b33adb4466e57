-- Market data: ticks, 1-minute bars, and the ingest path's own bookkeeping.
-- Plain PostgreSQL tables; the TimescaleDB migrations (sql/timescale/) turn the
-- time-series ones into hypertables when the extension is available.

CREATE TABLE IF NOT EXISTS ticks (
  venue       text             NOT NULL,
  symbol      text             NOT NULL,
  ts          timestamptz      NOT NULL,
  trade_id    text             NOT NULL,
  price       double precision NOT NULL CHECK (price > 0),
  size        double precision NOT NULL CHECK (size >= 0),
  side        text             CHECK (side IN ('buy', 'sell')),
  received_at timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (venue, symbol, ts, trade_id)
);

CREATE TABLE IF NOT EXISTS bars_1m (
  venue      text             NOT NULL,
  symbol     text             NOT NULL,
  ts         timestamptz      NOT NULL,
  open       double precision NOT NULL,
  high       double precision NOT NULL,
  low        double precision NOT NULL,
  close      double precision NOT NULL,
  volume     double precision NOT NULL CHECK (volume >= 0),
  trades     integer,
  source     text             NOT NULL CHECK (source IN ('live', 'backfill', 'replay', 'interpolated')),
  -- 0 for the first version of a bar; incremented by every correction (late ticks, backfill).
  revision   integer          NOT NULL DEFAULT 0,
  updated_at timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (venue, symbol, ts),
  CHECK (low <= least(open, close) AND greatest(open, close) <= high AND low > 0)
);

-- Transactional outbox: a bar row written in a transaction gets a row here in the
-- same transaction; it is deleted once the bar message is acknowledged by JetStream.
-- A crash between commit and publish therefore never loses a bar message.
CREATE TABLE IF NOT EXISTS bar_outbox (
  venue      text        NOT NULL,
  symbol     text        NOT NULL,
  ts         timestamptz NOT NULL,
  revision   integer     NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (venue, symbol, ts, revision)
);

-- Per-symbol aggregation state of the ingest path, written in the same transaction
-- as the ticks: the minute still open (its bar not yet closed) and the last tick seen.
CREATE TABLE IF NOT EXISTS ingest_state (
  venue        text        NOT NULL,
  symbol       text        NOT NULL,
  open_minute  timestamptz,
  last_tick_ts timestamptz NOT NULL,
  last_seq     bigint,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (venue, symbol)
);
