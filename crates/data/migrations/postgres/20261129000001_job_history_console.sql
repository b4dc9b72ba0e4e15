-- The job history at scale (the operations console): one index per sort key, each with
-- the id as tie-break so keyset paging is served from the index, and indexes for the
-- filters and every part of the search (id prefix, symbols, universe keys).
-- The key expressions are exactly those of store/job_runs.rs (SUBMITTED_KEY, DURATION_KEY);
-- the columns they are made of are included so a far page's first row and a page's offset
-- are found from the index alone (an index-only scan), without reading the rows.
CREATE INDEX IF NOT EXISTS job_runs_submitted_key_idx
    ON job_runs ((COALESCE(submitted_at, to_timestamp(0))), id) INCLUDE (submitted_at);
CREATE INDEX IF NOT EXISTS job_runs_duration_key_idx
    ON job_runs ((COALESCE((EXTRACT(EPOCH FROM (completed_at - started_at)) * 1000)::bigint, -1)), id)
    INCLUDE (completed_at, started_at);
CREATE INDEX IF NOT EXISTS job_runs_bars_key_idx ON job_runs (bars_loaded, id);
CREATE INDEX IF NOT EXISTS job_runs_status_idx ON job_runs (status);
CREATE INDEX IF NOT EXISTS job_runs_kind_idx ON job_runs (kind);
CREATE INDEX IF NOT EXISTS job_runs_requested_by_idx ON job_runs ((params->>'requested_by'));
CREATE INDEX IF NOT EXISTS job_runs_id_lower_idx ON job_runs (lower(id) text_pattern_ops);
CREATE INDEX IF NOT EXISTS job_runs_params_idx ON job_runs USING gin (params jsonb_path_ops);
CREATE INDEX IF NOT EXISTS job_runs_universe_type_idx
    ON job_runs ((lower(params->>'universe_type')));
CREATE INDEX IF NOT EXISTS job_runs_universe_keys_idx
    ON job_runs USING gin ((string_to_array(lower(params->>'universe_key'), ':')));
