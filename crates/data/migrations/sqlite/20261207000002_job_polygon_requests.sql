-- A job's Polygon requests: those it made and those its plan estimated when it started,
-- kept after the run so the job's detail can compare them.
ALTER TABLE job_runs ADD COLUMN polygon_requests INTEGER;
ALTER TABLE job_runs ADD COLUMN polygon_requests_estimated INTEGER;
