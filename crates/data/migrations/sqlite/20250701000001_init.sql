-- TickStock's tables in an embedded SQLite file. Instants are TEXT in RFC 3339 UTC
-- (`2024-03-11T13:30:00Z`), dates TEXT `YYYY-MM-DD`, JSON TEXT.

CREATE TABLE IF NOT EXISTS ohlcv_1min (
    symbol      TEXT NOT NULL,
    "timestamp" TEXT NOT NULL,
    open        REAL NOT NULL,
    high        REAL NOT NULL,
    low         REAL NOT NULL,
    close       REAL NOT NULL,
    volume      REAL NOT NULL,
    PRIMARY KEY (symbol, "timestamp")
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ohlcv_hourly (
    symbol      TEXT NOT NULL,
    "timestamp" TEXT NOT NULL,
    open        REAL NOT NULL,
    high        REAL NOT NULL,
    low         REAL NOT NULL,
    close       REAL NOT NULL,
    volume      REAL NOT NULL,
    PRIMARY KEY (symbol, "timestamp")
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ohlcv_daily (
    symbol TEXT NOT NULL,
    date   TEXT NOT NULL,
    open   REAL NOT NULL,
    high   REAL NOT NULL,
    low    REAL NOT NULL,
    close  REAL NOT NULL,
    volume REAL NOT NULL,
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ohlcv_weekly (
    symbol     TEXT NOT NULL,
    week_start TEXT NOT NULL,
    open       REAL NOT NULL,
    high       REAL NOT NULL,
    low        REAL NOT NULL,
    close      REAL NOT NULL,
    volume     REAL NOT NULL,
    PRIMARY KEY (symbol, week_start)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ohlcv_monthly (
    symbol      TEXT NOT NULL,
    month_start TEXT NOT NULL,
    open        REAL NOT NULL,
    high        REAL NOT NULL,
    low         REAL NOT NULL,
    close       REAL NOT NULL,
    volume      REAL NOT NULL,
    PRIMARY KEY (symbol, month_start)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS symbols (
    symbol           TEXT PRIMARY KEY,
    name             TEXT,
    market           TEXT,
    exchange         TEXT,
    type             TEXT,
    active           INTEGER NOT NULL DEFAULT 1,
    locale           TEXT,
    currency         TEXT,
    cik              TEXT,
    composite_figi   TEXT,
    share_class_figi TEXT,
    last_updated     TEXT
);

CREATE TABLE IF NOT EXISTS definition_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    description TEXT,
    as_of       TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS group_memberships (
    group_id INTEGER NOT NULL REFERENCES definition_groups (id) ON DELETE CASCADE,
    symbol   TEXT    NOT NULL,
    PRIMARY KEY (group_id, symbol)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS job_runs (
    id             TEXT PRIMARY KEY,
    kind           TEXT    NOT NULL,
    params         TEXT    NOT NULL DEFAULT '{}',
    status         TEXT    NOT NULL,
    progress       INTEGER NOT NULL DEFAULT 0,
    message        TEXT,
    symbols_total  INTEGER NOT NULL DEFAULT 0,
    symbols_ok     INTEGER NOT NULL DEFAULT 0,
    symbols_failed INTEGER NOT NULL DEFAULT 0,
    bars_loaded    INTEGER NOT NULL DEFAULT 0,
    failed_symbols TEXT    NOT NULL DEFAULT '[]',
    error          TEXT,
    submitted_at   TEXT,
    started_at     TEXT,
    completed_at   TEXT,
    worker         TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_submitted_at_idx ON job_runs (submitted_at DESC);

CREATE TABLE IF NOT EXISTS job_checkpoints (
    job_id    TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    timeframe TEXT    NOT NULL,
    rows      INTEGER NOT NULL DEFAULT 0,
    done_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (job_id, symbol, timeframe)
) WITHOUT ROWID;
