-- Bars per symbol and UTC day of the minute and hour tables (ours): coverage reads these
-- instead of counting millions of rows. Our writes keep them exact; `complete` says the
-- counts cover every row (true when the table was empty here, else after a rebuild:
-- `tickstock coverage --rebuild`), so rows written by others before are counted too.
CREATE TABLE IF NOT EXISTS bar_counts (
    timeframe TEXT   NOT NULL,
    symbol    TEXT   NOT NULL,
    day       DATE   NOT NULL,
    bars      BIGINT NOT NULL,
    PRIMARY KEY (timeframe, symbol, day)
);
CREATE TABLE IF NOT EXISTS bar_counts_state (
    timeframe  TEXT PRIMARY KEY,
    complete   BOOLEAN NOT NULL,
    rebuilt_at TIMESTAMPTZ
);
INSERT INTO bar_counts_state (timeframe, complete)
SELECT '1min', NOT EXISTS (SELECT 1 FROM ohlcv_1min) WHERE true ON CONFLICT DO NOTHING;
INSERT INTO bar_counts_state (timeframe, complete)
SELECT 'hour', NOT EXISTS (SELECT 1 FROM ohlcv_hourly) WHERE true ON CONFLICT DO NOTHING;
