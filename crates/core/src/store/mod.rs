//! PostgreSQL and SQLite storage.
//!
//! [`Store`] is a cheap-clone handle over a connection pool of either backend. Both keep
//! TickStock's table names (`ohlcv_1min`, `ohlcv_hourly`, `ohlcv_daily`, `ohlcv_weekly`,
//! `ohlcv_monthly`, `symbols`, `definition_groups`, `group_memberships`) plus this app's
//! `job_runs` and `job_checkpoints`. Migrations are embedded and use
//! `CREATE TABLE IF NOT EXISTS`, so an existing TickStock database is used as it is.
//!
//! Bars are keyed by their UTC instant (1min, hourly) or by their New York trading date
//! (daily, weekly, monthly: see [`Bar::ny_date`]); writing the same bars twice leaves the
//! same rows. Each [`Store::write_bars`] call is one transaction: all rows or none.
//! On PostgreSQL it streams the rows with `COPY` (binary format) and merges them with one
//! `INSERT .. ON CONFLICT`; on SQLite it runs prepared multi-row upserts.
//!
//! ## Layout
//! - `mod.rs`: the handle, the public types, the error, URL handling.
//! - `postgres.rs`: the PostgreSQL backend (COPY bulk path).
//! - `pg_schema.rs`: the shape of an existing database's tables (TickStock's or ours).
//! - `sqlite.rs`: the SQLite backend.
//! - `seed.rs`: seeding of the built-in universes.
//! - `bar_counts.rs`: bars per symbol and day of the minute and hour tables (fast coverage).
//! - `months.rs`: bars per symbol and month (the completeness heat map).
//! - `schedules.rs`: the `schedules` table (recurring jobs).
//! - `splits.rs`: the `split_checks` table (splits seen, symbols to reload).

mod bar_counts;
mod months;
mod pg_schema;
mod postgres;
mod schedules;
mod seed;
mod splits;
mod sqlite;

pub use schedules::ScheduleRow;
pub use splits::SplitCheckRow;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, SqlitePool};

use crate::bars::Bar;
use crate::error::{Error, ErrorKind};
use crate::timeframe::Timeframe;

/// Shortest job id prefix [`Store::delete_job_runs_by_prefix`] accepts.
pub const MIN_DELETE_PREFIX: usize = 4;

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

/// A storage failure. Every message names the database as [`Store::describe`] does and
/// never carries a password or SQL text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached (refused, timed out, connection lost).
    #[error("cannot reach {target}: {message}")]
    Connect { target: String, message: String },
    /// The database refused a statement. `retryable` for deadlocks, serialization
    /// failures and a busy SQLite file.
    #[error("{message}")]
    Query { message: String, retryable: bool },
    /// The schema could not be brought up to date.
    #[error("{message}")]
    Migrate { message: String },
    /// The input was rejected before anything was written.
    #[error("{message}")]
    Invalid { message: String },
}

