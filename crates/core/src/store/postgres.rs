//! The PostgreSQL backend.
//!
//! Bulk writes stream rows with `COPY`. When none of the incoming keys is stored yet (a
//! fresh load) rows go straight into the target table: in binary when the table has our
//! column types, in text when it has TickStock's (`DECIMAL(12,4)`, `BIGINT` volume, naive
//! `TIMESTAMP`, `transactions`), so the server rounds to the column's precision. Otherwise
//! they go into a session temp table (`ON COMMIT DELETE ROWS`) that one
//! `INSERT .. SELECT .. ON CONFLICT DO UPDATE` merges into the target, skipping rows whose
//! values are unchanged. Either way one transaction. Sessions run in UTC, and naive
//! timestamps are always bound and read as UTC.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row as _};

use super::pg_schema::{self, OhlcvShape, PgSchema};
use super::{
    format_date, format_instant, redact_url, time_column, GroupRow, Pool, Row, Store, StoreError,
    StoreOptions, StoredBar, SymbolRecord, TableCoverage, UniverseDef,
};
use crate::timeframe::Timeframe;

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_UNIX_DAYS: i64 = 10_957;

pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let parsed = url::Url::parse(url).ok();
    let secret = parsed
        .as_ref()
        .and_then(|u| u.password().map(str::to_string));
    // A URL without a database would use one named after the OS user (and create our
    // tables there): the database must be named.
    let names_db = parsed.as_ref().is_some_and(|u| {
        !u.path().trim_matches('/').is_empty() || u.query_pairs().any(|(k, _)| k == "dbname")
    });
    if !names_db {
        return Err(StoreError::invalid(format!(
            "the PostgreSQL URL `{}` names no database: add /DBNAME (postgres://user@host:5432/tickstock)",
            redact_url(url)
        )));
    }
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| {
            let mut msg = e.to_string();
            if let Some(p) = secret.as_deref().filter(|p| !p.is_empty()) {
                msg = msg.replace(p, "***");
            }
            StoreError::invalid(format!(
                "invalid PostgreSQL URL `{}`: {msg}",
                redact_url(url)
            ))
        })?
        // `CREATE TEMP TABLE IF NOT EXISTS` would otherwise log a notice on every write.
        .options([("client_min_messages", "warning"), ("TimeZone", "UTC")])
        .application_name("tickstock");
    let target = describe(&opts);

    // One direct attempt first: the pool would retry a refused connection until its
    // timeout and then report only that it timed out.
    let attempt = tokio::time::timeout(options.connect_timeout, PgConnection::connect_with(&opts));
    match attempt.await {
        Err(_) => {
            return Err(StoreError::Connect {
                target,
                message: format!(
                    "no answer within {} s",
                    options.connect_timeout.as_secs_f64()
                ),
            })
        }
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(e)) => {
            let message = match StoreError::from_sqlx(e, &target, secret.as_deref()) {
                StoreError::Connect { message, .. } => message,
                StoreError::Query { message, .. } => message
                    .strip_prefix(&format!("{target}: "))
                    .map(str::to_string)
                    .unwrap_or(message),
                other => other.to_string(),
            };
            return Err(StoreError::Connect { target, message });
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(opts);
    let mut store = Store {
        pool: Pool::Postgres(pool.clone(), Arc::default()),
        target: Arc::from(target.as_str()),
        secret: secret.map(|s| Arc::from(s.as_str())),
        environment: Arc::from(super::normalise_environment(&options.environment)?.as_str()),
        read_only_schema: false,
    };
    if !options.migrate {
        store.read_only_schema = true;
    } else if let Err(e) = store.migrate().await {
        // A role that may read (and perhaps write bars) but not create tables still loads
        // and reads what exists.
        if may_create(&pool).await == Some(false) {
            tracing::warn!(target = %store.target, "no privilege to update the schema; using the tables as they are: {e}");
            store.read_only_schema = true;
        } else {
            return Err(e);
        }
    }
    let schema = pg_schema::read(&store, &pool).await?;
    store.pool = Pool::Postgres(pool, Arc::new(schema));
    Ok(store)
}

/// Whether this role may create tables in its schema (`None` when that cannot be told).
async fn may_create(pool: &PgPool) -> Option<bool> {
    sqlx::query_scalar("SELECT has_schema_privilege(current_schema(), 'CREATE')")
        .fetch_one(pool)
        .await
        .ok()
}

