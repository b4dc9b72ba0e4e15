//! Job history in the database: each job's parameters, status, counts and timings kept in
//! `job_runs`, so history outlives Redis expiry and app restarts.

use async_trait::async_trait;
use tracing::warn;

use std::collections::HashSet;
use tickstock_protocol::error::Result;

use crate::exec::{Checkpoints, JobHistory};
use crate::store::{JobRun, Store};
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{figures, JobStatus};
use tickstock_protocol::unit::{Ticker, Unit};

/// Parses the ISO 8601 times status fields carry: with an offset, or naive, which is local
/// time (TickStock writes `datetime.now().isoformat()`). Prefer [`JobStatus::time`] for a
/// status field: it takes the exact `{field}_utc` beside it when there is one.
pub use tickstock_protocol::status::parse_time;

/// The `job_runs` row for a job and its status.
pub fn job_run(job: &Job, st: &JobStatus) -> JobRun {
    let mut run = JobRun::new(job.id.clone(), job.job_type().as_str(), job.to_value());
    run.status = st.state.as_str().to_string();
    run.progress = st.progress as i32;
    run.message = st.message.clone();
    run.symbols_total = st.total_symbols.unwrap_or(0) as i64;
    run.symbols_ok = st.successful_symbols.len() as i64;
    run.symbols_failed = st.failed_symbols.len() as i64;
    run.bars_loaded = st.ohlcv_records_loaded.unwrap_or(0) as i64;
    run.failed_symbols = serde_json::to_value(&st.failures).unwrap_or_default();
    run.error = st.error_message.clone();
    run.submitted_at = st
        .time("submitted_at")
        .or_else(|| job.timestamp.as_deref().and_then(parse_time));
    run.started_at = st.time("started_at");
    run.completed_at = st.time("completed_at");
    run.worker = st.worker_id.clone();
    run.polygon_requests = st.figure(figures::POLYGON_REQUESTS);
    run.polygon_requests_estimated = st.figure(figures::POLYGON_REQUESTS_ESTIMATED);
    run.seconds_estimated = st.figure(figures::SECONDS_ESTIMATED);
    run
}

/// [`JobHistory`] kept in the store's `job_runs` table.
#[derive(Clone)]
pub struct StoreHistory(pub Store);

#[async_trait]
impl JobHistory for StoreHistory {
    async fn record(&self, job: &Job, status: &JobStatus) -> Result<()> {
        self.0.upsert_job_run(&job_run(job, status)).await?;
        Ok(())
    }

    async fn log(&self, job_id: &str, lines: &[crate::joblog::LogLine]) -> Result<()> {
        self.0.append_job_log(job_id, lines).await?;
        Ok(())
    }

    async fn operator_order(&self, key: &str) -> Result<Option<String>> {
        Ok(self.0.operator_order(key).await?)
    }
}

/// [`Checkpoints`] kept in the store's `job_checkpoints` table: a job interrupted by the app
/// closing resumes from here on the next start.
#[derive(Clone)]
pub struct StoreCheckpoints(pub Store);

#[async_trait]
impl Checkpoints for StoreCheckpoints {
    async fn done(&self, job_id: &str) -> Result<HashSet<Unit>> {
        let mut out = HashSet::new();
        for (symbol, tf, _) in self.0.done_pairs(job_id).await? {
            match Ticker::parse(&symbol) {
                Ok(t) => {
                    out.insert(Unit::new(t, tf));
                }
                // Not a unit this app would run: left out, so it cannot be skipped.
                Err(e) => warn!(job_id, "ignored a checkpoint: {e}"),
            }
        }
        Ok(out)
    }

    async fn mark(&self, job_id: &str, unit: &Unit) -> Result<()> {
        self.mark_rows(job_id, unit, 0).await
    }

    async fn mark_rows(&self, job_id: &str, unit: &Unit, rows: u64) -> Result<()> {
        self.0
            .mark_pair_done(job_id, &unit.symbol, unit.timeframe, rows)
            .await?;
        Ok(())
    }

    async fn done_rows(&self, job_id: &str) -> Result<u64> {
        Ok(self
            .0
            .done_pairs(job_id)
            .await?
            .into_iter()
            .map(|(_, _, rows)| rows)
            .sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{Local, NaiveDateTime, TimeZone, Utc};
    use tickstock_protocol::job::{DateRange, JobSpec};
    use tickstock_protocol::status::{JobState, Stamp};

    #[test]
    fn legacy_and_offset_times_parse() {
        assert!(parse_time("2025-01-22T10:30:00").is_some());
        assert!(parse_time("2026-02-10T09:15:42.118304").is_some());
        assert!(parse_time("2026-02-10T09:15:42.118304+00:00").is_some());
        assert!(parse_time("yesterday").is_none());
        // A naive time is local time of this machine, as TickStock wrote it.
        let naive =
            NaiveDateTime::parse_from_str("2026-02-10T09:15:42.118304", "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap();
        assert_eq!(
            parse_time("2026-02-10T09:15:42.118304"),
            Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        );
    }

    #[test]
    fn job_runs_take_the_exact_utc_times() {
        let job = Job::new(
            JobSpec::Historical {
                symbols: vec!["AAPL".into()],
                timespan: tickstock_protocol::Timeframe::Day,
                range: DateRange {
                    years: Some(1.0),
                    ..Default::default()
                },
            },
            "test",
        );
        let at = Stamp(Utc.with_ymd_and_hms(2026, 2, 10, 15, 15, 43).unwrap());
        let mut st = JobStatus::new(JobState::Completed);
        st.set_time("submitted_at", at);
        st.set_time("started_at", at);
        st.set_time("completed_at", at);
        let run = job_run(&job, &st);
        assert_eq!(run.submitted_at, Some(at.0));
        assert_eq!(run.started_at, Some(at.0));
        assert_eq!(run.completed_at, Some(at.0));
        // Without a status time, the message's naive local `timestamp`.
        let run = job_run(&job, &JobStatus::new(JobState::Submitted));
        let age = Utc::now() - run.submitted_at.unwrap();
        assert!(age.num_seconds().abs() < 60, "{age}");
    }
}
