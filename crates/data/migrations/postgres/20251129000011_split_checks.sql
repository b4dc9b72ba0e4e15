-- Splits Polygon reported for stored symbols (ours; TickStock's tables are not touched).
-- `state`: `upcoming` (not executed yet, checked again later), `unaffected` (the stored
-- bars already carry the adjustment, or none precede the split), `flagged` (stored bars
-- before the split are not adjusted: reload them), `reloading` (the jobs in `reload_jobs`,
-- comma-separated, reload them), `reloaded`.
CREATE TABLE IF NOT EXISTS split_checks (
    symbol         TEXT             NOT NULL,
    execution_date DATE             NOT NULL,
    split_from     DOUBLE PRECISION NOT NULL,
    split_to       DOUBLE PRECISION NOT NULL,
    state          TEXT             NOT NULL,
    detail         TEXT,
    reload_jobs    TEXT,
    seen_at        TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, execution_date)
);
CREATE INDEX IF NOT EXISTS split_checks_state ON split_checks (state);