impl StoreError {
    /// Whether trying the same thing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Query { retryable, .. } => *retryable,
            StoreError::Migrate { .. } | StoreError::Invalid { .. } => false,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        StoreError::Invalid {
            message: message.into(),
        }
    }

    /// Classifies a driver error. `target` is the safe description of the database and
    /// `secret` a password that must not appear in the message.
    pub(crate) fn from_sqlx(e: sqlx::Error, target: &str, secret: Option<&str>) -> Self {
        let scrub = |s: String| match secret {
            Some(p) if !p.is_empty() => s.replace(p, "***"),
            _ => s,
        };
        match e {
            sqlx::Error::PoolTimedOut => StoreError::Connect {
                target: target.to_string(),
                message: "no connection could be opened in time (is the server running?)".into(),
            },
            sqlx::Error::PoolClosed => StoreError::Connect {
                target: target.to_string(),
                message: "the connection pool was closed".into(),
            },
            sqlx::Error::Io(io) => StoreError::Connect {
                target: target.to_string(),
                message: scrub(io.to_string()),
            },
            sqlx::Error::Tls(t) => StoreError::Connect {
                target: target.to_string(),
                message: scrub(format!("TLS: {t}")),
            },
            sqlx::Error::WorkerCrashed => StoreError::Connect {
                target: target.to_string(),
                message: "the database worker stopped".into(),
            },
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let text = scrub(db.message().to_string());
                // PostgreSQL connection exceptions (08xxx), shutdown and overload.
                let lost = code.starts_with("08")
                    || matches!(code.as_str(), "57P01" | "57P02" | "57P03" | "53300");
                if lost {
                    return StoreError::Connect {
                        target: target.to_string(),
                        message: text,
                    };
                }
                // Deadlock, serialization failure, lock timeout; SQLITE_BUSY / SQLITE_LOCKED
                // (and their extended codes).
                let retryable = matches!(code.as_str(), "40001" | "40P01" | "55P03")
                    || code
                        .parse::<i64>()
                        .map(|c| matches!(c & 0xff, 5 | 6))
                        .unwrap_or(false);
                let what = match code.as_str() {
                    "" => text,
                    c => format!("{text} (code {c})"),
                };
                StoreError::Query {
                    message: format!("{target}: {what}"),
                    retryable,
                }
            }
            sqlx::Error::RowNotFound => StoreError::Query {
                message: format!("{target}: no row returned"),
                retryable: false,
            },
            sqlx::Error::ColumnDecode { index, source } => StoreError::Query {
                message: format!(
                    "{target}: unexpected value in column {index}: {}",
                    scrub(source.to_string())
                ),
                retryable: false,
            },
            other => StoreError::Query {
                message: format!("{target}: {}", scrub(other.to_string())),
                retryable: false,
            },
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let retryable = e.is_retryable();
        let kind = match e {
            StoreError::Invalid { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::Database,
        };
        let err = Error::new(kind, e.to_string());
        if retryable {
            err.retryable()
        } else {
            err
        }
    }
}

/// One stored bar as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBar {
    pub symbol: String,
    /// RFC 3339 UTC (`2024-03-11T13:30:00Z`) for 1min/hourly, `YYYY-MM-DD` for dated bars.
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// What one OHLCV table holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCoverage {
    pub table: String,
    pub timeframe: Timeframe,
    pub rows: i64,
    pub symbols: i64,
    /// Earliest key, formatted as [`StoredBar::time`]; `None` when the table is empty.
    pub earliest: Option<String>,
    pub latest: Option<String>,
}

/// One symbol's stored span in one OHLCV table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSpan {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// First and last key, formatted as [`StoredBar::time`].
    pub first: String,
    pub last: String,
    pub bars: i64,
}

/// A row of the `symbols` reference table (from Polygon's ticker reference).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolRecord {
    pub symbol: String,
    pub name: String,
    /// `stocks`, `crypto`, `fx`, `otc`, `indices`.
    pub market: String,
    /// Primary exchange MIC (`XNAS`); empty when unknown.
    pub exchange: String,
    /// Polygon's type code (`CS`, `ETF`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    pub active: bool,
    pub locale: Option<String>,
    pub currency: Option<String>,
    pub cik: Option<String>,
    pub composite_figi: Option<String>,
    pub share_class_figi: Option<String>,
    /// Polygon's `last_updated_utc` for the reference row.
    pub last_updated: Option<DateTime<Utc>>,
    pub market_cap: Option<f64>,
    pub weighted_shares_outstanding: Option<f64>,
    pub sic_code: Option<String>,
    pub sic_description: Option<String>,
    /// Derived from the SIC code ([`crate::sic::sector_of`]).
    pub sector: Option<String>,
    pub industry: Option<String>,
    pub list_date: Option<NaiveDate>,
    pub total_employees: Option<i64>,
    /// When the row was refreshed from Polygon's ticker details (`None` for a row from the
    /// reference list, which lacks the details).
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// One universe as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniverseSummary {
    /// Canonical key (`sp500`).
    pub key: String,
    /// Display name (`S&P 500`).
    pub name: String,
    /// `UNIVERSE`, `ETF`, ...
    pub kind: String,
    pub members: i64,
    pub as_of: Option<NaiveDate>,
}

