//! The `job_logs` table: each job's own log lines ([`crate::joblog`]), appended when a run
//! ends or is released, read by the job detail. Times are RFC 3339 text on both backends.
//! Also the link from a job to the jobs that retry it.

use chrono::{DateTime, Utc};

use super::{Pool, Store, StoreError};
use crate::joblog::LogLine;

impl Store {
    /// Appends lines to a job's log, after the lines kept before (one transaction).
    pub async fn append_job_log(&self, job_id: &str, lines: &[LogLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        match &self.pool {
            Pool::Postgres(p, _) => {
                let mut tx = p.begin().await.map_err(|e| self.err(e))?;
                let next: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM job_logs WHERE job_id = $1",
                )
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                for (i, l) in lines.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO job_logs (job_id, seq, at, level, message) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(job_id)
                    .bind(next + i as i64)
                    .bind(l.at.to_rfc3339())
                    .bind(&l.level)
                    .bind(&l.message)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                }
                tx.commit().await.map_err(|e| self.err(e))
            }
            Pool::Sqlite(p) => {
                let mut tx = p.begin().await.map_err(|e| self.err(e))?;
                let next: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM job_logs WHERE job_id = ?",
                )
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                for (i, l) in lines.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO job_logs (job_id, seq, at, level, message) VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(job_id)
                    .bind(next + i as i64)
                    .bind(l.at.to_rfc3339())
                    .bind(&l.level)
                    .bind(&l.message)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                }
                tx.commit().await.map_err(|e| self.err(e))
            }
        }
    }

    /// A job's log lines, oldest first (none when it has no log or the table is missing:
    /// a read-only database of an older release).
    pub async fn job_log(&self, job_id: &str) -> Result<Vec<LogLine>, StoreError> {
        type Raw = (String, String, String);
        let rows: Result<Vec<Raw>, sqlx::Error> = match &self.pool {
            Pool::Postgres(p, _) => {
                sqlx::query_as(
                    "SELECT at, level, message FROM job_logs WHERE job_id = $1 ORDER BY seq",
                )
                .bind(job_id)
                .fetch_all(p)
                .await
            }
            Pool::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT at, level, message FROM job_logs WHERE job_id = ? ORDER BY seq",
                )
                .bind(job_id)
                .fetch_all(p)
                .await
            }
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

    /// Deletes the logs of the jobs whose id starts with `prefix`.
    pub async fn delete_job_logs_by_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        let done = match &self.pool {
            Pool::Postgres(p, _) => sqlx::query("DELETE FROM job_logs WHERE job_id LIKE $1")
                .bind(&pattern)
                .execute(p)
                .await
                .map(|d| d.rows_affected()),
            Pool::Sqlite(p) => sqlx::query("DELETE FROM job_logs WHERE job_id LIKE ?")
                .bind(&pattern)
                .execute(p)
                .await
                .map(|d| d.rows_affected()),
        };
        done.map_err(|e| self.err(e))
    }
}

fn is_missing_table(message: &str) -> bool {
    message.contains("job_logs")
        && (message.contains("does not exist") || message.contains("no such table"))
}

impl Store {
    /// Ids of the jobs that retry `id` (their message's `retry_of`), newest first.
    pub async fn retries_of(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Result<Vec<(String,)>, sqlx::Error> = match &self.pool {
            Pool::Postgres(p, _) => {
                sqlx::query_as(
                    "SELECT id FROM job_runs WHERE params->>'retry_of' = $1 \
                     ORDER BY submitted_at DESC NULLS LAST",
                )
                .bind(id)
                .fetch_all(p)
                .await
            }
            Pool::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT id FROM job_runs WHERE json_extract(params, '$.retry_of') = ? \
                     ORDER BY submitted_at DESC",
                )
                .bind(id)
                .fetch_all(p)
                .await
            }
        };
        Ok(rows
            .map_err(|e| self.err(e))?
            .into_iter()
            .map(|(id,)| id)
            .collect())
    }
}
