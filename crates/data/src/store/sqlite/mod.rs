//! The SQLite backend: an embedded file in WAL mode (or an in-memory database). The
//! `symbols` and universe SQL is shared with PostgreSQL (`catalog.rs`).
//!
//! Instants are stored as RFC 3339 UTC text, dates as `YYYY-MM-DD`, JSON as text. Write
//! transactions start with `BEGIN IMMEDIATE` so concurrent writers wait for the lock
//! (busy timeout) instead of failing on a lock upgrade. Bulk writes are prepared multi-row
//! upserts in chunks well below SQLite's 32766 bound-variable limit.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::{format_date, format_instant, time_column, Pool, Row, Store, StoreError, StoreOptions};
use tickstock_protocol::timeframe::Timeframe;

/// Rows per multi-row INSERT of bars (7 variables each).
const BAR_CHUNK: usize = 512;

// Each multi-row statement stays under SQLite's limit of 32766 bound variables.
const _: () = assert!(BAR_CHUNK * 7 < 32766);

pub(super) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Where a `sqlite:` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqliteTarget {
    Memory,
    File(PathBuf),
}

/// Parses `sqlite::memory:`, `sqlite://PATH`, `sqlite:PATH` (query parameters ignored).
pub(crate) fn parse_url(url: &str) -> Result<SqliteTarget, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or_default();
    if rest == ":memory:" || rest.is_empty() && url.contains(":memory:") {
        return Ok(SqliteTarget::Memory);
    }
    if rest.is_empty() {
        return Err(StoreError::invalid(format!(
            "SQLite URL `{url}` names no file: use sqlite://PATH or sqlite::memory:"
        )));
    }
    Ok(SqliteTarget::File(PathBuf::from(rest)))
}

pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let (pool, target) = match parse_url(url)? {
        SqliteTarget::Memory => {
            let target = "SQLite in memory".to_string();
            let opts = SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(|e| StoreError::invalid(e.to_string()))?
                .foreign_keys(true);
            // Every connection would get its own empty database: keep exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(options.acquire_timeout)
                .after_release(|conn, _| Box::pin(super::sqlite_reset::settle_transaction(conn)))
                .connect_with(opts)
                .await
                .map_err(|e| connect_error(e, &target))?;
            (pool, target)
        }
        SqliteTarget::File(path) => {
            let path = std::path::absolute(&path).unwrap_or(path);
            let target = format!("SQLite at {}", path.display());
            // A command that only reads a named database makes no folders: a typo is said.
            if !options.create_folders {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    if !dir.is_dir() {
                        return Err(StoreError::Connect {
                            target: target.clone(),
                            message: format!(
                                "there is no folder {}: check the database URL (a command that only reads creates nothing)",
                                dir.display()
                            ),
                        });
                    }
                }
            }
            create_parent(&path, &target)?;
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let opts = match options.sqlite_max_pages {
                Some(pages) => opts.pragma("max_page_count", pages.to_string()),
                None => opts,
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                .after_release(|conn, _| Box::pin(super::sqlite_reset::settle_transaction(conn)))
                .connect_with(opts)
                .await
                .map_err(|e| connect_error(e, &target))?;
            (pool, target)
        }
    };
    let mut store = Store {
        pool: Pool::Sqlite(pool, Arc::default()),
        target: Arc::from(target.as_str()),
        secret: None,
        environment: Arc::from(super::normalise_environment(&options.environment)?.as_str()),
        read_only_schema: false,
    };
    // Without migrations (read-only commands) a file that has our tables is used as it
    // is; a new or empty one still gets them, as there is nothing to read otherwise.
    let has_tables = !options.migrate && {
        let Pool::Sqlite(p, _) = &store.pool else {
            unreachable!()
        };
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(p)
        .await
        .map(|n| n > 0)
        .unwrap_or(false)
    };
    if has_tables {
        store.read_only_schema = true;
    } else {
        store.migrate().await?;
    }
    if let Pool::Sqlite(p, _) = &store.pool {
        let schema = super::schema::read_sqlite(&store, p).await?;
        store.pool = Pool::Sqlite(p.clone(), Arc::new(schema));
    }
    Ok(store)
}

