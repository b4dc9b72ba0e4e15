-- TickStock's tables. Every statement tolerates an existing TickStock database: tables that
-- already exist are used as they are and never altered (the store adapts to their columns
-- and types at connect time; see store/pg_schema.rs).

CREATE TABLE IF NOT EXISTS ohlcv_1min (
    symbol      VARCHAR(20)      NOT NULL,
    "timestamp" TIMESTAMPTZ      NOT NULL,
    open        DOUBLE PRECISION NOT NULL,
    high        DOUBLE PRECISION NOT NULL,
    low         DOUBLE PRECISION NOT NULL,
    close       DOUBLE PRECISION NOT NULL,
    volume      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, "timestamp")
);

CREATE TABLE IF NOT EXISTS ohlcv_hourly (
    symbol      VARCHAR(20)      NOT NULL,
    "timestamp" TIMESTAMPTZ      NOT NULL,
    open        DOUBLE PRECISION NOT NULL,
    high        DOUBLE PRECISION NOT NULL,
    low         DOUBLE PRECISION NOT NULL,
    close       DOUBLE PRECISION NOT NULL,
    volume      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, "timestamp")
);

CREATE TABLE IF NOT EXISTS ohlcv_daily (
    symbol VARCHAR(20)      NOT NULL,
    date   DATE             NOT NULL,
    open   DOUBLE PRECISION NOT NULL,
    high   DOUBLE PRECISION NOT NULL,
    low    DOUBLE PRECISION NOT NULL,
    close  DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, date)
);

CREATE TABLE IF NOT EXISTS ohlcv_weekly (
    symbol     VARCHAR(20)      NOT NULL,
    week_start DATE             NOT NULL,
    open       DOUBLE PRECISION NOT NULL,
    high       DOUBLE PRECISION NOT NULL,
    low        DOUBLE PRECISION NOT NULL,
    close      DOUBLE PRECISION NOT NULL,
    volume     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, week_start)
);

CREATE TABLE IF NOT EXISTS ohlcv_monthly (
    symbol      VARCHAR(20)      NOT NULL,
    month_start DATE             NOT NULL,
    open        DOUBLE PRECISION NOT NULL,
    high        DOUBLE PRECISION NOT NULL,
    low         DOUBLE PRECISION NOT NULL,
    close       DOUBLE PRECISION NOT NULL,
    volume      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, month_start)
);

CREATE TABLE IF NOT EXISTS symbols (
    symbol           VARCHAR(20) PRIMARY KEY,
    name             TEXT,
    market           TEXT,
    exchange         TEXT,
    type             TEXT,
    active           BOOLEAN     NOT NULL DEFAULT TRUE,
    locale           TEXT,
    currency         TEXT,
    cik              TEXT,
    composite_figi   TEXT,
    share_class_figi TEXT,
    last_updated     TIMESTAMPTZ
);

-- A universe: `name` is its canonical key (see universe::canonical_key), `description` its
-- display name, `type` UNIVERSE or ETF (TickStock also uses THEME, SECTOR, ...).
CREATE TABLE IF NOT EXISTS definition_groups (
    id          SERIAL PRIMARY KEY,
    name        VARCHAR(100) NOT NULL UNIQUE,
    type        VARCHAR(50)  NOT NULL,
    description TEXT,
    as_of       DATE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS group_memberships (
    group_id INTEGER     NOT NULL REFERENCES definition_groups (id) ON DELETE CASCADE,
    symbol   VARCHAR(20) NOT NULL,
    PRIMARY KEY (group_id, symbol)
);

-- The durable job history (the legacy system kept it in process memory).
CREATE TABLE IF NOT EXISTS job_runs (
    id             TEXT PRIMARY KEY,
    kind           TEXT        NOT NULL,
    params         JSONB       NOT NULL DEFAULT '{}'::jsonb,
    status         TEXT        NOT NULL,
    progress       INTEGER     NOT NULL DEFAULT 0,
    message        TEXT,
    symbols_total  BIGINT      NOT NULL DEFAULT 0,
    symbols_ok     BIGINT      NOT NULL DEFAULT 0,
    symbols_failed BIGINT      NOT NULL DEFAULT 0,
    bars_loaded    BIGINT      NOT NULL DEFAULT 0,
    failed_symbols JSONB       NOT NULL DEFAULT '[]'::jsonb,
    error          TEXT,
    submitted_at   TIMESTAMPTZ,
    started_at     TIMESTAMPTZ,
    completed_at   TIMESTAMPTZ,
    worker         TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_submitted_at_idx ON job_runs (submitted_at DESC);

-- (job, symbol, timeframe) pairs a job has finished: a resumed job skips them.
CREATE TABLE IF NOT EXISTS job_checkpoints (
    job_id    TEXT        NOT NULL,
    symbol    VARCHAR(20) NOT NULL,
    timeframe TEXT        NOT NULL,
    rows      BIGINT      NOT NULL DEFAULT 0,
    done_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, symbol, timeframe)
);
