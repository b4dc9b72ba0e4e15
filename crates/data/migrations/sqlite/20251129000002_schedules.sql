-- Recurring jobs (ours). `spec` is a cron expression in America/New_York or
-- `trading-days HH:MM`; `request` the job as a JobRequest (JSON) submitted at each due time.
CREATE TABLE IF NOT EXISTS schedules (
    name         TEXT PRIMARY KEY,
    spec         TEXT    NOT NULL,
    request      TEXT    NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_due     TEXT,
    last_job_id  TEXT,
    last_alerted TEXT
);
