//! The PostgreSQL backend.
//!
//! Bulk writes stream rows with `COPY .. FROM STDIN (FORMAT binary)`. When none of the
//! incoming keys is stored yet (a fresh load) and the table has our column types, rows go
//! straight into the target table; otherwise into a session temp table
//! (`ON COMMIT DELETE ROWS`) that one `INSERT .. SELECT .. ON CONFLICT DO UPDATE` merges
//! into the target, skipping rows whose values are unchanged. Either way one transaction.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row as _};

use super::{
    format_date, format_instant, redact_url, time_column, GroupRow, JobRun, JobRunFilter,
    JobRunPage, Pool, Row, Store, StoreError, StoreOptions, StoredBar, SymbolRecord, TableCoverage,
    UniverseDef,
};
use crate::timeframe::Timeframe;

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_UNIX_DAYS: i64 = 10_957;

pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let secret = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string));
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
        .options([("client_min_messages", "warning")])
        .application_name("tickstock");
    let target = describe(&opts);

    // One direct attempt first: the pool would retry a refused connection until its
    // timeout and then report only that it timed out.
    match PgConnection::connect_with(&opts).await {
        Ok(conn) => {
            let _ = conn.close().await;
        }
        Err(e) => {
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
        pool: Pool::Postgres(pool.clone(), [false; 5]),
        target: Arc::from(target.as_str()),
        secret: secret.map(|s| Arc::from(s.as_str())),
    };
    store.migrate().await?;
    let direct = direct_copy_tables(&store, &pool).await?;
    store.pool = Pool::Postgres(pool, direct);
    Ok(store)
}

fn describe(opts: &PgConnectOptions) -> String {
    let db = opts.get_database().unwrap_or(opts.get_username());
    match opts.get_socket() {
        Some(dir) => format!("PostgreSQL at {}:{}/{db}", dir.display(), opts.get_port()),
        None => format!("PostgreSQL at {}:{}/{db}", opts.get_host(), opts.get_port()),
    }
}

/// Which OHLCV tables have exactly our column types (an existing TickStock database may
/// use NUMERIC or BIGINT): only those take binary COPY straight into the table.
async fn direct_copy_tables(store: &Store, pool: &PgPool) -> Result<[bool; 5], StoreError> {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text
           FROM information_schema.columns
          WHERE table_schema = current_schema()
            AND table_name IN ('ohlcv_1min', 'ohlcv_hourly', 'ohlcv_daily', 'ohlcv_weekly', 'ohlcv_monthly')",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))?;
    let mut out = [false; 5];
    for (i, tf) in Timeframe::ALL.iter().enumerate() {
        let time_col = time_column(*tf).trim_matches('"');
        let time_type = if tf.is_dated() {
            "date"
        } else {
            "timestamp with time zone"
        };
        let cols: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r.get::<String, _>(0) == tf.table())
            .map(|r| (r.get::<String, _>(1), r.get::<String, _>(2)))
            .collect();
        let ty = |name: &str| {
            cols.iter()
                .find(|(c, _)| c == name)
                .map(|(_, t)| t.as_str())
        };
        out[i] = matches!(ty("symbol"), Some("character varying" | "text"))
            && ty(time_col) == Some(time_type)
            && ["open", "high", "low", "close", "volume"]
                .iter()
                .all(|c| ty(c) == Some("double precision"));
    }
    Ok(out)
}

fn temp_table(tf: Timeframe) -> &'static str {
    if tf.is_dated() {
        "tickstock_bars_dated"
    } else {
        "tickstock_bars_instant"
    }
}

