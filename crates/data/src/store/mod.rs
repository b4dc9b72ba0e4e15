//! PostgreSQL and SQLite storage.
//!
//! [`Store`] is a cheap-clone handle over a connection pool of either backend. Both keep
//! TickStock's table names (`ohlcv_1min`, `ohlcv_hourly`, `ohlcv_daily`, `ohlcv_weekly`,
//! `ohlcv_monthly`, `symbols`, `definition_groups`, `group_memberships`) plus this app's
//! `job_runs` and `job_checkpoints`. Migrations are embedded and use
//! `CREATE TABLE IF NOT EXISTS`, so an existing TickStock database is used as it is.
//!
//! Bars are keyed by their UTC instant (1min, hourly) or by their New York trading date
//! (daily, weekly, monthly: see [`tickstock_protocol::Bar::ny_date`]); writing the same bars twice leaves the
//! same rows. Each [`Store::write_bars`] call is one transaction: all rows or none.
//! On PostgreSQL it streams the rows with `COPY` (binary format) and merges them with one
//! `INSERT .. ON CONFLICT`; on SQLite it runs prepared multi-row upserts.
//!
//! ## Layout
//! - `mod.rs`: the handle, connecting, migrations, pool settings, URL handling.
//! - `error.rs`: [`StoreError`], the storage failure.
//! - `types.rs`: the public values the store reads and writes (bars, coverage, symbols,
//!   universes, job runs).
//! - `bars.rs`: writing and reading bars, and the row helpers both backends share.
//! - `bar_reads.rs`: the bar reads' SQL, once for both databases.
//! - `universes.rs`: the `symbols` table and universes (groups and their members): the
//!   [`Store`] methods.
//! - `catalog.rs`: their SQL, once for both databases, over the tables' shape.
//! - `job_runs.rs`: the job history's SQL for both databases (and the `Dialect` that
//!   spells what differs), and its [`Store`] methods.
//! - `job_logs.rs`: each job's own log lines (`job_logs`).
//! - `postgres/`: the PostgreSQL backend's connection.
//! - `postgres_bars.rs`: the PostgreSQL bar reads and writes (COPY bulk path).
//! - `schema.rs`: the shape of an existing database's tables (TickStock's or ours).
//! - `sqlite/`: the SQLite backend; `sqlite_reset.rs`: its connections back to the pool
//!   out of any transaction.
//! - `seed.rs`: seeding of the built-in universes.
//! - `schedules.rs`: the `schedules` table (recurring jobs).
//! - `bar_counts.rs`: bars per symbol and day of the minute and hour tables (fast coverage).
//! - `months.rs`: bars per symbol and month (the completeness heat map).
//! - `splits.rs`: the `split_checks` table (splits seen, symbols to reload).

mod bar_counts;
mod bar_reads;
mod bars;
mod catalog;
mod error;
pub mod history_query;
mod job_logs;
mod job_runs;
mod months;
mod orders;
mod postgres;
mod postgres_bars;
mod retry;
mod schedules;
mod schema;
mod seed;
mod splits;
mod sqlite;
mod sqlite_reset;
mod throughput;
mod types;
mod universes;

pub use error::StoreError;

/// Whether a database error says `table` does not exist (PostgreSQL's and SQLite's words).
fn is_missing(message: &str, table: &str) -> bool {
    message.contains(table)
        && (message.contains("does not exist") || message.contains("no such table"))
}
pub use job_runs::MIN_DELETE_PREFIX;
pub use schedules::ScheduleRow;
pub use splits::SplitCheckRow;
pub use throughput::FinishedBucket;
pub use types::{
    JobRun, JobRunFilter, JobRunPage, StoredBar, SymbolRecord, SymbolSpan, TableCoverage,
    UniverseSummary,
};
pub use universes::UniversePreview;

pub(crate) use bars::{
    format_date, format_instant, format_stamp, normalise_symbol, ny_midnight, tf_index,
    time_column, Row,
};
pub(crate) use universes::{find_group, GroupRow, UniverseDef};

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, SqlitePool};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        })
    }
}

/// Pool settings for [`Store::connect_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections the pool opens (SQLite in memory always uses one).
    pub max_connections: u32,
    /// How long an operation waits for a connection before it fails with
    /// [`StoreError::Connect`] (a stopped server is reported after this long).
    pub acquire_timeout: Duration,
    /// How long opening the database may take (a server that accepts the connection
    /// and never answers is reported after this long instead of hanging).
    pub connect_timeout: Duration,
    /// Create and update tables (our migrations and the built-in universes). Off for
    /// read-only commands: they use the database as it is and change nothing.
    pub migrate: bool,
    /// TickStock's environment (`DEFAULT`, `TEST`, `UAT`, `PROD`): universes are read and
    /// written in this one only. An SQLite file holds one environment.
    pub environment: String,
    /// Make the folder of an SQLite file when it is missing. Off for a command that only
    /// reads a database someone named: a typo in the path is said, not created.
    pub create_folders: bool,
    /// Caps an SQLite file at this many pages (`PRAGMA max_page_count` on every
    /// connection): past it a write fails with "database or disk is full", as on a full
    /// disk. None: no cap but the disk's.
    pub sqlite_max_pages: Option<u32>,
}

