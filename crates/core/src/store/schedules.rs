//! The `schedules` table: recurring jobs kept in the database, on both backends. Times are
//! `TIMESTAMPTZ` on PostgreSQL and RFC 3339 text on SQLite; the few statements differ only
//! in their placeholders, so each is written once and numbered for PostgreSQL.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

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

/// `$1, $2, ...` for PostgreSQL become SQLite's numbered `?1, ?2, ...`.
fn sql(pg: bool, text: &str) -> String {
    if pg {
        text.to_string()
    } else {
        text.replace('$', "?")
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_stamp(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

const COLUMNS: &str =
    "name, spec, request, enabled, created_at, last_due, last_job_id, last_alerted";

impl Store {
    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        let text = format!("SELECT {COLUMNS} FROM schedules ORDER BY name");
        match &self.pool {
            Pool::Postgres(p, _) => {
                let rows = sqlx::query(&text)
                    .fetch_all(p)
                    .await
                    .map_err(|e| self.err(e))?;
                rows.iter()
                    .map(|r| {
                        Ok(ScheduleRow {
                            name: r.try_get(0)?,
                            spec: r.try_get(1)?,
                            request: parse_json(r.try_get(2)?),
                            enabled: r.try_get(3)?,
                            created_at: r.try_get(4)?,
                            last_due: r.try_get(5)?,
                            last_job_id: r.try_get(6)?,
                            last_alerted: r.try_get(7)?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(|e| self.err(e))
            }
            Pool::Sqlite(p) => {
                let rows = sqlx::query(&text)
                    .fetch_all(p)
                    .await
                    .map_err(|e| self.err(e))?;
                rows.iter()
                    .map(|r| {
                        Ok(ScheduleRow {
                            name: r.try_get(0)?,
                            spec: r.try_get(1)?,
                            request: parse_json(r.try_get(2)?),
                            enabled: r.try_get(3)?,
                            created_at: parse_stamp(r.try_get(4)?).unwrap_or_default(),
                            last_due: parse_stamp(r.try_get(5)?),
                            last_job_id: r.try_get(6)?,
                            last_alerted: r.try_get(7)?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(|e| self.err(e))
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
        let text = "INSERT INTO schedules (name, spec, request, enabled, created_at) VALUES ($1, $2, $3, TRUE, $4)";
        let now = Utc::now();
        let r = match &self.pool {
            Pool::Postgres(p, _) => sqlx::query(text)
                .bind(name)
                .bind(spec)
                .bind(request.to_string())
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Pool::Sqlite(p) => sqlx::query(&sql(false, text))
                .bind(name)
                .bind(spec)
                .bind(request.to_string())
                .bind(stamp(now))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        };
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
        self.schedule_exec("DELETE FROM schedules WHERE name = $1", name, None)
            .await
    }

    /// Enables or disables a schedule; whether there was one.
    pub async fn enable_schedule(&self, name: &str, enabled: bool) -> Result<bool, StoreError> {
        let text = "UPDATE schedules SET enabled = $2 WHERE name = $1";
        let r = match &self.pool {
            Pool::Postgres(p, _) => sqlx::query(text)
                .bind(name)
                .bind(enabled)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Pool::Sqlite(p) => sqlx::query(&sql(false, text))
                .bind(name)
                .bind(enabled)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        };
        r.map(|n| n > 0).map_err(|e| self.err(e))
    }

    /// Claims due time `due` of a schedule: true for the one caller that moves its
    /// `last_due` forward to `due` (an atomic compare-and-set in either database).
    pub async fn claim_schedule_due(
        &self,
        name: &str,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let text = "UPDATE schedules SET last_due = $2
                     WHERE name = $1 AND enabled AND (last_due IS NULL OR last_due < $2)";
        let r = match &self.pool {
            Pool::Postgres(p, _) => sqlx::query(text)
                .bind(name)
                .bind(due)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Pool::Sqlite(p) => sqlx::query(&sql(false, text))
                .bind(name)
                .bind(stamp(due))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        };
        r.map(|n| n > 0).map_err(|e| self.err(e))
    }

    /// Records the job a schedule submitted last.
    pub async fn set_schedule_job(&self, name: &str, job_id: &str) -> Result<(), StoreError> {
        self.schedule_exec(
            "UPDATE schedules SET last_job_id = $2 WHERE name = $1",
            name,
            Some(job_id),
        )
        .await
        .map(|_| ())
    }

    /// Records that the end of job `job_id` was looked at (and alerted when it failed).
    pub async fn record_schedule_alerted(
        &self,
        name: &str,
        job_id: &str,
    ) -> Result<(), StoreError> {
        self.schedule_exec(
            "UPDATE schedules SET last_alerted = $2 WHERE name = $1",
            name,
            Some(job_id),
        )
        .await
        .map(|_| ())
    }

    async fn schedule_exec(
        &self,
        text: &str,
        name: &str,
        second: Option<&str>,
    ) -> Result<bool, StoreError> {
        let r = match &self.pool {
            Pool::Postgres(p, _) => {
                let mut q = sqlx::query(text).bind(name);
                if let Some(s) = second {
                    q = q.bind(s);
                }
                q.execute(p).await.map(|r| r.rows_affected())
            }
            Pool::Sqlite(p) => {
                let text = sql(false, text);
                let mut q = sqlx::query(&text).bind(name);
                if let Some(s) = second {
                    q = q.bind(s);
                }
                q.execute(p).await.map(|r| r.rows_affected())
            }
        };
        r.map(|n| n > 0).map_err(|e| self.err(e))
    }
}

fn parse_json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_question_marks_for_sqlite() {
        assert_eq!(
            super::sql(false, "UPDATE t SET a = $2 WHERE b = $1 AND c < $2"),
            "UPDATE t SET a = ?2 WHERE b = ?1 AND c < ?2"
        );
    }
}
