//! The job history's SQL (`job_runs`, and the `job_checkpoints` a job resumes from),
//! written once for both databases. What PostgreSQL and SQLite spell differently is the
//! small [`Dialect`]: placeholders, JSON and text casts, a case-insensitive id prefix,
//! "the job names this symbol", how a time is bound and read, "now", how a writing
//! transaction starts and how many rows a statement changed. The upsert's
//! `ON CONFLICT ... DO UPDATE` with `excluded` is the same on both. The `schedules`
//! statements (`schedules.rs`) are written on the same dialect.
//!
//! One rule holds for every write: a row in a final state (completed,
//! completed_with_errors, failed, cancelled) never goes back to a non-final one, so a
//! late progress write or an old poll cannot write "running" over "completed".

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{Database, Pool, Postgres, Row, Sqlite, Transaction};

use super::{
    normalise_symbol, JobRun, JobRunFilter, JobRunPage, Pool as StorePool, Store, StoreError,
};
use tickstock_protocol::timeframe::Timeframe;

mod dialects;
mod page;

/// Shortest job id prefix [`Store::delete_job_runs_by_prefix`] accepts.
pub const MIN_DELETE_PREFIX: usize = 4;

/// Escapes `%`, `_` and `\\` for a `LIKE` pattern with `ESCAPE '\\'`.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Values per `IN (...)` list ([`Dialect::push_in`]): a longer list is run in chunks.
pub(crate) const IN_LIST_CHUNK: usize = 1000;

/// How many columns [`Dialect::select_runs`] reads.
pub(crate) const RUN_COLUMNS: usize = 19;

/// The `job_runs` states that are final, as stored (`JobState::as_str`).
pub(crate) const FINAL_STATES: [&str; 4] =
    ["completed", "completed_with_errors", "failed", "cancelled"];

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Small(i32),
    Bool(bool),
    Time(Option<DateTime<Utc>>),
}

/// A statement being written: its text, with the dialect's placeholders, and its values.
/// Made by [`Dialect::stmt`].
#[derive(Debug)]
pub(crate) struct Stmt {
    sql: String,
    args: Vec<Arg>,
    placeholder: fn(usize) -> String,
}

