-- Recurring jobs (ours). `spec` is a cron expression in America/New_York or
-- `trading-days HH:MM`; `request` the job as a JobRequest (JSON) submitted at each due time.
CREATE TABLE IF NOT EXISTS schedules (
    name         TEXT PRIMARY KEY,
    spec         TEXT        NOT NULL,
    request      TEXT        NOT NULL,
    enabled      BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_due     TIMESTAMPTZ,
    last_job_id  TEXT,
    last_alerted TEXT
);
