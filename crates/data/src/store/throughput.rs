//! Finished jobs counted per time bucket, for the dashboard ([`crate::dashboard`]): one
//! `GROUP BY` over `job_runs` by (bucket, status) with the jobs, their bars and their
//! running seconds. The bucket of a job is `(completed_at - origin) / width` in whole
//! seconds; only the arithmetic on times is spelled per database (PostgreSQL's
//! `extract(epoch ...)`, SQLite's `strftime('%s', ...)` and `julianday`).

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::{format_stamp, Pool, Store, StoreError};

/// Jobs of one status that finished in one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedBucket {
    /// From 0 at `origin`.
    pub index: i64,
    pub status: String,
    pub jobs: i64,
    pub bars: i64,
    /// Seconds from start to end, summed over the jobs that record both.
    pub run_seconds: f64,
}

const PG: &str = "SELECT (CAST(extract(epoch FROM completed_at) AS BIGINT) - $1) / $2 AS b, \
    status, count(*) AS jobs, CAST(COALESCE(sum(bars_loaded), 0) AS BIGINT) AS bars, \
    CAST(COALESCE(sum(CASE WHEN started_at IS NOT NULL AND started_at <= completed_at \
    THEN extract(epoch FROM (completed_at - started_at)) ELSE 0 END), 0) AS DOUBLE PRECISION) \
    FROM job_runs WHERE completed_at >= to_timestamp($1) AND completed_at < to_timestamp($3) \
    GROUP BY 1, 2 ORDER BY 1, 2";

const SQLITE: &str = "SELECT (CAST(strftime('%s', completed_at) AS INTEGER) - ?) / ? AS b, \
    status, count(*) AS jobs, CAST(COALESCE(sum(bars_loaded), 0) AS INTEGER) AS bars, \
    CAST(COALESCE(sum(CASE WHEN started_at IS NOT NULL AND started_at <= completed_at \
    THEN (julianday(completed_at) - julianday(started_at)) * 86400.0 ELSE 0.0 END), 0.0) AS REAL) \
    FROM job_runs WHERE completed_at >= ? AND completed_at < ? \
    GROUP BY 1, 2 ORDER BY 1, 2";

impl Store {
    /// Jobs that finished in `[origin, until)` by bucket of `width_secs` seconds and by
    /// status. Rows without `completed_at` (still active) are left out.
    pub async fn finished_per_bucket(
        &self,
        origin: DateTime<Utc>,
        width_secs: i64,
        until: DateTime<Utc>,
    ) -> Result<Vec<FinishedBucket>, StoreError> {
        if width_secs <= 0 {
            return Err(StoreError::invalid(
                "a time bucket must be at least 1 second",
            ));
        }
        let from = origin.timestamp();
        let rows = match &self.pool {
            Pool::Postgres(p, _) => sqlx::query(PG)
                .bind(from)
                .bind(width_secs)
                .bind(until.timestamp())
                .fetch_all(p)
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| -> Result<FinishedBucket, sqlx::Error> {
                            Ok(FinishedBucket {
                                index: r.try_get(0)?,
                                status: r.try_get(1)?,
                                jobs: r.try_get(2)?,
                                bars: r.try_get(3)?,
                                run_seconds: r.try_get(4)?,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                }),
            Pool::Sqlite(p, _) => sqlx::query(SQLITE)
                .bind(from)
                .bind(width_secs)
                .bind(format_stamp(origin))
                .bind(format_stamp(until))
                .fetch_all(p)
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| -> Result<FinishedBucket, sqlx::Error> {
                            Ok(FinishedBucket {
                                index: r.try_get(0)?,
                                status: r.try_get(1)?,
                                jobs: r.try_get(2)?,
                                bars: r.try_get(3)?,
                                run_seconds: r.try_get(4)?,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                }),
        };
        rows.and_then(|r| r).map_err(|e| self.err(e))
    }
}