fn create_parent(path: &Path, target: &str) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Connect {
                target: target.to_string(),
                message: format!("cannot create folder {}: {e}", dir.display()),
            }),
        _ => Ok(()),
    }
}

fn connect_error(e: sqlx::Error, target: &str) -> StoreError {
    let message = match StoreError::from_sqlx(e, target, None) {
        StoreError::Connect { message, .. } => message,
        StoreError::Query { message, .. } => message
            .strip_prefix(&format!("{target}: "))
            .map(str::to_string)
            .unwrap_or(message),
        other => other.to_string(),
    };
    StoreError::Connect {
        target: target.to_string(),
        message,
    }
}

pub(super) fn parse_stamp(
    s: Option<String>,
    index: usize,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    s.filter(|s| !s.is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| sqlx::Error::ColumnDecode {
                    index: index.to_string(),
                    source: Box::new(e),
                })
        })
        .transpose()
}

fn bars_insert_sql(tf: Timeframe, n: usize) -> String {
    let (table, col) = (tf.table(), time_column(tf));
    let mut sql =
        format!("INSERT INTO {table} (symbol, {col}, open, high, low, close, volume) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?)");
    }
    sql.push_str(&format!(
        " ON CONFLICT (symbol, {col}) DO UPDATE SET open = excluded.open, high = excluded.high, \
         low = excluded.low, close = excluded.close, volume = excluded.volume \
         WHERE {table}.open IS NOT excluded.open OR {table}.high IS NOT excluded.high \
            OR {table}.low IS NOT excluded.low OR {table}.close IS NOT excluded.close \
            OR {table}.volume IS NOT excluded.volume"
    ));
    sql
}

pub(super) async fn write_bars(
    store: &Store,
    pool: &SqlitePool,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<u64, StoreError> {
    async fn run(
        pool: &SqlitePool,
        symbol: &str,
        tf: Timeframe,
        rows: &[Row],
    ) -> Result<u64, sqlx::Error> {
        let full_sql = bars_insert_sql(tf, BAR_CHUNK);
        let mut tx = pool.begin_with(BEGIN_WRITE).await?;
        let mut written = 0;
        for chunk in rows.chunks(BAR_CHUNK) {
            let tail_sql;
            let sql = if chunk.len() == BAR_CHUNK {
                full_sql.as_str()
            } else {
                tail_sql = bars_insert_sql(tf, chunk.len());
                tail_sql.as_str()
            };
            let mut q = sqlx::query(sql);
            for r in chunk {
                let key = if tf.is_dated() {
                    format_date(r.date())
                } else {
                    format_instant(r.instant())
                };
                q = q
                    .bind(symbol)
                    .bind(key)
                    .bind(r.o)
                    .bind(r.h)
                    .bind(r.l)
                    .bind(r.c)
                    .bind(r.v);
            }
            written += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }
    run(pool, symbol, tf, rows).await.map_err(|e| store.err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_urls() {
        assert_eq!(parse_url("sqlite::memory:").unwrap(), SqliteTarget::Memory);
        assert_eq!(
            parse_url("sqlite:///var/lib/ts.db").unwrap(),
            SqliteTarget::File("/var/lib/ts.db".into())
        );
        assert_eq!(
            parse_url("sqlite://data/ts.db?mode=rwc").unwrap(),
            SqliteTarget::File("data/ts.db".into())
        );
        assert_eq!(
            parse_url("sqlite:ts.db").unwrap(),
            SqliteTarget::File("ts.db".into())
        );
        assert!(parse_url("sqlite://").is_err());
    }

    #[test]
    fn bar_statements_have_one_tuple_per_row() {
        assert_eq!(
            bars_insert_sql(Timeframe::Day, 3)
                .matches("(?,?,?,?,?,?,?)")
                .count(),
            3
        );
    }
}
