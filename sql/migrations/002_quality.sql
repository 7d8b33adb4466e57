-- Data quality: gaps and consistency reports.

CREATE TABLE IF NOT EXISTS data_gaps (
  id           bigserial   PRIMARY KEY,
  venue        text        NOT NULL,
  symbol       text        NOT NULL,
  gap_from     timestamptz NOT NULL,           -- first missing bar open time
  gap_to       timestamptz NOT NULL,           -- last missing bar open time (inclusive)
  kind         text        NOT NULL DEFAULT 'time' CHECK (kind IN ('time', 'sequence', 'silence')),
  detected_at  timestamptz NOT NULL DEFAULT now(),
  status       text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filling', 'filled', 'unfillable')),
  rows_filled  integer     NOT NULL DEFAULT 0,
  method       text,
  attempts     integer     NOT NULL DEFAULT 0,
  filled_at    timestamptz,
  detail       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  UNIQUE (venue, symbol, gap_from, gap_to)
);
CREATE INDEX IF NOT EXISTS data_gaps_status_idx ON data_gaps (status, venue, symbol);

CREATE TABLE IF NOT EXISTS quality_reports (
  id          bigserial   PRIMARY KEY,
  venue       text        NOT NULL,
  symbol      text        NOT NULL,
  window_from timestamptz NOT NULL,
  window_to   timestamptz NOT NULL,
  state       text        NOT NULL CHECK (state IN ('healthy', 'degraded', 'quarantined')),
  findings    jsonb       NOT NULL DEFAULT '[]'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (venue, symbol, window_from, window_to)
);