/// Binary COPY stream of `rows`, with the symbol as first column when `symbol` is given.
fn encode_copy(rows: &[Row], symbol: Option<&str>, dated: bool) -> Vec<u8> {
    let per_row = 2 + symbol.map_or(0, |s| 4 + s.len()) + (4 + 8) * 6;
    let mut buf = Vec::with_capacity(19 + rows.len() * per_row + 2);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
    let ncols: i16 = if symbol.is_some() { 7 } else { 6 };
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
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&(r.key - PG_EPOCH_UNIX_SECS * 1_000_000).to_be_bytes());
        }
        for v in [r.o, r.h, r.l, r.c, r.v] {
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&v.to_be_bytes());
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
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
    dated: bool,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    if dated {
        q.bind(row.date())
    } else {
        q.bind(row.instant())
    }
}

pub(super) async fn write_bars(
    store: &Store,
    pool: &PgPool,
    direct: bool,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<u64, StoreError> {
    if direct {
        match write_fresh(pool, symbol, tf, rows).await {
            Ok(Some(n)) => return Ok(n),
            Ok(None) => {}
            // Someone stored some of these keys between the check and the COPY.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
            Err(e) => return Err(store.err(e)),
        }
    }
    write_merge(pool, symbol, tf, rows)
        .await
        .map_err(|e| store.err(e))
}

/// COPY straight into the table when none of the keys is stored yet; `None` otherwise.
async fn write_fresh(
    pool: &PgPool,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<Option<u64>, sqlx::Error> {
    let (table, col, dated) = (tf.table(), time_column(tf), tf.is_dated());
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    // Checked on the pool, outside the transaction: a writer that stores one of these keys
    // meanwhile makes the COPY fail on the primary key (23505), and the caller merges.
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE symbol = $1 AND {col} BETWEEN $2 AND $3)"
    );
    let q = sqlx::query(&sql).bind(symbol);
    let q = bind_key(bind_key(q, first, dated), last, dated);
    let overlap: bool = q.fetch_one(pool).await?.try_get(0)?;
    if overlap {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    let data = encode_copy(rows, Some(symbol), dated);
    let n = copy_in(
        &mut tx,
        &format!(
            "COPY {table} (symbol, {col}, open, high, low, close, volume) FROM STDIN (FORMAT binary)"
        ),
        data,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(n))
}

/// COPY into the session temp table, then one merging upsert.
async fn write_merge(
    pool: &PgPool,
    symbol: &str,
    tf: Timeframe,
    rows: &[Row],
) -> Result<u64, sqlx::Error> {
    let (table, col, dated) = (tf.table(), time_column(tf), tf.is_dated());
    let tmp = temp_table(tf);
    let key_type = if dated { "date" } else { "timestamptz" };
    let mut tx = pool.begin().await?;
    let create = format!(
        "CREATE TEMP TABLE IF NOT EXISTS {tmp} (k {key_type} NOT NULL, open float8 NOT NULL, high float8 NOT NULL, low float8 NOT NULL, close float8 NOT NULL, volume float8 NOT NULL) ON COMMIT DELETE ROWS"
    );
    // `query`, not `raw_sql`: RawSql::execute's bounds defeat Send inference upstream.
    sqlx::query(&create).execute(&mut *tx).await?;
    let data = encode_copy(rows, None, dated);
    copy_in(
        &mut tx,
        &format!("COPY {tmp} (k, open, high, low, close, volume) FROM STDIN (FORMAT binary)"),
        data,
    )
    .await?;
    let written = sqlx::query(&format!(
        "INSERT INTO {table} AS t (symbol, {col}, open, high, low, close, volume)
         SELECT $1, k, open, high, low, close, volume FROM {tmp}
         ON CONFLICT (symbol, {col}) DO UPDATE
            SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
                close = EXCLUDED.close, volume = EXCLUDED.volume
          WHERE (t.open, t.high, t.low, t.close, t.volume)
                IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)"
    ))
    .bind(symbol)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(written)
}

