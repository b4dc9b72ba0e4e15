//! Reading bars back, written once for both databases on the [`Dialect`]: one symbol's
//! bars, the keys of its bars between two New York dates, each symbol's span and a
//! table's coverage. A time column is read as its table keeps it ([`Dialect::bar_time`]:
//! `DATE`, naive `TIMESTAMP` holding UTC or `TIMESTAMPTZ` on PostgreSQL, text on SQLite)
//! and given back as [`StoredBar::time`] is. Writing differs by database on purpose: binary
//! `COPY` on PostgreSQL (`postgres_bars.rs`), prepared multi-row upserts on SQLite.

use chrono::NaiveDate;
use sqlx::{Pool, Postgres, Row as _, Sqlite};

use super::job_runs::{sql_trait, Arg, Dialect, Stmt, IN_LIST_CHUNK};
use super::schema::OhlcvShape;
use super::TableCoverage;
use super::{format_date, format_instant, ny_midnight, time_column, StoredBar, SymbolSpan};
use tickstock_protocol::timeframe::Timeframe;

/// The type a bound time is cast to for the table's time column (PostgreSQL).
fn time_type(tf: Timeframe, shape: OhlcvShape) -> &'static str {
    if tf.is_dated() {
        "date"
    } else if shape.naive_time {
        "timestamp"
    } else {
        "timestamptz"
    }
}

sql_trait! {
/// The bar reads on top of the [`Dialect`].
pub(super) trait BarReads: Dialect {
    /// Every stored bar of one symbol and timeframe, oldest first.
    async fn read_bars(
        pool: &Pool<Self>,
        shape: OhlcvShape,
        symbol: &str,
        tf: Timeframe,
    ) -> Result<Vec<StoredBar>, sqlx::Error> {
        let (table, col) = (tf.table(), time_column(tf));
        let price = |c: &str| Self::cast(c, "float8");
        let mut s = Self::stmt(format!(
            "SELECT {col}, {}, {}, {}, {}, {} FROM {table} WHERE symbol = ",
            price("open"),
            price("high"),
            price("low"),
            price("close"),
            price("volume")
        ));
        s.bind(Stmt::text(symbol)).push(&format!(" ORDER BY {col}"));
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                Ok(StoredBar {
                    symbol: symbol.to_string(),
                    time: Self::bar_time(r, 0, tf, shape)?.unwrap_or_default(),
                    open: r.try_get(1)?,
                    high: r.try_get(2)?,
                    low: r.try_get(3)?,
                    close: r.try_get(4)?,
                    volume: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// First, last and count of each symbol's bars in one table: of `symbols` only when
    /// given, else of every symbol in it.
    async fn symbol_spans(
        pool: &Pool<Self>,
        shape: OhlcvShape,
        tf: Timeframe,
        symbols: Option<&[String]>,
    ) -> Result<Vec<SymbolSpan>, sqlx::Error> {
        let (table, col) = (tf.table(), time_column(tf));
        let query = |chunk: Option<&[String]>| {
            let mut s = Self::stmt(format!(
                "SELECT symbol{}, min({col}), max({col}), count(*) FROM {table}",
                Self::AS_TEXT
            ));
            if let Some(chunk) = chunk {
                s.push(" WHERE");
                Self::push_in(&mut s, "symbol", chunk);
            }
            s.push(" GROUP BY symbol");
            s
        };
        let statements: Vec<Stmt> = match symbols {
            Some(list) => list.chunks(IN_LIST_CHUNK).map(|c| query(Some(c))).collect(),
            None => vec![query(None)],
        };
        let mut out = Vec::new();
        for s in &statements {
            for r in Self::query(s).fetch_all(pool).await? {
                out.push(SymbolSpan {
                    symbol: r.try_get(0)?,
                    timeframe: tf,
                    first: Self::bar_time(&r, 1, tf, shape)?.unwrap_or_default(),
                    last: Self::bar_time(&r, 2, tf, shape)?.unwrap_or_default(),
                    bars: r.try_get(3)?,
                });
            }
        }
        Ok(out)
    }

    /// The keys of one symbol's bars whose New York trading date is in `[from, to]`,
    /// oldest first.
    async fn bar_keys(
        pool: &Pool<Self>,
        shape: OhlcvShape,
        symbol: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<String>, sqlx::Error> {
        let (table, col) = (tf.table(), time_column(tf));
        let end = to.succ_opt().unwrap_or(to);
        // The bounds as the table keeps its keys (SQLite's text compares as written).
        let bound = |d: NaiveDate| {
            if tf.is_dated() {
                format_date(d)
            } else {
                format_instant(ny_midnight(d))
            }
        };
        let ty = time_type(tf, shape);
        let mut s = Self::stmt(format!("SELECT {col} FROM {table} WHERE symbol = "));
        s.bind(Stmt::text(symbol)).push(&format!(" AND {col} >= "));
        Self::push_cast(&mut s, Arg::Text(Some(bound(from))), ty);
        s.push(&format!(" AND {col} < "));
        Self::push_cast(&mut s, Arg::Text(Some(bound(end))), ty);
        s.push(&format!(" ORDER BY {col}"));
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok(Self::bar_time(r, 0, tf, shape)?.unwrap_or_default()))
            .collect()
    }

    /// Rows, symbols and time span of one table.
    async fn coverage(
        pool: &Pool<Self>,
        shape: OhlcvShape,
        tf: Timeframe,
    ) -> Result<TableCoverage, sqlx::Error> {
        let (table, col) = (tf.table(), time_column(tf));
        let s = Self::stmt(format!(
            "SELECT count(*), count(DISTINCT symbol), min({col}), max({col}) FROM {table}"
        ));
        let r = Self::query(&s).fetch_one(pool).await?;
        Ok(TableCoverage {
            table: table.to_string(),
            timeframe: tf,
            rows: r.try_get(0)?,
            symbols: r.try_get(1)?,
            earliest: Self::bar_time(&r, 2, tf, shape)?,
            latest: Self::bar_time(&r, 3, tf, shape)?,
        })
    }
}
}

impl BarReads for Postgres {}
impl BarReads for Sqlite {}
