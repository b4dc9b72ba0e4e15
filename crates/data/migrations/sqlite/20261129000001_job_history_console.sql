-- The job history at scale (the operations console): one index per sort key, each with
-- the id as tie-break so keyset paging is served from the index, and the filters'.
-- The key expressions are exactly those of store/job_runs.rs (SUBMITTED_KEY, DURATION_KEY).
CREATE INDEX IF NOT EXISTS job_runs_submitted_key_idx
    ON job_runs (COALESCE(submitted_at, '1970-01-01T00:00:00.000000Z'), id);
CREATE INDEX IF NOT EXISTS job_runs_duration_key_idx
    ON job_runs (COALESCE(CAST((julianday(completed_at) - julianday(started_at)) * 86400000 AS INTEGER), -1), id);
CREATE INDEX IF NOT EXISTS job_runs_bars_key_idx ON job_runs (bars_loaded, id);
CREATE INDEX IF NOT EXISTS job_runs_status_idx ON job_runs (status);
CREATE INDEX IF NOT EXISTS job_runs_kind_idx ON job_runs (kind);
CREATE INDEX IF NOT EXISTS job_runs_requested_by_idx ON job_runs (json_extract(params, '$.requested_by'));
