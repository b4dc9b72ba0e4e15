//! Bars in the store: [`Store::write_bars`] (one transaction, rows merged by key) and the
//! reads of bars, keys, spans and coverage, dispatched to the backend; and the row
//! helpers both backends share (keys, dates, ticker checks, column names).

use chrono::{DateTime, NaiveDate, Utc};

use sqlx::{Postgres, Sqlite};

use super::bar_reads::BarReads;
use super::{postgres_bars, sqlite, Pool, Store, StoreError, StoredBar, SymbolSpan, TableCoverage};
use tickstock_protocol::bars::Bar;
use tickstock_protocol::timeframe::Timeframe;

/// Runs a [`BarReads`] query for timeframe `$tf` on the store's database, with `$p` the
/// pool and `$shape` the shape of the timeframe's table; a failure is the store's error.
macro_rules! on_bars {
    ($store:expr, $tf:expr, $p:ident, $shape:ident, $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$store.pool {
            Pool::Postgres($p, schema) => {
                let $shape = schema.ohlcv[tf_index($tf)];
                <Postgres as BarReads>::$method($($arg),*).await
            }
            Pool::Sqlite($p, _) => {
                let $shape = Default::default();
                <Sqlite as BarReads>::$method($($arg),*).await
            }
        }
        .map_err(|e| $store.err(e))
    };
}

impl Store {
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
        // not abandon the transaction halfway; it commits or rolls back whole. A lost
        // connection is written again (one transaction, an idempotent upsert).
        let days = (rows[0], rows[rows.len() - 1]);
        let rows = std::sync::Arc::new(rows);
        let written = self
            .retrying(&format!("a page of {symbol} {tf} bars"), || {
                let store = self.clone();
                let symbol = symbol.clone();
                let rows = rows.clone();
                async move {
                    let target = store.target.clone();
                    tokio::spawn(async move {
                        match &store.pool {
                            Pool::Postgres(p, schema) => {
                                let shape = schema.ohlcv[tf_index(tf)];
                                postgres_bars::write_bars(&store, p, shape, &symbol, tf, &rows)
                                    .await
                            }
                            Pool::Sqlite(p, _) => {
                                sqlite::write_bars(&store, p, &symbol, tf, &rows).await
                            }
                        }
                    })
                    .await
                    .map_err(|e| StoreError::Query {
                        message: format!("{target}: the write task failed: {e}"),
                        retryable: false,
                    })?
                }
            })
            .await?;
        if super::bar_counts::counted(tf) {
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
        on_bars!(self, tf, p, shape, read_bars(p, shape, &symbol, tf))
    }

    /// Rows, symbols and time span of every OHLCV table, smallest timeframe first.
    pub async fn coverage(&self) -> Result<Vec<TableCoverage>, StoreError> {
        let mut out = Vec::with_capacity(Timeframe::ALL.len());
        for tf in Timeframe::ALL {
            if let Some(fast) = self.fast_table_coverage(tf).await? {
                out.push(fast);
                continue;
            }
            out.push(on_bars!(self, tf, p, shape, coverage(p, shape, tf))?);
        }
        Ok(out)
    }

    /// First, last and count of each symbol's bars in one table, by symbol: of `symbols`
    /// only when given (an index range per symbol), else of every symbol in the table.
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
        if symbols.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(Vec::new());
        }
        let list = symbols.as_deref();
        let mut out = on_bars!(self, tf, p, shape, symbol_spans(p, shape, tf, list))?;
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
        on_bars!(
            self,
            tf,
            p,
            shape,
            bar_keys(p, shape, &symbol, tf, from, to)
        )
    }
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

/// A time stamp as this store writes it on both databases (RFC 3339 UTC, microseconds):
/// SQLite's time columns, and the text bound for a PostgreSQL stamp column.
pub(crate) fn format_stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
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
}
