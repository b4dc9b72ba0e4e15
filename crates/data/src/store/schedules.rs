//! The `schedules` table: recurring jobs kept in the database, on both backends. Times are
//! `TIMESTAMPTZ` on PostgreSQL and RFC 3339 text on SQLite; each statement is written once
//! with the job history's [`Dialect`](super::job_runs::Dialect), which spells the
//! placeholders and binds and reads the times.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Row as _, Sqlite};

use super::job_runs::{sql_trait, Arg, Dialect, Stmt};
use super::{Pool, Store, StoreError};

/// One stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRow {
    pub name: String,
    /// A cron expression in America/New_York, or `trading-days HH:MM`.
    pub spec: String,
    /// The job submitted at each due time (a `JobRequest` as JSON).
    pub request: serde_json::Value,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// The last due time that fired.
    pub last_due: Option<DateTime<Utc>>,
    pub last_job_id: Option<String>,
    /// The last job whose failure was alerted.
    pub last_alerted: Option<String>,
}

const COLUMNS: &str =
    "name, spec, request, enabled, created_at, last_due, last_job_id, last_alerted";

sql_trait! {
/// The schedule statements, on top of the [`Dialect`].
trait ScheduleSql: Dialect {
    async fn list(pool: &sqlx::Pool<Self>) -> Result<Vec<ScheduleRow>, sqlx::Error> {
        let s = Self::stmt(format!("SELECT {COLUMNS} FROM schedules ORDER BY name"));
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                let request: String = r.try_get(2)?;
                Ok(ScheduleRow {
                    name: r.try_get(0)?,
                    spec: r.try_get(1)?,
                    request: serde_json::from_str(&request).unwrap_or(serde_json::Value::Null),
                    enabled: r.try_get(3)?,
                    created_at: Self::time(r, 4)?.unwrap_or_default(),
                    last_due: Self::time(r, 5)?,
                    last_job_id: r.try_get(6)?,
                    last_alerted: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// The first column of the first row a statement reads, as text.
    async fn first_text(pool: &sqlx::Pool<Self>, s: &Stmt) -> Result<Option<String>, sqlx::Error> {
        match Self::query(s).fetch_optional(pool).await? {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    /// Runs a statement; how many rows it changed.
    async fn run(pool: &sqlx::Pool<Self>, s: &Stmt) -> Result<u64, sqlx::Error> {
        let done = Self::query(s).execute(pool).await?;
        Ok(Self::rows_affected(&done))
    }
}
}

impl ScheduleSql for Postgres {}
impl ScheduleSql for Sqlite {}

impl Store {
    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        match &self.pool {
            Pool::Postgres(p, _) => Postgres::list(p).await,
            Pool::Sqlite(p, _) => Sqlite::list(p).await,
        }
        .map_err(|e| self.err(e))
    }

    /// Runs the statement `build` writes in the store's dialect; how many rows it changed.
    pub(super) async fn schedule_run(&self, build: impl Fn(&mut Stmt)) -> Result<u64, sqlx::Error> {
        match &self.pool {
            Pool::Postgres(p, _) => {
                let mut s = Postgres::stmt("");
                build(&mut s);
                Postgres::run(p, &s).await
            }
            Pool::Sqlite(p, _) => {
                let mut s = Sqlite::stmt("");
                build(&mut s);
                Sqlite::run(p, &s).await
            }
        }
    }

    /// Reads the first column of the first row of the statement `build` writes in the
    /// store's dialect, as text.
    pub(super) async fn read_text(
        &self,
        build: impl Fn(&mut Stmt),
    ) -> Result<Option<String>, sqlx::Error> {
        match &self.pool {
            Pool::Postgres(p, _) => {
                let mut s = Postgres::stmt("");
                build(&mut s);
                Postgres::first_text(p, &s).await
            }
            Pool::Sqlite(p, _) => {
                let mut s = Sqlite::stmt("");
                build(&mut s);
                Sqlite::first_text(p, &s).await
            }
        }
    }

    /// Adds a schedule; an error names the schedule when one of that name exists.
    pub async fn add_schedule(
        &self,
        name: &str,
        spec: &str,
        request: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let r = self
            .schedule_run(|s| {
                s.push("INSERT INTO schedules (name, spec, request, enabled, created_at) VALUES (")
                    .bind(Stmt::text(name))
                    .push(", ")
                    .bind(Stmt::text(spec))
                    .push(", ")
                    .bind(Stmt::text(request.to_string()))
                    .push(", TRUE, ")
                    .bind(Arg::Time(Some(now)))
                    .push(")");
            })
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::invalid(
                format!("a schedule named `{name}` exists already (remove it first)"),
            )),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Removes a schedule; whether there was one.
    pub async fn remove_schedule(&self, name: &str) -> Result<bool, StoreError> {
        self.schedule_changed(|s| {
            s.push("DELETE FROM schedules WHERE name = ")
                .bind(Stmt::text(name));
        })
        .await
    }

    /// Enables or disables a schedule; whether there was one.
    pub async fn enable_schedule(&self, name: &str, enabled: bool) -> Result<bool, StoreError> {
        self.schedule_changed(|s| {
            s.push("UPDATE schedules SET enabled = ")
                .bind(Arg::Bool(enabled))
                .push(" WHERE name = ")
                .bind(Stmt::text(name));
        })
        .await
    }

    /// Claims due time `due` of a schedule: true for the one caller that moves its
    /// `last_due` forward to `due` (an atomic compare-and-set in either database).
    pub async fn claim_schedule_due(
        &self,
        name: &str,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.schedule_changed(|s| {
            s.push("UPDATE schedules SET last_due = ")
                .bind(Arg::Time(Some(due)))
                .push(" WHERE name = ")
                .bind(Stmt::text(name))
                .push(" AND enabled AND (last_due IS NULL OR last_due < ")
                .bind(Arg::Time(Some(due)))
                .push(")");
        })
        .await
    }

    /// Records the job a schedule submitted last.
    pub async fn set_schedule_job(&self, name: &str, job_id: &str) -> Result<(), StoreError> {
        self.schedule_changed(|s| {
            s.push("UPDATE schedules SET last_job_id = ")
                .bind(Stmt::text(job_id))
                .push(" WHERE name = ")
                .bind(Stmt::text(name));
        })
        .await
        .map(|_| ())
    }

    /// Records that the end of job `job_id` was looked at (and alerted when it failed).
    pub async fn record_schedule_alerted(
        &self,
        name: &str,
        job_id: &str,
    ) -> Result<(), StoreError> {
        self.schedule_changed(|s| {
            s.push("UPDATE schedules SET last_alerted = ")
                .bind(Stmt::text(job_id))
                .push(" WHERE name = ")
                .bind(Stmt::text(name));
        })
        .await
        .map(|_| ())
    }

    /// [`Store::schedule_run`]: whether any row changed.
    async fn schedule_changed(&self, build: impl Fn(&mut Stmt)) -> Result<bool, StoreError> {
        self.schedule_run(build)
            .await
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }
}
