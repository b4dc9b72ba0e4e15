//! Job history in the database: each job's parameters, status, counts and timings kept in
//! `job_runs`, so history outlives Redis expiry and app restarts.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::Result;
use std::collections::HashSet;

use crate::exec::{Checkpoints, JobHistory};
use crate::job::Job;
use crate::status::JobStatus;
use crate::store::{JobRun, Store};
use crate::timeframe::Timeframe;

/// Parses the ISO 8601 times status fields carry (with or without an offset; a time
/// without one is UTC, as the legacy writers meant it).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

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
        .submitted_at
        .as_deref()
        .and_then(parse_time)
        .or_else(|| job.timestamp.as_deref().and_then(parse_time));
    run.started_at = st.started_at.as_deref().and_then(parse_time);
    run.completed_at = st.completed_at.as_deref().and_then(parse_time);
    run.worker = st.worker_id.clone();
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
}

/// [`Checkpoints`] kept in the store's `job_checkpoints` table: a job interrupted by the app
/// closing resumes from here on the next start.
#[derive(Clone)]
pub struct StoreCheckpoints(pub Store);

#[async_trait]
impl Checkpoints for StoreCheckpoints {
    async fn done(&self, job_id: &str) -> Result<HashSet<String>> {
        Ok(self
            .0
            .done_pairs(job_id)
            .await?
            .into_iter()
            .map(|(symbol, tf, _)| crate::loader::unit_key(&symbol, tf))
            .collect())
    }

    async fn mark(&self, job_id: &str, unit: &str) -> Result<()> {
        let (symbol, tf) = unit
            .split_once('|')
            .and_then(|(s, t)| t.parse::<Timeframe>().ok().map(|tf| (s, tf)))
            .ok_or_else(|| {
                crate::Error::invalid(format!("unit `{unit}` is not SYMBOL|timeframe"))
            })?;
        self.0.mark_pair_done(job_id, symbol, tf, 0).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_offset_times_parse() {
        assert!(parse_time("2025-01-22T10:30:00").is_some());
        assert!(parse_time("2026-02-10T09:15:42.118304").is_some());
        assert!(parse_time("2026-02-10T09:15:42.118304+00:00").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
