//! The PostgreSQL backend's bars.
//!
//! Bulk writes stream rows with `COPY`. When none of the incoming keys is stored yet (a
//! fresh load) rows go straight into the target table: in binary when the table has our
//! column types, in text when it has TickStock's (`DECIMAL(12,4)`, `BIGINT` volume, naive
//! `TIMESTAMP`, `transactions`), so the server rounds to the column's precision. Otherwise
//! they go into a session temp table (`ON COMMIT DELETE ROWS`) that one
//! `INSERT .. SELECT .. ON CONFLICT DO UPDATE` merges into the target, skipping rows whose
//! values are unchanged. Either way one transaction. Sessions run in UTC, and naive
//! timestamps are always bound and read as UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, Row as _};

use super::schema::OhlcvShape;
use super::{format_date, format_instant, time_column, Row, Store, StoreError};
use tickstock_protocol::timeframe::Timeframe;

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_UNIX_DAYS: i64 = 10_957;

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
pub(super) fn decode_time(
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
