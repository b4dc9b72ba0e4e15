//! The `job_logs` table: each job's own log lines ([`crate::joblog`]), appended when a run
//! ends or is released, read by the job detail; and the link from a job to the jobs that
//! retry it. The statements are the job history's, written once over both databases
//! ([`super::job_runs::Dialect`]); logs go with their job when it is deleted.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Sqlite};

use super::job_runs::Dialect;
use super::{Pool, Store, StoreError};
use crate::joblog::LogLine;

impl Store {
    /// Appends lines to a job's log, after the lines kept before (one transaction).
    pub async fn append_job_log(&self, job_id: &str, lines: &[LogLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        match &self.pool {
            Pool::Postgres(p, _) => Postgres::append_job_log(p, job_id, lines).await,
            Pool::Sqlite(p, _) => Sqlite::append_job_log(p, job_id, lines).await,
        }
        .map_err(|e| self.err(e))
    }

    /// A job's log lines, oldest first (none when it has no log or the table is missing:
    /// a read-only database of an older release).
    pub async fn job_log(&self, job_id: &str) -> Result<Vec<LogLine>, StoreError> {
        let rows = match &self.pool {
            Pool::Postgres(p, _) => Postgres::job_log(p, job_id).await,
            Pool::Sqlite(p, _) => Sqlite::job_log(p, job_id).await,
        };
        let rows = match rows {
            Ok(r) => r,
            Err(sqlx::Error::Database(e)) if is_missing_table(e.message()) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        Ok(rows
            .into_iter()
            .map(|(at, level, message)| LogLine {
                at: DateTime::parse_from_rfc3339(&at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_default(),
                level,
                message,
            })
            .collect())
    }

    /// Ids of the jobs that retry `id` (their message's `retry_of`), newest first.
    pub async fn retries_of(&self, id: &str) -> Result<Vec<String>, StoreError> {
        match &self.pool {
            Pool::Postgres(p, _) => Postgres::retries_of(p, id).await,
            Pool::Sqlite(p, _) => Sqlite::retries_of(p, id).await,
        }
        .map_err(|e| self.err(e))
    }
}

fn is_missing_table(message: &str) -> bool {
    super::is_missing(message, "job_logs")
}