/// One job's durable record (the job history the legacy system kept in memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub id: String,
    /// The job type (`historical_load`, ...).
    pub kind: String,
    /// The job message as submitted.
    pub params: serde_json::Value,
    pub status: String,
    /// 0–100.
    pub progress: i32,
    pub message: Option<String>,
    pub symbols_total: i64,
    pub symbols_ok: i64,
    pub symbols_failed: i64,
    pub bars_loaded: i64,
    /// `[{"symbol": .., "reason": ..}]`
    pub failed_symbols: serde_json::Value,
    pub error: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub worker: Option<String>,
}

impl JobRun {
    /// A run with this id, kind and params, status `submitted`, nothing done yet.
    pub fn new(id: impl Into<String>, kind: impl Into<String>, params: serde_json::Value) -> Self {
        JobRun {
            id: id.into(),
            kind: kind.into(),
            params,
            status: "submitted".into(),
            progress: 0,
            message: None,
            symbols_total: 0,
            symbols_ok: 0,
            symbols_failed: 0,
            bars_loaded: 0,
            failed_symbols: serde_json::Value::Array(Vec::new()),
            error: None,
            submitted_at: None,
            started_at: None,
            completed_at: None,
            worker: None,
        }
    }
}

/// Which job runs [`Store::list_job_runs`] returns. Empty fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRunFilter {
    /// Start of the job id (case-insensitive).
    pub id_prefix: Option<String>,
    /// Jobs whose `params.symbols` contains this ticker.
    pub symbol: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// 0-based page number.
    pub page: u32,
    /// Rows per page, 1 to 1000 (0 means the default, 50).
    pub page_size: u32,
}