/// TickStock's default environment.
pub const DEFAULT_ENVIRONMENT: &str = "DEFAULT";

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            migrate: true,
            environment: DEFAULT_ENVIRONMENT.to_string(),
            create_folders: true,
            sqlite_max_pages: None,
        }
    }
}

/// Checks and normalises an environment name: letters, digits and `_`, at most 10
/// characters (TickStock's column), upper case.
pub fn normalise_environment(env: &str) -> Result<String, StoreError> {
    let e = env.trim().to_ascii_uppercase();
    if e.is_empty() {
        return Ok(DEFAULT_ENVIRONMENT.to_string());
    }
    if e.len() > 10 || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::invalid(format!(
            "invalid environment `{}`: use letters, digits or `_`, at most 10 characters (TickStock's are DEFAULT, TEST, UAT, PROD)",
            env.trim().escape_debug()
        )));
    }
    Ok(e)
}

#[derive(Clone)]
enum Pool {
    /// The pool and the shape of the database's tables (TickStock's or ours; on SQLite
    /// only `symbols` and `definition_groups`).
    Postgres(PgPool, std::sync::Arc<schema::Schema>),
    Sqlite(SqlitePool, std::sync::Arc<schema::Schema>),
}

/// The storage handle: a connection pool of either backend. Cloning is cheap.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Safe description (no password), used in every message.
    target: std::sync::Arc<str>,
    /// The URL's password, scrubbed from driver messages as a last line of defence.
    secret: Option<std::sync::Arc<str>>,
    /// The environment universes are read and written in.
    environment: std::sync::Arc<str>,
    /// The schema could not be brought up to date for lack of privileges: the store only
    /// reads what exists and writes nothing of its own (no seeding).
    read_only_schema: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target)
            .field("environment", &self.environment)
            .finish()
    }
}

impl Store {
    /// Opens a pool, brings the schema up to date and seeds the built-in universes that
    /// are missing. Accepts `postgres://` / `postgresql://` URLs, `sqlite://PATH` (the
    /// file and its folders are created; WAL mode) and `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// [`Store::connect`] with pool settings.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let url = url.trim();
        let store = if is_postgres_url(url) {
            postgres::connect(url, options).await?
        } else if url.starts_with("sqlite:") {
            sqlite::connect(url, options).await?
        } else {
            return Err(StoreError::invalid(format!(
                "unsupported database URL `{}`: use postgres://, postgresql://, sqlite://PATH or sqlite::memory:",
                redact_url(url)
            )));
        };
        if store.read_only_schema {
            tracing::info!(target = %store.target, "schema not writable: built-in universes are offered from the app, not stored");
        } else {
            seed::seed_builtin_universes(&store).await?;
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Postgres(..) => Backend::Postgres,
            Pool::Sqlite(..) => Backend::Sqlite,
        }
    }

    /// Where the data lives, safe to show: `PostgreSQL at 127.0.0.1:5432/tickstock`,
    /// `SQLite at /path/tickstock.db`. Never a password.
    pub fn describe(&self) -> String {
        self.target.to_string()
    }

    /// The environment universes are read and written in (`DEFAULT`, `TEST`, ...).
    pub fn environment(&self) -> &str {
        &self.environment
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(e, &self.target, self.secret.as_deref())
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let res = match &self.pool {
            Pool::Postgres(p, _) => {
                postgres::accept_rewritten_init(self, p).await?;
                sqlx::migrate!("./migrations/postgres").run(p).await
            }
            Pool::Sqlite(p, _) => sqlx::migrate!("./migrations/sqlite").run(p).await,
        };
        res.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => match self.err(inner) {
                StoreError::Query { message, .. } => StoreError::Migrate {
                    message: format!("schema update failed: {message}"),
                },
                other => other,
            },
            other => StoreError::Migrate {
                message: format!("{}: schema update failed: {other}", self.target),
            },
        })
    }

    /// Round-trip time of a trivial query.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = std::time::Instant::now();
        match &self.pool {
            Pool::Postgres(p, _) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Pool::Sqlite(p, _) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
        .map_err(|e| self.err(e))?;
        Ok(started.elapsed())
    }

    /// Closes the pool: waits for connections in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p, _) => p.close().await,
            Pool::Sqlite(p, _) => p.close().await,
        }
    }
}

pub(crate) fn is_postgres_url(url: &str) -> bool {
    let lower = url.get(..13).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The URL with any password replaced by `***` (for messages about a bad URL).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Unparsable: drop anything that could be user info.
        Err(_) => match url.rfind('@') {
            Some(at) => match url.find("://") {
                Some(s) if s < at => format!("{}://***{}", &url[..s], &url[at..]),
                _ => "(unparsable URL)".into(),
            },
            None => url.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert!(!redact_url("postgres://u:sec ret@h/db").contains("sec"));
    }
}
