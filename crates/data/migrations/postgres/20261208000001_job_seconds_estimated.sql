-- The time a job's estimated requests take at the plan's rate (seconds; empty on an
-- unlimited plan), kept beside the requests so the detail compares estimate and run.
ALTER TABLE job_runs ADD COLUMN seconds_estimated BIGINT;