impl Default for JobRunFilter {
    fn default() -> Self {
        JobRunFilter {
            id_prefix: None,
            symbol: None,
            kind: None,
            status: None,
            page: 0,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

impl JobRunFilter {
    pub(crate) fn limit(&self) -> i64 {
        match self.page_size {
            0 => DEFAULT_PAGE_SIZE as i64,
            n => n.min(MAX_PAGE_SIZE) as i64,
        }
    }

    pub(crate) fn offset(&self) -> i64 {
        self.page as i64 * self.limit()
    }

    /// The filter with blank strings dropped and values normalised.
    pub(crate) fn normalised(&self) -> JobRunFilter {
        let clean = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        JobRunFilter {
            id_prefix: clean(&self.id_prefix).map(|s| s.to_lowercase()),
            symbol: clean(&self.symbol).map(|s| s.to_ascii_uppercase()),
            kind: clean(&self.kind),
            status: clean(&self.status),
            page: self.page,
            page_size: self.page_size,
        }
    }
}

/// One page of job runs, newest first, and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRunPage {
    pub items: Vec<JobRun>,
    pub total: i64,
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
    /// The pool and the shape of the database's tables (TickStock's or ours).
    Postgres(PgPool, std::sync::Arc<pg_schema::PgSchema>),
    Sqlite(SqlitePool),
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
            Pool::Sqlite(_) => Backend::Sqlite,
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
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await,
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

    /// Writes bars of one symbol and timeframe: an idempotent upsert in one transaction
    /// (all rows or none). Bars with the same key in one call are merged, the last wins.
    /// Returns the number of rows inserted or changed: identical rows already stored are
    /// left alone and not counted.
    pub async fn write_bars(
        &self,
        symbol: &str,
        tf: Timeframe,
        bars: &[Bar],
    ) -> Result<u64, StoreError> {
        let symbol = normalise_symbol(symbol)?;
        let rows = prepare_rows(&symbol, tf, bars)?;
        if rows.is_empty() {
            return Ok(0);
        }
        // The write runs as its own task: a caller cancelled mid-write (a job stopping) does
        // not abandon the transaction halfway; it commits or rolls back whole.
        let days = (rows[0], rows[rows.len() - 1]);
        let store = self.clone();
        let symbol_for_task = symbol.clone();
        let task = tokio::spawn(async move {
            let symbol = symbol_for_task;
            match &store.pool {
                Pool::Postgres(p, schema) => {
                    let shape = schema.ohlcv[tf_index(tf)];
                    postgres::write_bars(&store, p, shape, &symbol, tf, &rows).await
                }
                Pool::Sqlite(p) => sqlite::write_bars(&store, p, &symbol, tf, &rows).await,
            }
        });
        let written = task.await.map_err(|e| StoreError::Query {
            message: format!("{}: the write task failed: {e}", self.target),
            retryable: false,
        })??;
        if bar_counts::counted(tf) {
            let day = |r: &Row| r.instant().date_naive();
            self.recount_days(&symbol, tf, day(&days.0), day(&days.1))
                .await;
        }
        Ok(written)
    }

    /// Every stored bar of one symbol and timeframe, oldest first.
    pub async fn read_bars(
        &self,
        symbol: &str,
        tf: Timeframe,
    ) -> Result<Vec<StoredBar>, StoreError> {
        let symbol = normalise_symbol(symbol)?;
        match &self.pool {
            Pool::Postgres(p, schema) => {
                postgres::read_bars(self, p, schema.ohlcv[tf_index(tf)], &symbol, tf).await
            }
            Pool::Sqlite(p) => sqlite::read_bars(self, p, &symbol, tf).await,
        }
    }

    /// Rows, symbols and time span of every OHLCV table, smallest timeframe first (the
    /// minute and hour tables from `bar_counts` when complete: see `bar_counts.rs`).
    pub async fn coverage(&self) -> Result<Vec<TableCoverage>, StoreError> {
        let mut out = Vec::with_capacity(Timeframe::ALL.len());
        for tf in Timeframe::ALL {
            if let Some(fast) = self.fast_table_coverage(tf).await? {
                out.push(fast);
                continue;
            }
            out.push(match &self.pool {
                Pool::Postgres(p, schema) => {
                    postgres::coverage(self, p, schema.ohlcv[tf_index(tf)], tf).await?
                }
                Pool::Sqlite(p) => sqlite::coverage(self, p, tf).await?,
            });
        }
        Ok(out)
    }

    /// First, last and count of each symbol's bars in one table, by symbol: of `symbols`
    /// only when given (an index range per symbol), else of every symbol in the table.
    /// Minute and hour counts come from `bar_counts` when complete (`bar_counts.rs`).
    pub async fn symbol_spans(
        &self,
        tf: Timeframe,
        symbols: Option<&[String]>,
    ) -> Result<Vec<SymbolSpan>, StoreError> {
        let symbols = symbols
            .map(|list| {
                list.iter()
                    .map(|s| normalise_symbol(s))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if let Some(mut fast) = self.fast_symbol_spans(tf, symbols.as_deref()).await? {
            fast.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            return Ok(fast);
        }
        let mut out = match &self.pool {
            Pool::Postgres(p, schema) => {
                postgres::symbol_spans(self, p, schema.ohlcv[tf_index(tf)], tf, symbols.as_deref())
                    .await?
            }
            Pool::Sqlite(p) => sqlite::symbol_spans(self, p, tf, symbols.as_deref()).await?,
        };
        out.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        Ok(out)
    }

    /// The keys of one symbol's bars whose New York trading date is in `[from, to]`, oldest
    /// first, formatted as [`StoredBar::time`].
    pub async fn bar_keys(
        &self,
        symbol: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let symbol = normalise_symbol(symbol)?;
        match &self.pool {
            Pool::Postgres(p, schema) => {
                postgres::bar_keys(self, p, schema.ohlcv[tf_index(tf)], &symbol, tf, from, to).await
            }
            Pool::Sqlite(p) => sqlite::bar_keys(self, p, &symbol, tf, from, to).await,
        }
    }

    /// Inserts or updates rows of the `symbols` table in one transaction. Optional fields
    /// that are `None` keep what is stored. Returns the number of records written.
    pub async fn upsert_symbols(&self, infos: &[SymbolRecord]) -> Result<u64, StoreError> {
        let mut recs: Vec<SymbolRecord> = Vec::with_capacity(infos.len());
        let mut seen = std::collections::HashMap::new();
        for info in infos {
            let mut r = info.clone();
            r.symbol = normalise_symbol(&r.symbol)?;
            match seen.get(&r.symbol) {
                Some(&i) => recs[i] = r,
                None => {
                    seen.insert(r.symbol.clone(), recs.len());
                    recs.push(r);
                }
            }
        }
        if recs.is_empty() {
            return Ok(0);
        }
        match &self.pool {
            Pool::Postgres(p, schema) => postgres::upsert_symbols(self, p, schema, &recs).await,
            Pool::Sqlite(p) => sqlite::upsert_symbols(self, p, &recs).await,
        }
    }

    /// Which of `symbols` have no `symbols` row, or one not refreshed from Polygon's ticker
    /// details within `max_age`.
    pub async fn symbols_to_refresh(
        &self,
        symbols: &[String],
        max_age: Duration,
    ) -> Result<Vec<String>, StoreError> {
        if symbols.is_empty() {
            return Ok(Vec::new());
        }
        let since = chrono::Duration::from_std(max_age)
            .ok()
            .and_then(|age| Utc::now().checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let fresh: std::collections::HashSet<String> = match &self.pool {
            Pool::Postgres(p, schema) => {
                postgres::fresh_symbols(self, p, schema, symbols, since).await?
            }
            Pool::Sqlite(p) => sqlite::fresh_symbols(self, p, symbols, since).await?,
        }
        .into_iter()
        .collect();
        Ok(symbols
            .iter()
            .filter(|s| !fresh.contains(*s))
            .cloned()
            .collect())
    }

    /// Every universe of this store's environment with its member count, by key, and the
    /// built-in universes the database has no group for (offered from the lists that ship
    /// with the app, never written where the schema is not ours to change).
    pub async fn list_universes(&self) -> Result<Vec<UniverseSummary>, StoreError> {
        let groups = self.groups().await?;
        let mut out: Vec<UniverseSummary> = groups
            .iter()
            .map(|g| {
                let key = g.name.clone();
                let name = g
                    .description
                    .clone()
                    .filter(|d| !d.trim().is_empty())
                    .or_else(|| crate::universe::find_builtin(&key).map(|b| b.name.to_string()))
                    .unwrap_or_else(|| g.name.clone());
                UniverseSummary {
                    key,
                    name,
                    kind: g.kind.clone(),
                    members: g.members,
                    as_of: g.as_of,
                }
            })
            .collect();
        for b in crate::universe::builtin() {
            if find_group(&groups, b.key).is_none() {
                out.push(UniverseSummary {
                    key: b.key.to_string(),
                    name: b.name.to_string(),
                    kind: b.kind.to_string(),
                    members: b.members().len() as i64,
                    as_of: b.as_of(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Members of a universe, sorted, resolved as TickStock resolves a key: a group of this
    /// store's environment by name (exact, then any case, then any spelling of the same
    /// key: [`crate::universe::canonical_key`]), else a built-in universe. On TickStock's
    /// own tables only groups of type UNIVERSE or ETF count (an ETF group such as `SPY` is
    /// that fund's holdings). A colon-joined key (`SPY:nasdaq100`) gives the union. `None`
    /// when a part is unknown.
    pub async fn universe_members(&self, key: &str) -> Result<Option<Vec<String>>, StoreError> {
        let parts = crate::universe::split_raw_keys(key);
        if parts.is_empty() {
            return Ok(None);
        }
        let groups = self.groups().await?;
        let mut all = std::collections::BTreeSet::new();
        for part in parts {
            if let Some(id) = find_group(&groups, &part) {
                let members = match &self.pool {
                    Pool::Postgres(p, _) => postgres::group_members(self, p, id).await?,
                    Pool::Sqlite(p) => sqlite::group_members(self, p, id).await?,
                };
                all.extend(members);
            } else if let Some(b) = crate::universe::find_builtin(&part) {
                all.extend(b.members());
            } else {
                return Ok(None);
            }
        }
        Ok(Some(all.into_iter().collect()))
    }

    /// Creates or replaces a universe and its members in one transaction.
    pub async fn replace_universe(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        as_of: Option<NaiveDate>,
        members: &[String],
    ) -> Result<(), StoreError> {
        if !crate::universe::is_valid_key_syntax(key) {
            return Err(StoreError::invalid(format!(
                "invalid universe key `{key}`: use letters, digits, `_`, `-` or `.`, at most 64 characters"
            )));
        }
        let key = crate::universe::canonical_key(key);
        let kind = match kind.trim() {
            "" => "UNIVERSE".to_string(),
            k => k.to_ascii_uppercase(),
        };
        let mut seen = std::collections::BTreeSet::new();
        for m in members {
            seen.insert(normalise_symbol(m)?);
        }
        let members: Vec<String> = seen.into_iter().collect();
        let def = UniverseDef {
            key,
            name: name.trim().to_string(),
            kind,
            as_of,
        };
        match &self.pool {
            Pool::Postgres(p, schema) => {
                postgres::replace_universe(self, p, schema, &def, &members, true).await
            }
            Pool::Sqlite(p) => sqlite::replace_universe(self, p, &def, &members, true).await,
        }
        .map(|_| ())
    }

    /// Inserts or replaces a job's record. `submitted_at` and `started_at` once set are
    /// kept when a later write leaves them empty, and so is `worker`.
    pub async fn upsert_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        if run.id.trim().is_empty() {
            return Err(StoreError::invalid("a job run needs an id"));
        }
        match &self.pool {
            Pool::Postgres(p, _) => postgres::upsert_job_run(self, p, run).await,
            Pool::Sqlite(p) => sqlite::upsert_job_run(self, p, run).await,
        }
    }

    /// One job's record, if it exists.
    pub async fn job_run(&self, id: &str) -> Result<Option<JobRun>, StoreError> {
        match &self.pool {
            Pool::Postgres(p, _) => postgres::job_run(self, p, id.trim()).await,
            Pool::Sqlite(p) => sqlite::job_run(self, p, id.trim()).await,
        }
    }

    /// A page of job runs matching the filter, newest first (by `submitted_at`).
    pub async fn list_job_runs(&self, filter: &JobRunFilter) -> Result<JobRunPage, StoreError> {
        let f = filter.normalised();
        match &self.pool {
            Pool::Postgres(p, _) => postgres::list_job_runs(self, p, &f).await,
            Pool::Sqlite(p) => sqlite::list_job_runs(self, p, &f).await,
        }
    }

    /// Deletes the job runs (and their checkpoints) whose id starts with `prefix`
    /// (case-insensitive, at least 4 characters). Returns how many runs were deleted.
    pub async fn delete_job_runs_by_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let prefix = prefix.trim().to_lowercase();
        if prefix.chars().count() < MIN_DELETE_PREFIX {
            return Err(StoreError::invalid(format!(
                "job id prefix `{prefix}` is too short: give at least {MIN_DELETE_PREFIX} characters"
            )));
        }
        match &self.pool {
            Pool::Postgres(p, _) => postgres::delete_job_runs_by_prefix(self, p, &prefix).await,
            Pool::Sqlite(p) => sqlite::delete_job_runs_by_prefix(self, p, &prefix).await,
        }
    }

    /// Records that a job finished one (symbol, timeframe) pair with this many rows.
    pub async fn mark_pair_done(
        &self,
        job_id: &str,
        symbol: &str,
        tf: Timeframe,
        rows: u64,
    ) -> Result<(), StoreError> {
        let symbol = normalise_symbol(symbol)?;
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        match &self.pool {
            Pool::Postgres(p, _) => {
                postgres::mark_pair_done(self, p, job_id, &symbol, tf, rows).await
            }
            Pool::Sqlite(p) => sqlite::mark_pair_done(self, p, job_id, &symbol, tf, rows).await,
        }
    }

    /// The pairs a job has finished, by symbol then timeframe.
    pub async fn done_pairs(
        &self,
        job_id: &str,
    ) -> Result<Vec<(String, Timeframe, u64)>, StoreError> {
        let raw = match &self.pool {
            Pool::Postgres(p, _) => postgres::done_pairs(self, p, job_id).await?,
            Pool::Sqlite(p) => sqlite::done_pairs(self, p, job_id).await?,
        };
        let mut out = Vec::with_capacity(raw.len());
        for (symbol, tf, rows) in raw {
            let tf: Timeframe = tf.parse().map_err(|e| StoreError::Query {
                message: format!("{}: job_checkpoints holds {e}", self.target),
                retryable: false,
            })?;
            out.push((symbol, tf, rows.max(0) as u64));
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        Ok(out)
    }

    /// Round-trip time of a trivial query.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = std::time::Instant::now();
        match &self.pool {
            Pool::Postgres(p, _) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
        .map_err(|e| self.err(e))?;
        Ok(started.elapsed())
    }

    /// Closes the pool: waits for connections in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p, _) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }

    async fn groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        match &self.pool {
            Pool::Postgres(p, schema) => postgres::groups(self, p, schema).await,
            Pool::Sqlite(p) => sqlite::groups(self, p).await,
        }
    }
}

/// A universe row with its member count.
#[derive(Debug, Clone)]
pub(crate) struct GroupRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    pub as_of: Option<NaiveDate>,
    pub members: i64,
}

/// What [`Store::replace_universe`] writes besides the members.
#[derive(Debug, Clone)]
pub(crate) struct UniverseDef {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub as_of: Option<NaiveDate>,
}

/// The group a key part names: the exact name first, then the name in any case or
/// spelling (`SP_500` for `sp500`), then the group an alias stands for (`SPY` for `sp500`,
/// where no group is named `SPY`). The groups are those of the store's environment (and
/// types) already. An alias never reaches past a group of its own name: in a TickStock
/// database `SPY` is the SPY fund's holdings, and `sp500` is not that group.
pub(crate) fn find_group(groups: &[GroupRow], key: &str) -> Option<i64> {
    let key = key.trim();
    let normal = crate::universe::normal_form(key);
    let canonical = crate::universe::canonical_key(key);
    groups
        .iter()
        .find(|g| g.name == key)
        .or_else(|| groups.iter().find(|g| g.name.eq_ignore_ascii_case(key)))
        .or_else(|| {
            groups
                .iter()
                .find(|g| crate::universe::normal_form(&g.name) == normal)
        })
        .or_else(|| {
            groups
                .iter()
                .find(|g| crate::universe::normal_form(&g.name) == canonical)
        })
        .map(|g| g.id)
}

/// One bar ready to write: its key and values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// Microseconds since the Unix epoch (1min, hourly) or days since it (dated).
    pub key: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
    /// Polygon's `n` (transactions), when it sent one.
    pub n: Option<i64>,
}

impl Row {
    pub(crate) fn date(&self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.key as i32 + UNIX_EPOCH_DAYS_FROM_CE)
            .unwrap_or_default()
    }

    pub(crate) fn instant(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.key).unwrap_or_default()
    }

    /// The instant as a naive UTC time (TickStock's `TIMESTAMP` columns).
    pub(crate) fn naive_utc(&self) -> chrono::NaiveDateTime {
        self.instant().naive_utc()
    }
}

/// `NaiveDate::from_ymd(1970, 1, 1).num_days_from_ce()`.
pub(crate) const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Checks the bars and turns them into rows sorted by key, the last bar winning for a
/// repeated key.
pub(crate) fn prepare_rows(
    symbol: &str,
    tf: Timeframe,
    bars: &[Bar],
) -> Result<Vec<Row>, StoreError> {
    use chrono::Datelike;
    let mut rows = Vec::with_capacity(bars.len());
    for b in bars {
        if ![b.o, b.h, b.l, b.c, b.v].iter().all(|x| x.is_finite()) {
            return Err(StoreError::invalid(format!(
                "{symbol} {tf} bar at {} has a value that is not a finite number; nothing was written",
                b.time_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        if DateTime::from_timestamp_millis(b.t).is_none() {
            return Err(StoreError::invalid(format!(
                "{symbol} {tf} bar has an out-of-range time {}; nothing was written",
                b.t
            )));
        }
        let key = if tf.is_dated() {
            (b.ny_date().num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE) as i64
        } else {
            b.t.saturating_mul(1000)
        };
        rows.push(Row {
            key,
            o: b.o,
            h: b.h,
            l: b.l,
            c: b.c,
            v: b.v,
            n: b.n.and_then(|n| i64::try_from(n).ok()),
        });
    }
    if !rows.windows(2).all(|w| w[0].key < w[1].key) {
        // Stable sort keeps input order among equal keys; keep the last of each run.
        rows.sort_by_key(|r| r.key);
        let mut out: Vec<Row> = Vec::with_capacity(rows.len());
        for r in rows {
            match out.last_mut() {
                Some(last) if last.key == r.key => *last = r,
                _ => out.push(r),
            }
        }
        rows = out;
    }
    Ok(rows)
}

/// Trims and upper-cases a ticker and checks that the schema can hold it.
pub(crate) fn normalise_symbol(symbol: &str) -> Result<String, StoreError> {
    let s = symbol.trim().to_ascii_uppercase();
    if s.is_empty() {
        return Err(StoreError::invalid("empty symbol"));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(StoreError::invalid(format!(
            "symbol `{}` contains spaces or control characters",
            s.escape_debug()
        )));
    }
    Ok(s)
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

pub(crate) fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The first instant of New York date `d` (its midnight), in UTC.
pub(crate) fn ny_midnight(d: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    chrono_tz::America::New_York
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| d.and_hms_opt(5, 0, 0).expect("05:00").and_utc())
}

pub(crate) fn format_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Position of a timeframe in [`Timeframe::ALL`].
pub(crate) fn tf_index(tf: Timeframe) -> usize {
    Timeframe::ALL.iter().position(|t| *t == tf).unwrap_or(0)
}

/// Column holding a table's row key.
pub(crate) fn time_column(tf: Timeframe) -> &'static str {
    match tf {
        Timeframe::Minute | Timeframe::Hour => "\"timestamp\"",
        Timeframe::Day => "date",
        Timeframe::Week => "week_start",
        Timeframe::Month => "month_start",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, c: f64) -> Bar {
        Bar {
            t,
            o: c,
            h: c,
            l: c,
            c,
            v: 1.0,
            vw: None,
            n: None,
        }
    }

    #[test]
    fn rows_are_sorted_and_the_last_duplicate_wins() {
        let rows = prepare_rows(
            "X",
            Timeframe::Minute,
            &[bar(120_000, 2.0), bar(60_000, 1.0), bar(120_000, 3.0)],
        )
        .unwrap();
        assert_eq!(
            rows.iter().map(|r| r.key).collect::<Vec<_>>(),
            vec![60_000_000, 120_000_000]
        );
        assert_eq!(rows[1].c, 3.0);
    }

    #[test]
    fn dated_rows_use_the_new_york_date() {
        // 2024-03-11 00:00 EDT = 04:00 UTC.
        let rows = prepare_rows("X", Timeframe::Day, &[bar(1_710_129_600_000, 1.0)]).unwrap();
        assert_eq!(
            rows[0].date(),
            NaiveDate::from_ymd_opt(2024, 3, 11).unwrap()
        );
    }

    #[test]
    fn non_finite_values_are_rejected() {
        let mut b = bar(0, 1.0);
        b.h = f64::NAN;
        let err = prepare_rows("AAPL", Timeframe::Day, &[b]).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }));
        assert!(err.to_string().contains("AAPL"), "{err}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert!(!redact_url("postgres://u:sec ret@h/db").contains("sec"));
    }

    #[test]
    fn errors_map_to_core_kinds() {
        let e: Error = StoreError::invalid("bad").into();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e: Error = StoreError::Connect {
            target: "PostgreSQL at h:1/d".into(),
            message: "refused".into(),
        }
        .into();
        assert_eq!(e.kind(), ErrorKind::Database);
        assert!(e.is_retryable());
        assert!(e.message().contains("PostgreSQL at h:1/d"));
    }
}
