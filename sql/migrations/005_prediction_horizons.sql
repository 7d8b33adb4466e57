-- Multi-horizon forecasts. `sigma` is the 1-minute volatility forecast (a column:
-- it is read on every accuracy query). `horizons` holds every configured
-- horizon's {value, pUp, sigma, q05..q95} by label, as the message carries it: a
-- JSONB column rather than a child table because the horizon list is a setting
-- (a child table would multiply the hot insert path's rows by it), a prediction
-- is always read whole, and `horizons->'15m'->>'sigma'` still queries one target.
-- Nullable: rows written before horizons existed keep their meaning.
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS sigma double precision CHECK (sigma >= 0);
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS horizons jsonb;