/// Checksum of the first schema file as released before it stopped altering existing
/// (TickStock's) tables. Its statements were idempotent, so a database that applied it
/// is in the state the rewritten file gives, and the record is brought up to date.
const INIT_V1_SHA384: &str = "876272660a80e81a205659040baf667eee8ab78f9aff78b69a4371362ed31e6ecb67594600549ecdfd97697cbe0b3603";

pub(super) async fn accept_rewritten_init(store: &Store, pool: &PgPool) -> Result<(), StoreError> {
    let migrator = sqlx::migrate!("./migrations/postgres");
    let Some(init) = migrator.iter().find(|m| m.version == 20250701000001) else {
        return Ok(());
    };
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(|e| store.err(e))?;
    if !exists {
        return Ok(());
    }
    let old: Vec<u8> = (0..INIT_V1_SHA384.len() / 2)
        .map(|i| u8::from_str_radix(&INIT_V1_SHA384[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let r = sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3",
    )
    .bind(init.checksum.as_ref())
    .bind(init.version)
    .bind(&old)
    .execute(pool)
    .await;
    match r {
        Ok(done) if done.rows_affected() > 0 => {
            tracing::info!(target = %store.target, "schema record of the first migration updated to its current form");
            Ok(())
        }
        Ok(_) => Ok(()),
        // A role without UPDATE on the record: the migration run reports what it finds.
        Err(e) => {
            tracing::debug!("schema record not updated: {e}");
            Ok(())
        }
    }
}

fn describe(opts: &PgConnectOptions) -> String {
    let db = opts.get_database().unwrap_or(opts.get_username());
    match opts.get_socket() {
        Some(dir) => format!("PostgreSQL at {}:{}/{db}", dir.display(), opts.get_port()),
        None => format!("PostgreSQL at {}:{}/{db}", opts.get_host(), opts.get_port()),
    }
}

fn temp_table(tf: Timeframe, shape: OhlcvShape) -> &'static str {
    if tf.is_dated() {
        "tickstock_bars_dated"
    } else if shape.naive_time {
        "tickstock_bars_naive"
    } else {
        "tickstock_bars_instant"
    }
}

/// Binary COPY stream of `rows`, with the symbol as first column when `symbol` is given and
/// Polygon's `n` as last column when `with_n` is set.
fn encode_copy(rows: &[Row], symbol: Option<&str>, dated: bool, with_n: bool) -> Vec<u8> {
    let per_row = 2 + symbol.map_or(0, |s| 4 + s.len()) + (4 + 8) * 7;
    let mut buf = Vec::with_capacity(19 + rows.len() * per_row + 2);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
    let ncols: i16 = 6 + i16::from(symbol.is_some()) + i16::from(with_n);
    for r in rows {
        buf.extend_from_slice(&ncols.to_be_bytes());
        if let Some(s) = symbol {
            buf.extend_from_slice(&(s.len() as i32).to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        if dated {
            buf.extend_from_slice(&4i32.to_be_bytes());
            buf.extend_from_slice(&((r.key - PG_EPOCH_UNIX_DAYS) as i32).to_be_bytes());
        } else {
            // `timestamptz` and `timestamp` share this encoding: microseconds since
            // 2000-01-01 (UTC for a naive column).
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&(r.key - PG_EPOCH_UNIX_SECS * 1_000_000).to_be_bytes());
        }
        for v in [r.o, r.h, r.l, r.c, r.v] {
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&v.to_be_bytes());
        }
        if with_n {
            match r.n {
                Some(n) => {
                    buf.extend_from_slice(&8i32.to_be_bytes());
                    buf.extend_from_slice(&n.to_be_bytes());
                }
                None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    buf
}

/// Text COPY stream of `rows` for a table with TickStock's column types: the server
/// parses each value into the column's type (rounding prices to its scale); an integer
/// volume is rounded to whole shares here.
fn encode_copy_text(rows: &[Row], symbol: &str, tf: Timeframe, shape: OhlcvShape) -> Vec<u8> {
    use std::io::Write as _;
    let symbol = symbol.replace('\\', "\\\\");
    let mut buf = Vec::with_capacity(rows.len() * 96);
    for r in rows {
        let _ = write!(buf, "{symbol}\t");
        if tf.is_dated() {
            let _ = write!(buf, "{}", r.date().format("%Y-%m-%d"));
        } else if shape.naive_time {
            let _ = write!(buf, "{}", r.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f"));
        } else {
            let _ = write!(buf, "{}+00", r.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f"));
        }
        let _ = write!(buf, "\t{}\t{}\t{}\t{}\t", r.o, r.h, r.l, r.c);
        if shape.integer_volume {
            let _ = write!(buf, "{}", r.v.round() as i64);
        } else {
            let _ = write!(buf, "{}", r.v);
        }
        if shape.transactions {
            match r.n {
                Some(n) => {
                    let _ = write!(buf, "\t{n}");
                }
                None => buf.extend_from_slice(b"\t\\N"),
            }
        }
        buf.push(b'\n');
    }
    buf
}

async fn copy_in(
    conn: &mut PgConnection,
    statement: &str,
    data: Vec<u8>,
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(data).await {
        let _ = copy.abort("send failed").await;
        return Err(e);
    }
    copy.finish().await
}

fn bind_key<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    row: &Row,
    tf: Timeframe,
    shape: OhlcvShape,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    if tf.is_dated() {
        q.bind(row.date())
    } else if shape.naive_time {
        q.bind(row.naive_utc())
    } else {
        q.bind(row.instant())
    }
}

/// The columns a write fills: TickStock's `transactions` when the table has it.
fn value_columns(shape: OhlcvShape) -> &'static str {
    if shape.transactions {
        "open, high, low, close, volume, transactions"
    } else {
        "open, high, low, close, volume"
    }
}

pub(super) async fn write_bars(
    store: &Store,
    pool: &PgPool,
    shape: OhlcvShape,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<u64, StoreError> {
    match write_fresh(pool, shape, symbol, tf, rows).await {
        Ok(Some(n)) => return Ok(n),
        Ok(None) => {}
        // Someone stored some of these keys between the check and the COPY.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
        Err(e) => return Err(store.err(e)),
    }
    write_merge(pool, shape, symbol, tf, rows)
        .await
        .map_err(|e| store.err(e))
}

/// COPY straight into the table when none of the keys is stored yet; `None` otherwise.
async fn write_fresh(
    pool: &PgPool,
    shape: OhlcvShape,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<Option<u64>, sqlx::Error> {
    let (table, col) = (tf.table(), time_column(tf));
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    // Checked on the pool, outside the transaction: a writer that stores one of these keys
    // meanwhile makes the COPY fail on the unique key (23505), and the caller merges.
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE symbol = $1 AND {col} BETWEEN $2 AND $3)"
    );
    let q = sqlx::query(&sql).bind(symbol);
    let q = bind_key(bind_key(q, first, tf, shape), last, tf, shape);
    let overlap: bool = q.fetch_one(pool).await?.try_get(0)?;
    if overlap {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    let n = if shape.binary {
        copy_in(
            &mut tx,
            &format!(
                "COPY {table} (symbol, {col}, open, high, low, close, volume) FROM STDIN (FORMAT binary)"
            ),
            encode_copy(rows, Some(symbol), tf.is_dated(), false),
        )
        .await?
    } else {
        copy_in(
            &mut tx,
            &format!(
                "COPY {table} (symbol, {col}, {}) FROM STDIN",
                value_columns(shape)
            ),
            encode_copy_text(rows, symbol, tf, shape),
        )
        .await?
    };
    tx.commit().await?;
    Ok(Some(n))
}

/// COPY into the session temp table, then one merging upsert. The temp table's key has
/// the target's type, so no zone conversion happens; prices and volume are cast to the
/// target's types by the insert (rounding to its precision).
async fn write_merge(
    pool: &PgPool,
    shape: OhlcvShape,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<u64, sqlx::Error> {
    let (table, col, dated) = (tf.table(), time_column(tf), tf.is_dated());
    let tmp = temp_table(tf, shape);
    let key_type = if dated {
        "date"
    } else if shape.naive_time {
        "timestamp"
    } else {
        "timestamptz"
    };
    let mut tx = pool.begin().await?;
    let create = format!(
        "CREATE TEMP TABLE IF NOT EXISTS {tmp} (k {key_type} NOT NULL, open float8 NOT NULL, high float8 NOT NULL, low float8 NOT NULL, close float8 NOT NULL, volume float8 NOT NULL, n int8) ON COMMIT DELETE ROWS"
    );
    // `query`, not `raw_sql`: RawSql::execute's bounds defeat Send inference upstream.
    sqlx::query(&create).execute(&mut *tx).await?;
    copy_in(
        &mut tx,
        &format!("COPY {tmp} (k, open, high, low, close, volume, n) FROM STDIN (FORMAT binary)"),
        encode_copy(rows, None, dated, true),
    )
    .await?;
    let (select_n, set_n, cmp_n) = if shape.transactions {
        (
            ", n",
            ", transactions = COALESCE(EXCLUDED.transactions, t.transactions)",
            ", COALESCE(EXCLUDED.transactions, t.transactions)",
        )
    } else {
        ("", "", "")
    };
    let t_n = if shape.transactions {
        ", t.transactions"
    } else {
        ""
    };
    let volume = if shape.integer_volume {
        "round(volume)"
    } else {
        "volume"
    };
    let written = sqlx::query(&format!(
        "INSERT INTO {table} AS t (symbol, {col}, {cols})
         SELECT $1, k, open, high, low, close, {volume}{select_n} FROM {tmp}
         ON CONFLICT (symbol, {col}) DO UPDATE
            SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
                close = EXCLUDED.close, volume = EXCLUDED.volume{set_n}
          WHERE (t.open, t.high, t.low, t.close, t.volume{t_n})
                IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume{cmp_n})",
        cols = value_columns(shape)
    ))
    .bind(symbol)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(written)
}

/// A time column read as UTC whatever its type.
fn decode_time(
    r: &PgRow,
    i: usize,
    tf: Timeframe,
    shape: OhlcvShape,
) -> Result<Option<String>, sqlx::Error> {
    Ok(if tf.is_dated() {
        r.try_get::<Option<NaiveDate>, _>(i)?.map(format_date)
    } else if shape.naive_time {
        r.try_get::<Option<NaiveDateTime>, _>(i)?
            .map(|t| format_instant(t.and_utc()))
    } else {
        r.try_get::<Option<DateTime<Utc>>, _>(i)?
            .map(format_instant)
    })
}

pub(super) async fn read_bars(
    store: &Store,
    pool: &PgPool,
    shape: OhlcvShape,
    symbol: &str,
    tf: Timeframe,
) -> Result<Vec<StoredBar>, StoreError> {
    let (table, col) = (tf.table(), time_column(tf));
    let rows = sqlx::query(&format!(
        "SELECT {col}, open::float8, high::float8, low::float8, close::float8, volume::float8
           FROM {table} WHERE symbol = $1 ORDER BY {col}"
    ))
    .bind(symbol)
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| {
            Ok(StoredBar {
                symbol: symbol.to_string(),
                time: decode_time(r, 0, tf, shape)?.unwrap_or_default(),
                open: r.try_get(1)?,
                high: r.try_get(2)?,
                low: r.try_get(3)?,
                close: r.try_get(4)?,
                volume: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

pub(super) async fn symbol_spans(
    store: &Store,
    pool: &PgPool,
    shape: OhlcvShape,
    tf: Timeframe,
    symbols: Option<&[String]>,
) -> Result<Vec<super::SymbolSpan>, StoreError> {
    let (table, col) = (tf.table(), time_column(tf));
    let filter = if symbols.is_some() {
        "WHERE symbol = ANY($1)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT symbol::text, min({col}), max({col}), count(*) FROM {table} {filter} GROUP BY symbol"
    );
    let mut q = sqlx::query(&sql);
    if let Some(list) = symbols {
        q = q.bind(list);
    }
    let rows = q.fetch_all(pool).await.map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| {
            Ok(super::SymbolSpan {
                symbol: r.try_get(0)?,
                timeframe: tf,
                first: decode_time(r, 1, tf, shape)?.unwrap_or_default(),
                last: decode_time(r, 2, tf, shape)?.unwrap_or_default(),
                bars: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

pub(super) async fn bar_keys(
    store: &Store,
    pool: &PgPool,
    shape: OhlcvShape,
    symbol: &str,
    tf: Timeframe,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<String>, StoreError> {
    let (table, col) = (tf.table(), time_column(tf));
    let sql = format!(
        "SELECT {col} FROM {table} WHERE symbol = $1 AND {col} >= $2 AND {col} < $3 ORDER BY {col}"
    );
    let end = to.succ_opt().unwrap_or(to);
    let q = sqlx::query(&sql).bind(symbol);
    let q = if tf.is_dated() {
        q.bind(from).bind(end)
    } else {
        let (a, b) = (super::ny_midnight(from), super::ny_midnight(end));
        if shape.naive_time {
            q.bind(a.naive_utc()).bind(b.naive_utc())
        } else {
            q.bind(a).bind(b)
        }
    };
    let rows = q.fetch_all(pool).await.map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| Ok(decode_time(r, 0, tf, shape)?.unwrap_or_default()))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

pub(super) async fn coverage(
    store: &Store,
    pool: &PgPool,
    shape: OhlcvShape,
    tf: Timeframe,
) -> Result<TableCoverage, StoreError> {
    let (table, col) = (tf.table(), time_column(tf));
    let r = sqlx::query(&format!(
        "SELECT count(*), count(DISTINCT symbol), min({col}), max({col}) FROM {table}"
    ))
    .fetch_one(pool)
    .await
    .map_err(|e| store.err(e))?;
    Ok(TableCoverage {
        table: table.to_string(),
        timeframe: tf,
        rows: r.try_get(0).map_err(|e| store.err(e))?,
        symbols: r.try_get(1).map_err(|e| store.err(e))?,
        earliest: decode_time(&r, 2, tf, shape).map_err(|e| store.err(e))?,
        latest: decode_time(&r, 3, tf, shape).map_err(|e| store.err(e))?,
    })
}

/// One logical field of a symbol record and the columns it may land in.
struct SymbolField {
    /// Candidate columns, in this app's schema and in TickStock's.
    columns: &'static [&'static str],
    values: Vec<Option<String>>,
}

/// The columns of `symbols` that hold when the row was refreshed from ticker details, and
/// Polygon's own update time: TickStock names them `last_updated` and `last_updated_utc`,
/// this app `refreshed_at` and `last_updated`.
fn refresh_columns(schema: &PgSchema) -> (&'static [&'static str], &'static [&'static str]) {
    if schema.symbols_tickstock() {
        (&["last_updated"], &["last_updated_utc"])
    } else {
        (&["refreshed_at"], &["last_updated"])
    }
}

fn field(columns: &'static [&'static str], values: Vec<Option<String>>) -> SymbolField {
    SymbolField { columns, values }
}

/// Inserts or updates `symbols` rows in whichever of the known columns the table has,
/// each value cast to its column's type and cut to its length; `NULL` keeps what is stored.
pub(super) async fn upsert_symbols(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    recs: &[SymbolRecord],
) -> Result<u64, StoreError> {
    let text = |f: &dyn Fn(&SymbolRecord) -> Option<String>| recs.iter().map(f).collect::<Vec<_>>();
    let stamp = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let (refreshed, polygon_updated) = refresh_columns(schema);
    let fields = [
        field(&["name"], text(&|r| nonempty(&r.name))),
        field(&["market"], text(&|r| nonempty(&r.market))),
        field(
            &["exchange", "primary_exchange"],
            text(&|r| nonempty(&r.exchange)),
        ),
        field(&["type"], text(&|r| nonempty(&r.type_))),
        field(&["active"], text(&|r| Some(r.active.to_string()))),
        field(&["locale"], text(&|r| r.locale.clone())),
        field(
            &["currency", "currency_name"],
            text(&|r| r.currency.clone()),
        ),
        field(&["cik"], text(&|r| r.cik.clone())),
        field(&["composite_figi"], text(&|r| r.composite_figi.clone())),
        field(&["share_class_figi"], text(&|r| r.share_class_figi.clone())),
        field(polygon_updated, text(&|r| stamp(r.last_updated))),
        field(
            &["market_cap"],
            text(&|r| r.market_cap.map(|v| v.to_string())),
        ),
        field(
            &["weighted_shares_outstanding"],
            text(&|r| r.weighted_shares_outstanding.map(|v| v.to_string())),
        ),
        field(&["sic_code"], text(&|r| r.sic_code.clone())),
        field(&["sic_description"], text(&|r| r.sic_description.clone())),
        field(&["sector"], text(&|r| r.sector.clone())),
        field(&["industry"], text(&|r| r.industry.clone())),
        field(&["list_date"], text(&|r| r.list_date.map(format_date))),
        field(
            &["total_employees"],
            text(&|r| r.total_employees.map(|v| v.to_string())),
        ),
        field(refreshed, text(&|r| stamp(r.refreshed_at))),
        field(
            &["sic_updated_at"],
            text(&|r| stamp(r.refreshed_at.filter(|_| r.sic_code.is_some()))),
        ),
    ];
    let mut columns = String::from("symbol");
    let mut select = String::from("u.c0");
    let mut set = Vec::new();
    let mut arrays: Vec<Vec<Option<String>>> =
        vec![recs.iter().map(|r| Some(r.symbol.clone())).collect()];
    for f in &fields {
        for col in f.columns {
            let Some(info) = schema.symbols.get(*col) else {
                continue;
            };
            let integer = matches!(info.data_type.as_str(), "bigint" | "integer" | "smallint");
            let values = f
                .values
                .iter()
                .map(|v| {
                    v.as_ref().map(|v| {
                        let v = match v.parse::<f64>() {
                            Ok(x) if integer => (x.round() as i64).to_string(),
                            _ => v.clone(),
                        };
                        match info.max_len {
                            Some(n) if v.chars().count() > n => v.chars().take(n).collect(),
                            _ => v,
                        }
                    })
                })
                .collect();
            let i = arrays.len();
            arrays.push(values);
            columns.push_str(&format!(", \"{col}\""));
            select.push_str(&format!(", CAST(u.c{i} AS {})", info.data_type));
            set.push(format!(
                "\"{col}\" = COALESCE(EXCLUDED.\"{col}\", symbols.\"{col}\")"
            ));
        }
    }
    let names: Vec<String> = (0..arrays.len()).map(|i| format!("c{i}")).collect();
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "INSERT INTO symbols ({columns}) SELECT {select} FROM UNNEST("
    ));
    for (i, a) in arrays.into_iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push_bind(a).push("::text[]");
    }
    qb.push(format!(
        ") AS u ({}) ON CONFLICT (symbol) DO ",
        names.join(", ")
    ));
    if set.is_empty() {
        qb.push("NOTHING");
    } else {
        qb.push(format!("UPDATE SET {}", set.join(", ")));
    }
    qb.build()
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| store.err(e))
}

pub(super) async fn fresh_symbols(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    symbols: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let (refreshed, _) = refresh_columns(schema);
    let Some(col) = refreshed.iter().find(|c| schema.symbols.contains_key(**c)) else {
        return Ok(Vec::new());
    };
    // A naive column holds UTC and sessions run in UTC, so the comparison is in UTC.
    sqlx::query_scalar(&format!(
        "SELECT symbol::text FROM symbols WHERE symbol = ANY($1) AND \"{col}\" >= $2"
    ))
    .bind(symbols)
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))
}

pub(super) async fn groups(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
) -> Result<Vec<GroupRow>, StoreError> {
    let as_of = if schema.groups_as_of {
        "g.as_of"
    } else if schema.groups_tickstock {
        r"CASE WHEN g.metadata->>'as_of' ~ '^\d{4}-\d{2}-\d{2}$' THEN (g.metadata->>'as_of')::date END"
    } else {
        "NULL::date"
    };
    let mut filter = String::from("TRUE");
    if schema.groups_environment {
        filter.push_str(" AND g.environment = $1");
    }
    if schema.groups_tickstock {
        filter.push_str(" AND g.type IN ('UNIVERSE', 'ETF')");
    }
    let sql = format!(
        "SELECT g.id::int8, g.name::text, g.type::text, g.description::text, {as_of},
                (SELECT count(*) FROM group_memberships m WHERE m.group_id = g.id)
           FROM definition_groups g WHERE {filter} ORDER BY g.id"
    );
    let mut q = sqlx::query(&sql);
    if schema.groups_environment {
        q = q.bind(store.environment());
    }
    let rows = q.fetch_all(pool).await.map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| {
            Ok(GroupRow {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                description: r.try_get(3)?,
                as_of: r.try_get(4)?,
                members: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

pub(super) async fn group_members(
    store: &Store,
    pool: &PgPool,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT symbol::text FROM group_memberships WHERE group_id = $1 ORDER BY symbol",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))
}

/// Writes a universe of the store's environment in one transaction, in a form the table's
/// constraints accept (TickStock's: `environment`, a type from its list, the as-of date in
/// `metadata`). With `replace == false` an existing universe is left alone (seeding).
/// Returns whether anything was written.
pub(super) async fn replace_universe(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    def: &UniverseDef,
    members: &[String],
    replace: bool,
) -> Result<bool, StoreError> {
    let env = store.environment().to_string();
    let run = async {
        let mut tx = pool.begin().await?;
        // Serialises universe writers (two processes seeding at once).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tickstock.definition_groups'))")
            .execute(&mut *tx)
            .await?;
        let existing: Vec<(i64, String)> = if schema.groups_environment {
            sqlx::query_as(
                "SELECT id::int8, name::text FROM definition_groups WHERE environment = $1 ORDER BY id",
            )
            .bind(&env)
            .fetch_all(&mut *tx)
            .await?
        } else {
            sqlx::query_as("SELECT id::int8, name::text FROM definition_groups ORDER BY id")
                .fetch_all(&mut *tx)
                .await?
        };
        let rows: Vec<GroupRow> = existing
            .into_iter()
            .map(|(id, name)| GroupRow {
                id,
                name,
                kind: String::new(),
                description: None,
                as_of: None,
                members: 0,
            })
            .collect();
        let as_of_json = serde_json::json!({
            "as_of": def.as_of.map(format_date),
            "source": "tickstock-admin",
        })
        .to_string();
        let id = match super::find_group(&rows, &def.key) {
            Some(_) if !replace => return Ok(false),
            Some(id) => {
                let mut qb = QueryBuilder::<Postgres>::new("UPDATE definition_groups SET type = ");
                qb.push_bind(&def.kind)
                    .push(", description = ")
                    .push_bind(&def.name)
                    .push(", updated_at = now()");
                if schema.groups_as_of {
                    qb.push(", as_of = ").push_bind(def.as_of);
                } else if schema.groups_tickstock {
                    qb.push(", metadata = COALESCE(metadata, '{}'::jsonb) || ")
                        .push_bind(&as_of_json)
                        .push("::jsonb");
                }
                qb.push(" WHERE id = ").push_bind(id);
                qb.build().execute(&mut *tx).await?;
                sqlx::query("DELETE FROM group_memberships WHERE group_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                let mut cols = String::from("name, type, description");
                if schema.groups_as_of {
                    cols.push_str(", as_of");
                }
                if schema.groups_tickstock {
                    cols.push_str(", metadata");
                }
                if schema.groups_environment {
                    cols.push_str(", environment");
                }
                let mut qb = QueryBuilder::<Postgres>::new(format!(
                    "INSERT INTO definition_groups ({cols}) VALUES ("
                ));
                qb.push_bind(&def.key)
                    .push(", ")
                    .push_bind(&def.kind)
                    .push(", ")
                    .push_bind(&def.name);
                if schema.groups_as_of {
                    qb.push(", ").push_bind(def.as_of);
                }
                if schema.groups_tickstock {
                    qb.push(", ").push_bind(&as_of_json).push("::jsonb");
                }
                if schema.groups_environment {
                    qb.push(", ").push_bind(&env);
                }
                qb.push(") RETURNING id::int8");
                qb.build_query_scalar().fetch_one(&mut *tx).await?
            }
        };
        sqlx::query(
            "INSERT INTO group_memberships (group_id, symbol)
             SELECT $1, s FROM UNNEST($2::text[]) AS s ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(members)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<bool, sqlx::Error>(true)
    };
    run.await.map_err(|e| store.err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_copy_stream_has_header_rows_and_trailer() {
        let rows = [Row {
            key: PG_EPOCH_UNIX_DAYS + 1,
            o: 1.0,
            h: 2.0,
            l: 0.5,
            c: 1.5,
            v: 10.0,
            n: None,
        }];
        let buf = encode_copy(&rows, Some("AB"), true, false);
        assert!(buf.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert!(buf.ends_with(&[0xff, 0xff]));
        // header 19, row: 2 + (4+2) + (4+4) + 5*(4+8), trailer 2
        assert_eq!(buf.len(), 19 + 2 + 6 + 8 + 60 + 2);
        // the date is day 1 of PostgreSQL's epoch
        assert_eq!(&buf[19 + 2 + 6..19 + 2 + 6 + 8], &[0, 0, 0, 4, 0, 0, 0, 1]);
    }
}