pub(super) async fn read_bars(
    store: &Store,
    pool: &PgPool,
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
            let time = if tf.is_dated() {
                format_date(r.try_get::<NaiveDate, _>(0)?)
            } else {
                format_instant(r.try_get::<DateTime<Utc>, _>(0)?)
            };
            Ok(StoredBar {
                symbol: symbol.to_string(),
                time,
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

pub(super) async fn coverage(
    store: &Store,
    pool: &PgPool,
    tf: Timeframe,
) -> Result<TableCoverage, StoreError> {
    let (table, col) = (tf.table(), time_column(tf));
    let r = sqlx::query(&format!(
        "SELECT count(*), count(DISTINCT symbol), min({col}), max({col}) FROM {table}"
    ))
    .fetch_one(pool)
    .await
    .map_err(|e| store.err(e))?;
    let span = |i: usize| -> Result<Option<String>, sqlx::Error> {
        Ok(if tf.is_dated() {
            r.try_get::<Option<NaiveDate>, _>(i)?.map(format_date)
        } else {
            r.try_get::<Option<DateTime<Utc>>, _>(i)?
                .map(format_instant)
        })
    };
    let (earliest, latest) = (span(2), span(3));
    Ok(TableCoverage {
        table: table.to_string(),
        timeframe: tf,
        rows: r.try_get(0).map_err(|e| store.err(e))?,
        symbols: r.try_get(1).map_err(|e| store.err(e))?,
        earliest: earliest.map_err(|e| store.err(e))?,
        latest: latest.map_err(|e| store.err(e))?,
    })
}

pub(super) async fn upsert_symbols(
    store: &Store,
    pool: &PgPool,
    recs: &[SymbolRecord],
) -> Result<u64, StoreError> {
    let col = |f: fn(&SymbolRecord) -> Option<String>| recs.iter().map(f).collect::<Vec<_>>();
    let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    sqlx::query(
        "INSERT INTO symbols (symbol, name, market, exchange, type, active, locale, currency, cik,
                              composite_figi, share_class_figi, last_updated)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
                              $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
         ON CONFLICT (symbol) DO UPDATE SET
            name = COALESCE(EXCLUDED.name, symbols.name),
            market = COALESCE(EXCLUDED.market, symbols.market),
            exchange = COALESCE(EXCLUDED.exchange, symbols.exchange),
            type = COALESCE(EXCLUDED.type, symbols.type),
            active = EXCLUDED.active,
            locale = COALESCE(EXCLUDED.locale, symbols.locale),
            currency = COALESCE(EXCLUDED.currency, symbols.currency),
            cik = COALESCE(EXCLUDED.cik, symbols.cik),
            composite_figi = COALESCE(EXCLUDED.composite_figi, symbols.composite_figi),
            share_class_figi = COALESCE(EXCLUDED.share_class_figi, symbols.share_class_figi),
            last_updated = COALESCE(EXCLUDED.last_updated, symbols.last_updated)",
    )
    .bind(recs.iter().map(|r| r.symbol.clone()).collect::<Vec<_>>())
    .bind(recs.iter().map(|r| opt(&r.name)).collect::<Vec<_>>())
    .bind(recs.iter().map(|r| opt(&r.market)).collect::<Vec<_>>())
    .bind(recs.iter().map(|r| opt(&r.exchange)).collect::<Vec<_>>())
    .bind(recs.iter().map(|r| opt(&r.type_)).collect::<Vec<_>>())
    .bind(recs.iter().map(|r| r.active).collect::<Vec<_>>())
    .bind(col(|r| r.locale.clone()))
    .bind(col(|r| r.currency.clone()))
    .bind(col(|r| r.cik.clone()))
    .bind(col(|r| r.composite_figi.clone()))
    .bind(col(|r| r.share_class_figi.clone()))
    .bind(recs.iter().map(|r| r.last_updated).collect::<Vec<_>>())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| store.err(e))
}

pub(super) async fn groups(store: &Store, pool: &PgPool) -> Result<Vec<GroupRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT g.id::int8, g.name::text, g.type::text, g.description::text, g.as_of,
                (SELECT count(*) FROM group_memberships m WHERE m.group_id = g.id)
           FROM definition_groups g ORDER BY g.id",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))?;
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

/// Writes a universe in one transaction. With `replace == false` an existing universe
/// is left alone (seeding). Returns whether anything was written.
pub(super) async fn replace_universe(
    store: &Store,
    pool: &PgPool,
    def: &UniverseDef,
    members: &[String],
    replace: bool,
) -> Result<bool, StoreError> {
    async fn run(
        pool: &PgPool,
        def: &UniverseDef,
        members: &[String],
        replace: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = pool.begin().await?;
        // Serialises universe writers (two processes seeding at once).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tickstock.definition_groups'))")
            .execute(&mut *tx)
            .await?;
        let existing: Vec<(i64, String)> =
            sqlx::query_as("SELECT id::int8, name::text FROM definition_groups ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        let found = existing
            .iter()
            .find(|(_, n)| *n == def.key)
            .or_else(|| {
                existing
                    .iter()
                    .find(|(_, n)| crate::universe::canonical_key(n) == def.key)
            })
            .map(|(id, _)| *id);
        let id = match found {
            Some(_) if !replace => return Ok(false),
            Some(id) => {
                sqlx::query(
                    "UPDATE definition_groups SET type = $2, description = $3, as_of = $4, updated_at = now()
                      WHERE id = $1",
                )
                .bind(id)
                .bind(&def.kind)
                .bind(&def.name)
                .bind(def.as_of)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM group_memberships WHERE group_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO definition_groups (name, type, description, as_of)
                     VALUES ($1, $2, $3, $4) RETURNING id::int8",
                )
                .bind(&def.key)
                .bind(&def.kind)
                .bind(&def.name)
                .bind(def.as_of)
                .fetch_one(&mut *tx)
                .await?
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
        Ok(true)
    }
    run(pool, def, members, replace)
        .await
        .map_err(|e| store.err(e))
}

fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

pub(super) async fn upsert_job_run(
    store: &Store,
    pool: &PgPool,
    run: &JobRun,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_runs (id, kind, params, status, progress, message, symbols_total, symbols_ok,
                               symbols_failed, bars_loaded, failed_symbols, error, submitted_at,
                               started_at, completed_at, worker)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO UPDATE SET
            kind = EXCLUDED.kind, params = EXCLUDED.params, status = EXCLUDED.status,
            progress = EXCLUDED.progress, message = EXCLUDED.message,
            symbols_total = EXCLUDED.symbols_total, symbols_ok = EXCLUDED.symbols_ok,
            symbols_failed = EXCLUDED.symbols_failed, bars_loaded = EXCLUDED.bars_loaded,
            failed_symbols = EXCLUDED.failed_symbols, error = EXCLUDED.error,
            submitted_at = COALESCE(EXCLUDED.submitted_at, job_runs.submitted_at),
            started_at = COALESCE(EXCLUDED.started_at, job_runs.started_at),
            completed_at = EXCLUDED.completed_at,
            worker = COALESCE(EXCLUDED.worker, job_runs.worker)",
    )
    .bind(run.id.trim())
    .bind(&run.kind)
    .bind(json_text(&run.params))
    .bind(&run.status)
    .bind(run.progress)
    .bind(&run.message)
    .bind(run.symbols_total)
    .bind(run.symbols_ok)
    .bind(run.symbols_failed)
    .bind(run.bars_loaded)
    .bind(json_text(&run.failed_symbols))
    .bind(&run.error)
    .bind(run.submitted_at)
    .bind(run.started_at)
    .bind(run.completed_at)
    .bind(&run.worker)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(|e| store.err(e))
}

const JOB_COLUMNS: &str = "id, kind, params::text, status, progress, message, symbols_total, symbols_ok, \
     symbols_failed, bars_loaded, failed_symbols::text, error, submitted_at, started_at, completed_at, worker";

fn job_from_row(r: &PgRow) -> Result<JobRun, sqlx::Error> {
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
        submitted_at: r.try_get(12)?,
        started_at: r.try_get(13)?,
        completed_at: r.try_get(14)?,
        worker: r.try_get(15)?,
    })
}