impl Stmt {
    pub(super) fn push(&mut self, sql: &str) -> &mut Stmt {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `arg` in the dialect's spelling.
    pub(super) fn bind(&mut self, arg: Arg) -> &mut Stmt {
        self.args.push(arg);
        self.sql.push_str(&(self.placeholder)(self.args.len()));
        self
    }

    pub(super) fn text(s: impl Into<String>) -> Arg {
        Arg::Text(Some(s.into()))
    }
}

/// Declares a trait of SQL written once for both databases: [`Dialect`] itself, and the
/// traits of statements built on it. It writes, once, the bounds the shared queries need
/// of a driver (both backends meet them); a trait's `where` clauses are not implied for
/// its users, so each trait on the dialect carries them.
macro_rules! sql_trait {
    ($(#[$meta:meta])* $vis:vis trait $name:ident: $super:path { $($body:tt)* }) => {
        $(#[$meta])*
        $vis trait $name: $super
        where
            for<'c> &'c mut <Self as sqlx::Database>::Connection:
                sqlx::Executor<'c, Database = Self>,
            for<'a> <Self as sqlx::Database>::Arguments<'a>: sqlx::IntoArguments<'a, Self>,
            for<'q> String: sqlx::Encode<'q, Self> + sqlx::Decode<'q, Self> + sqlx::Type<Self>,
            for<'q> Option<String>: sqlx::Encode<'q, Self>,
            for<'q> Option<i64>: sqlx::Encode<'q, Self>,
            for<'q> i32: sqlx::Encode<'q, Self> + sqlx::Decode<'q, Self> + sqlx::Type<Self>,
            for<'q> i64: sqlx::Encode<'q, Self> + sqlx::Decode<'q, Self> + sqlx::Type<Self>,
            for<'q> bool: sqlx::Encode<'q, Self> + sqlx::Decode<'q, Self> + sqlx::Type<Self>,
            for<'q> f64: sqlx::Decode<'q, Self> + sqlx::Type<Self>,
            usize: sqlx::ColumnIndex<<Self as sqlx::Database>::Row>,
        {
            $($body)*
        }
    };
}
pub(crate) use sql_trait;

/// A query on the dialect's arguments.
type DbQuery<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

sql_trait! {
/// What PostgreSQL and SQLite spell differently in the job history's SQL, and the
/// queries written once on top of it.
pub(crate) trait Dialect: Database {
    /// Appended to a bound JSON text so the column takes it (`::jsonb`).
    const JSON_PARAM: &'static str;
    /// Appended to a JSON or non-text column read as text (`::text`).
    const AS_TEXT: &'static str;
    /// The current time as the `job_checkpoints.done_at` column holds it.
    const NOW: &'static str;

    /// Appended to an integer column read as `i64` (`::int8`: TickStock's ids are `INTEGER`).
    const AS_INT8: &'static str;
    /// Taken first by a transaction that replaces a universe, so two writers (two
    /// processes seeding at once) take turns; none where starting to write already does.
    const UNIVERSE_LOCK: Option<&'static str>;

    /// The sort key of [`HistorySort::Submitted`]: never NULL (the epoch for none).
    const SUBMITTED_KEY: &'static str;
    /// The sort key of [`HistorySort::Duration`]: milliseconds, -1 while not finished.
    const DURATION_KEY: &'static str;

    /// The placeholder of the `n`th value (from 1).
    fn placeholder(n: usize) -> String;
    /// A top-level text field of a JSON column.
    fn json_field(column: &str, field: &str) -> String;
    /// A top-level text field of `params`.
    fn param_text(field: &str) -> String {
        Self::json_field("params", field)
    }
    /// `expr` as a value of the column type `ty` (`CAST(.. AS ty)` where the database
    /// needs it; SQLite's column affinity converts a text itself).
    fn cast(expr: &str, ty: &str) -> String;
    /// The bound `arg` as a value of the column type `ty`, as [`Dialect::cast`].
    fn push_cast(stmt: &mut Stmt, arg: Arg, ty: &str);
    /// ` <JSON column> with the fields of the bound JSON object set`.
    fn push_json_merge(stmt: &mut Stmt, column: &str, json: String);
    /// A bar table's time column (or its min or max) as [`super::StoredBar::time`] has it.
    fn bar_time(
        row: &Self::Row,
        index: usize,
        tf: Timeframe,
        shape: super::schema::OhlcvShape,
    ) -> Result<Option<String>, sqlx::Error>;

    /// ` <column> IN (<values>)`.
    fn push_in(s: &mut Stmt, column: &str, values: &[String]) {
        s.push(&format!(" {column} IN ("));
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.bind(Stmt::text(v));
        }
        s.push(")");
    }
    /// ` <lower(id) starts with lower>`, as an index can serve it.
    fn push_id_starts(stmt: &mut Stmt, lower: &str);
    /// ` <one of the job's joined universe keys is lower>`.
    fn push_names_universe_key(stmt: &mut Stmt, lower: &str);
    /// ` <column> starts with <prefix>`, case-insensitive (`prefix` is lower case).
    fn push_prefix(stmt: &mut Stmt, column: &str, prefix: &str);
    /// ` <the job's params.symbols holds symbol>`.
    fn push_names_symbol(stmt: &mut Stmt, symbol: &str);
    /// Binds a time the way the column keeps it.
    fn bind_time(q: DbQuery<'_, Self>, t: Option<DateTime<Utc>>) -> DbQuery<'_, Self>;
    /// Reads a time column.
    fn time(row: &Self::Row, index: usize) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// Starts a transaction that writes.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// A statement starting with `sql`, to which values are bound in this dialect.
    fn stmt(sql: impl Into<String>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: Vec::new(),
            placeholder: Self::placeholder,
        }
    }

    /// The statement as a query with its values bound.
    fn query(stmt: &Stmt) -> DbQuery<'_, Self> {
        let mut q = sqlx::query::<Self>(&stmt.sql);
        for arg in &stmt.args {
            q = match arg.clone() {
                Arg::Text(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
                Arg::OptInt(n) => q.bind(n),
                Arg::Small(n) => q.bind(n),
                Arg::Bool(b) => q.bind(b),
                Arg::Time(t) => Self::bind_time(q, t),
            };
        }
        q
    }

    /// `SELECT <the JobRun columns> FROM job_runs` ([`RUN_COLUMNS`] of them: a query that
    /// reads more puts them after).
    fn select_runs() -> Stmt {
        let text = Self::AS_TEXT;
        Self::stmt(format!(
            "SELECT id, kind, params{text}, status, progress, message, symbols_total, \
             symbols_ok, symbols_failed, bars_loaded, failed_symbols{text}, error, \
             submitted_at, started_at, completed_at, worker, polygon_requests, \
             polygon_requests_estimated, seconds_estimated FROM job_runs"
        ))
    }

    /// ` WHERE ...` for the filter's fields that are set.
    fn push_filter(stmt: &mut Stmt, f: &JobRunFilter) {
        stmt.push(" WHERE 1 = 1");
        if let Some(p) = &f.id_prefix {
            stmt.push(" AND");
            Self::push_prefix(stmt, "id", p);
        }
        if let Some(s) = &f.symbol {
            stmt.push(" AND");
            Self::push_names_symbol(stmt, s);
        }
        if let Some(k) = &f.kind {
            stmt.push(" AND kind = ").bind(Stmt::text(k));
        }
        if let Some(s) = &f.status {
            stmt.push(" AND status = ").bind(Stmt::text(s));
        }
    }

    /// A [`JobRun`] from a row of [`Dialect::select_runs`].
    fn job_from_row(r: &Self::Row) -> Result<JobRun, sqlx::Error> {
        let json = |i: usize| -> Result<serde_json::Value, sqlx::Error> {
            let text: String = r.try_get(i)?;
            serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
                index: i.to_string(),
                source: Box::new(e),
            })
        };
        Ok(JobRun {
            id: r.try_get(0)?,
            kind: r.try_get(1)?,
            params: json(2)?,
            status: r.try_get(3)?,
            progress: r.try_get(4)?,
            message: r.try_get(5)?,
            symbols_total: r.try_get(6)?,
            symbols_ok: r.try_get(7)?,
            symbols_failed: r.try_get(8)?,
            bars_loaded: r.try_get(9)?,
            failed_symbols: json(10)?,
            error: r.try_get(11)?,
            submitted_at: Self::time(r, 12)?,
            started_at: Self::time(r, 13)?,
            completed_at: Self::time(r, 14)?,
            worker: r.try_get(15)?,
            polygon_requests: r.try_get(16)?,
            polygon_requests_estimated: r.try_get(17)?,
            seconds_estimated: r.try_get(18)?,
        })
    }

    /// Inserts or updates a job's row. `submitted_at`, `started_at` and `worker` once set
    /// are kept when a later write leaves them empty; a final row takes only a final write.
    async fn upsert_job_run(pool: &Pool<Self>, run: &JobRun) -> Result<(), sqlx::Error> {
        Self::write_job_run(pool, run, false).await
    }

    /// [`Dialect::upsert_job_run`]; with `reopen`, a final row takes a non-final state
    /// too (a job queued again by the operator).
    async fn write_job_run(
        pool: &Pool<Self>,
        run: &JobRun,
        reopen: bool,
    ) -> Result<(), sqlx::Error> {
        let mut s = Self::stmt(
            "INSERT INTO job_runs (id, kind, params, status, progress, message, symbols_total, \
             symbols_ok, symbols_failed, bars_loaded, failed_symbols, error, submitted_at, \
             started_at, completed_at, worker, polygon_requests, polygon_requests_estimated, \
             seconds_estimated) \
             VALUES (",
        );
        s.bind(Stmt::text(run.id.trim()))
            .push(", ")
            .bind(Stmt::text(&run.kind))
            .push(", ")
            .bind(Stmt::text(run.params.to_string()))
            .push(Self::JSON_PARAM)
            .push(", ")
            .bind(Stmt::text(&run.status))
            .push(", ")
            .bind(Arg::Small(run.progress))
            .push(", ")
            .bind(Arg::Text(run.message.clone()));
        for n in [
            run.symbols_total,
            run.symbols_ok,
            run.symbols_failed,
            run.bars_loaded,
        ] {
            s.push(", ").bind(Arg::Int(n));
        }
        s.push(", ")
            .bind(Stmt::text(run.failed_symbols.to_string()))
            .push(Self::JSON_PARAM)
            .push(", ")
            .bind(Arg::Text(run.error.clone()));
        for t in [run.submitted_at, run.started_at, run.completed_at] {
            s.push(", ").bind(Arg::Time(t));
        }
        s.push(", ").bind(Arg::Text(run.worker.clone()));
        for n in [
            run.polygon_requests,
            run.polygon_requests_estimated,
            run.seconds_estimated,
        ] {
            s.push(", ").bind(Arg::OptInt(n));
        }
        s.push(
            ") ON CONFLICT (id) DO UPDATE SET
                kind = excluded.kind, params = excluded.params, status = excluded.status,
                progress = excluded.progress, message = excluded.message,
                symbols_total = excluded.symbols_total, symbols_ok = excluded.symbols_ok,
                symbols_failed = excluded.symbols_failed, bars_loaded = excluded.bars_loaded,
                failed_symbols = excluded.failed_symbols, error = excluded.error,
                submitted_at = COALESCE(excluded.submitted_at, job_runs.submitted_at),
                started_at = COALESCE(excluded.started_at, job_runs.started_at),
                completed_at = excluded.completed_at,
                worker = COALESCE(excluded.worker, job_runs.worker),
                polygon_requests = COALESCE(excluded.polygon_requests, job_runs.polygon_requests),
                polygon_requests_estimated =
                    COALESCE(excluded.polygon_requests_estimated, job_runs.polygon_requests_estimated),
                seconds_estimated = COALESCE(excluded.seconds_estimated, job_runs.seconds_estimated)",
        );
        // A final row is never moved back to a non-final state (unless reopened).
        if !reopen {
            let finals = FINAL_STATES.map(|s| format!("'{s}'")).join(", ");
            s.push(&format!(
                " WHERE job_runs.status NOT IN ({finals}) OR excluded.status IN ({finals})"
            ));
        }
        Self::query(&s).execute(pool).await.map(|_| ())
    }

    /// One job's row, if it exists.
    async fn job_run(pool: &Pool<Self>, id: &str) -> Result<Option<JobRun>, sqlx::Error> {
        let mut s = Self::select_runs();
        s.push(" WHERE id = ").bind(Stmt::text(id));
        let row = Self::query(&s).fetch_optional(pool).await?;
        row.as_ref().map(Self::job_from_row).transpose()
    }

    /// A page of rows matching `f` (normalised), newest first, and how many match in all.
    async fn list_job_runs(pool: &Pool<Self>, f: &JobRunFilter) -> Result<JobRunPage, sqlx::Error> {
        let mut count = Self::stmt("SELECT count(*) FROM job_runs");
        Self::push_filter(&mut count, f);
        let total: i64 = Self::query(&count).fetch_one(pool).await?.try_get(0)?;
        let mut s = Self::select_runs();
        Self::push_filter(&mut s, f);
        s.push(" ORDER BY submitted_at DESC NULLS LAST, id DESC LIMIT ")
            .bind(Arg::Int(f.limit()))
            .push(" OFFSET ")
            .bind(Arg::Int(f.offset()));
        let rows = Self::query(&s).fetch_all(pool).await?;
        let items = rows
            .iter()
            .map(Self::job_from_row)
            .collect::<Result<_, _>>()?;
        Ok(JobRunPage { items, total })
    }

    /// Deletes the rows (and their checkpoints and logs) whose id starts with `prefix`
    /// (lower case), in one transaction. Returns how many rows were deleted.
    async fn delete_job_runs_by_prefix(
        pool: &Pool<Self>,
        prefix: &str,
    ) -> Result<u64, sqlx::Error> {
        let mut checkpoints = Self::stmt("DELETE FROM job_checkpoints WHERE");
        Self::push_prefix(&mut checkpoints, "job_id", prefix);
        let mut logs = Self::stmt("DELETE FROM job_logs WHERE");
        Self::push_prefix(&mut logs, "job_id", prefix);
        let mut runs = Self::stmt("DELETE FROM job_runs WHERE");
        Self::push_prefix(&mut runs, "id", prefix);
        let mut tx = Self::begin_write(pool).await?;
        Self::query(&checkpoints).execute(&mut *tx).await?;
        Self::query(&logs).execute(&mut *tx).await?;
        let done = Self::query(&runs).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Self::rows_affected(&done))
    }

    /// Records that a job finished a (symbol, timeframe) pair with this many rows.
    async fn mark_pair_done(
        pool: &Pool<Self>,
        job_id: &str,
        symbol: &str,
        tf: Timeframe,
        rows: i64,
    ) -> Result<(), sqlx::Error> {
        let mut s = Self::stmt(
            "INSERT INTO job_checkpoints (job_id, symbol, timeframe, rows, done_at) VALUES (",
        );
        s.bind(Stmt::text(job_id))
            .push(", ")
            .bind(Stmt::text(symbol))
            .push(", ")
            .bind(Stmt::text(tf.wire_name()))
            .push(", ")
            .bind(Arg::Int(rows))
            .push(&format!(
                ", {}) ON CONFLICT (job_id, symbol, timeframe) DO UPDATE \
                 SET rows = excluded.rows, done_at = excluded.done_at",
                Self::NOW
            ));
        Self::query(&s).execute(pool).await.map(|_| ())
    }

    /// Appends lines to a job's log after the lines kept before, in one transaction
    /// (`job_logs` keeps times as RFC 3339 text on both databases).
    async fn append_job_log(
        pool: &Pool<Self>,
        job_id: &str,
        lines: &[crate::joblog::LogLine],
    ) -> Result<(), sqlx::Error> {
        let mut tx = Self::begin_write(pool).await?;
        let mut next = Self::stmt("SELECT COALESCE(MAX(seq) + 1, 0) FROM job_logs WHERE job_id = ");
        next.bind(Stmt::text(job_id));
        let first: i64 = Self::query(&next).fetch_one(&mut *tx).await?.try_get(0)?;
        for (i, l) in lines.iter().enumerate() {
            let mut s =
                Self::stmt("INSERT INTO job_logs (job_id, seq, at, level, message) VALUES (");
            s.bind(Stmt::text(job_id))
                .push(", ")
                .bind(Arg::Int(first + i as i64))
                .push(", ")
                .bind(Stmt::text(l.at.to_rfc3339()))
                .push(", ")
                .bind(Stmt::text(l.level.as_str()))
                .push(", ")
                .bind(Stmt::text(l.message.as_str()))
                .push(")");
            Self::query(&s).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// A job's log lines, oldest first: `(at, level, message)`.
    async fn job_log(
        pool: &Pool<Self>,
        job_id: &str,
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let mut s = Self::stmt("SELECT at, level, message FROM job_logs WHERE job_id = ");
        s.bind(Stmt::text(job_id)).push(" ORDER BY seq");
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Ids of the jobs whose message says `retry_of` = `id`, newest first.
    async fn retries_of(pool: &Pool<Self>, id: &str) -> Result<Vec<String>, sqlx::Error> {
        let mut s = Self::stmt(format!(
            "SELECT id FROM job_runs WHERE {} = ",
            Self::param_text("retry_of")
        ));
        s.bind(Stmt::text(id))
            .push(&format!(" ORDER BY {} DESC", Self::SUBMITTED_KEY));
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// The pairs a job has finished: `(symbol, timeframe, rows)`.
    async fn done_pairs(
        pool: &Pool<Self>,
        job_id: &str,
    ) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        let mut s = Self::stmt(format!(
            "SELECT symbol{}, timeframe, rows FROM job_checkpoints WHERE job_id = ",
            Self::AS_TEXT
        ));
        s.bind(Stmt::text(job_id));
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}
}

/// The job history as [`Store`] methods: each checks its input and runs the one SQL on
/// the store's database.
impl Store {
    /// Inserts or replaces a job's record. `submitted_at` and `started_at` once set are
    /// kept when a later write leaves them empty, and so is `worker`. A record in a final
    /// state (completed, completed_with_errors, failed, cancelled) takes only another
    /// final state: a late progress write or an old poll is ignored.
    pub async fn upsert_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        if run.id.trim().is_empty() {
            return Err(StoreError::invalid("a job run needs an id"));
        }
        // Written again on a lost connection: an upsert, and a final row never goes back,
        // so a job's end is not left "running" by a failover at the wrong moment.
        self.retrying("a job's history row", || async {
            match &self.pool {
                StorePool::Postgres(p, _) => Postgres::upsert_job_run(p, run).await,
                StorePool::Sqlite(p, _) => Sqlite::upsert_job_run(p, run).await,
            }
            .map_err(|e| self.err(e))
        })
        .await
    }

    /// One job's record, if it exists.
    pub async fn job_run(&self, id: &str) -> Result<Option<JobRun>, StoreError> {
        match &self.pool {
            StorePool::Postgres(p, _) => Postgres::job_run(p, id.trim()).await,
            StorePool::Sqlite(p, _) => Sqlite::job_run(p, id.trim()).await,
        }
        .map_err(|e| self.err(e))
    }

    /// A page of job runs matching the filter, newest first (by `submitted_at`).
    pub async fn list_job_runs(&self, filter: &JobRunFilter) -> Result<JobRunPage, StoreError> {
        let f = filter.normalised();
        match &self.pool {
            StorePool::Postgres(p, _) => Postgres::list_job_runs(p, &f).await,
            StorePool::Sqlite(p, _) => Sqlite::list_job_runs(p, &f).await,
        }
        .map_err(|e| self.err(e))
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
            StorePool::Postgres(p, _) => Postgres::delete_job_runs_by_prefix(p, &prefix).await,
            StorePool::Sqlite(p, _) => Sqlite::delete_job_runs_by_prefix(p, &prefix).await,
        }
        .map_err(|e| self.err(e))
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
            StorePool::Postgres(p, _) => {
                Postgres::mark_pair_done(p, job_id, &symbol, tf, rows).await
            }
            StorePool::Sqlite(p, _) => Sqlite::mark_pair_done(p, job_id, &symbol, tf, rows).await,
        }
        .map_err(|e| self.err(e))
    }

    /// The pairs a job has finished, by symbol then timeframe.
    pub async fn done_pairs(
        &self,
        job_id: &str,
    ) -> Result<Vec<(String, Timeframe, u64)>, StoreError> {
        let raw = match &self.pool {
            StorePool::Postgres(p, _) => Postgres::done_pairs(p, job_id).await,
            StorePool::Sqlite(p, _) => Sqlite::done_pairs(p, job_id).await,
        }
        .map_err(|e| self.err(e))?;
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
}