pub(super) async fn job_run(
    store: &Store,
    pool: &PgPool,
    id: &str,
) -> Result<Option<JobRun>, StoreError> {
    let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM job_runs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|e| store.err(e))?;
    row.as_ref()
        .map(job_from_row)
        .transpose()
        .map_err(|e| store.err(e))
}

fn push_filter(qb: &mut QueryBuilder<'_, Postgres>, f: &JobRunFilter) {
    qb.push(" WHERE TRUE");
    if let Some(p) = &f.id_prefix {
        qb.push(" AND starts_with(lower(id), ")
            .push_bind(p.clone())
            .push(")");
    }
    if let Some(s) = &f.symbol {
        qb.push(" AND params @> jsonb_build_object('symbols', jsonb_build_array(")
            .push_bind(s.clone())
            .push("::text))");
    }
    if let Some(k) = &f.kind {
        qb.push(" AND kind = ").push_bind(k.clone());
    }
    if let Some(s) = &f.status {
        qb.push(" AND status = ").push_bind(s.clone());
    }
}

pub(super) async fn list_job_runs(
    store: &Store,
    pool: &PgPool,
    f: &JobRunFilter,
) -> Result<JobRunPage, StoreError> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM job_runs");
    push_filter(&mut count, f);
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(|e| store.err(e))?;
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {JOB_COLUMNS} FROM job_runs"));
    push_filter(&mut qb, f);
    qb.push(" ORDER BY submitted_at DESC NULLS LAST, id DESC LIMIT ")
        .push_bind(f.limit())
        .push(" OFFSET ")
        .push_bind(f.offset());
    let rows = qb.build().fetch_all(pool).await.map_err(|e| store.err(e))?;
    let items = rows
        .iter()
        .map(job_from_row)
        .collect::<Result<_, _>>()
        .map_err(|e| store.err(e))?;
    Ok(JobRunPage { items, total })
}

pub(super) async fn delete_job_runs_by_prefix(
    store: &Store,
    pool: &PgPool,
    prefix: &str,
) -> Result<u64, StoreError> {
    async fn run(pool: &PgPool, prefix: &str) -> Result<u64, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM job_checkpoints WHERE starts_with(lower(job_id), $1)")
            .bind(prefix)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM job_runs WHERE starts_with(lower(id), $1)")
            .bind(prefix)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
    run(pool, prefix).await.map_err(|e| store.err(e))
}

pub(super) async fn mark_pair_done(
    store: &Store,
    pool: &PgPool,
    job_id: &str,
    symbol: &str,
    tf: Timeframe,
    rows: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_checkpoints (job_id, symbol, timeframe, rows, done_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (job_id, symbol, timeframe) DO UPDATE SET rows = EXCLUDED.rows, done_at = EXCLUDED.done_at",
    )
    .bind(job_id)
    .bind(symbol)
    .bind(tf.wire_name())
    .bind(rows)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(|e| store.err(e))
}

pub(super) async fn done_pairs(
    store: &Store,
    pool: &PgPool,
    job_id: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    sqlx::query_as("SELECT symbol::text, timeframe, rows FROM job_checkpoints WHERE job_id = $1")
        .bind(job_id)
        .fetch_all(pool)
        .await
        .map_err(|e| store.err(e))
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
        }];
        let buf = encode_copy(&rows, Some("AB"), true);
        assert!(buf.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert!(buf.ends_with(&[0xff, 0xff]));
        // header 19, row: 2 + (4+2) + (4+4) + 5*(4+8), trailer 2
        assert_eq!(buf.len(), 19 + 2 + 6 + 8 + 60 + 2);
        // the date is day 1 of PostgreSQL's epoch
        assert_eq!(&buf[19 + 2 + 6..19 + 2 + 6 + 8], &[0, 0, 0, 4, 0, 0, 0, 1]);
    }
}
