//! Fast coverage of the minute and hour tables: bars per symbol and UTC day in our
//! `bar_counts` table, so coverage of 50 million rows reads a few hundred thousand.
//!
//! - Every [`Store::write_bars`] of minute or hour bars recounts the days it touched (an
//!   index range as long as the page written), so our own writes keep the counts exact.
//! - `bar_counts_state.complete` says the counts cover every row: true when the table was
//!   empty as the table was created, else once [`Store::rebuild_bar_counts`] ran (rows
//!   TickStockPL or anyone else wrote before).
//! - Coverage then takes each symbol's first and last key from the OHLCV table's index (two
//!   probes per symbol) and its count from `bar_counts`; days outside the counted span (rows
//!   appended or prepended since by another writer, a symbol the counts do not know) are
//!   counted from the table on the fly, and nothing is written (coverage changes nothing).
//!   Rows another writer adds or deletes inside a counted span are seen after a rebuild.
//!
//! Without a complete summary (or without the tables: an old schema, a role that may not
//! create them) coverage counts the OHLCV table as before.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use sqlx::Row as _;

use super::{
    format_instant, tf_index, time_column, Pool, Store, StoreError, SymbolSpan, TableCoverage,
};
use tickstock_protocol::timeframe::Timeframe;

/// Whether a timeframe's coverage is kept in `bar_counts` (the dated tables are small).
pub(crate) fn counted(tf: Timeframe) -> bool {
    matches!(tf, Timeframe::Minute | Timeframe::Hour)
}

/// The UTC day of a stored key (`2024-03-11T13:30:00Z`).
fn key_day(key: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(key.get(..10)?, "%Y-%m-%d").ok()
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// Per symbol: bars counted, first and last counted day.
type Summary = HashMap<String, (i64, NaiveDate, NaiveDate)>;

impl Store {
    /// Whether `bar_counts` covers every row of `tf`'s table (false when the tables are
    /// missing).
    pub(crate) async fn counts_complete(&self, tf: Timeframe) -> bool {
        if !counted(tf) {
            return false;
        }
        let text = "SELECT complete FROM bar_counts_state WHERE timeframe = $1";
        let r: Result<Option<bool>, sqlx::Error> = match &self.pool {
            Pool::Postgres(p, _) => {
                sqlx::query_scalar(text)
                    .bind(tf.wire_name())
                    .fetch_optional(p)
                    .await
            }
            Pool::Sqlite(p, _) => {
                sqlx::query_scalar(&text.replace('$', "?"))
                    .bind(tf.wire_name())
                    .fetch_optional(p)
                    .await
            }
        };
        matches!(r, Ok(Some(true)))
    }

    /// Recounts the UTC days `[from, to]` of one symbol's `tf` bars into `bar_counts`
    /// (after a write; a failure is logged, never the write's).
    pub(crate) async fn recount_days(
        &self,
        symbol: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
    ) {
        if !counted(tf) || self.read_only_schema {
            return;
        }
        let (table, col) = (tf.table(), time_column(tf));
        let (lo, hi) = (midnight(from), midnight(to + Duration::days(1)));
        let count = || async {
            let r = match &self.pool {
                Pool::Postgres(p, schema) => {
                    let naive = schema.ohlcv[tf_index(tf)].naive_time;
                    let day = if naive {
                        format!("{col}::date")
                    } else {
                        format!("({col} AT TIME ZONE 'UTC')::date")
                    };
                    let sql = format!(
                        "INSERT INTO bar_counts (timeframe, symbol, day, bars)
                     SELECT $1, $2, {day}, count(*) FROM {table}
                      WHERE symbol = $2 AND {col} >= $3 AND {col} < $4 GROUP BY 3
                     ON CONFLICT (timeframe, symbol, day) DO UPDATE SET bars = excluded.bars"
                    );
                    let q = sqlx::query(&sql).bind(tf.wire_name()).bind(symbol);
                    let q = if naive {
                        q.bind(lo.naive_utc()).bind(hi.naive_utc())
                    } else {
                        q.bind(lo).bind(hi)
                    };
                    q.execute(p).await.map(|_| ())
                }
                Pool::Sqlite(p, _) => {
                    let sql = format!(
                        "INSERT INTO bar_counts (timeframe, symbol, day, bars)
                     SELECT ?1, ?2, substr({col}, 1, 10), count(*) FROM {table}
                      WHERE symbol = ?2 AND {col} >= ?3 AND {col} < ?4 GROUP BY 3
                     ON CONFLICT (timeframe, symbol, day) DO UPDATE SET bars = excluded.bars"
                    );
                    sqlx::query(&sql)
                        .bind(tf.wire_name())
                        .bind(symbol)
                        .bind(format_instant(lo))
                        .bind(format_instant(hi))
                        .execute(p)
                        .await
                        .map(|_| ())
                }
            };
            r.map_err(|e| self.err(e))
        };
        // A lost connection is counted again: the counts must follow the rows.
        let r = self.retrying("the bar counts", count).await;
        if let Err(e) = r {
            tracing::warn!(symbol, timeframe = %tf, "bar counts not updated: {e}");
        }
    }

    /// Counts every row of the minute and hour tables into `bar_counts` again (rows written
    /// by others included) and marks the counts complete. Returns the rows counted per
    /// timeframe.
    pub async fn rebuild_bar_counts(&self) -> Result<Vec<(Timeframe, i64)>, StoreError> {
        let mut out = Vec::new();
        for tf in [Timeframe::Minute, Timeframe::Hour] {
            let (table, col) = (tf.table(), time_column(tf));
            let name = tf.wire_name();
            let rows: i64 = match &self.pool {
                Pool::Postgres(p, schema) => {
                    let day = if schema.ohlcv[tf_index(tf)].naive_time {
                        format!("{col}::date")
                    } else {
                        format!("({col} AT TIME ZONE 'UTC')::date")
                    };
                    let mut tx = p.begin().await.map_err(|e| self.err(e))?;
                    sqlx::query("DELETE FROM bar_counts WHERE timeframe = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                    sqlx::query(&format!(
                        "INSERT INTO bar_counts (timeframe, symbol, day, bars)
                         SELECT $1, symbol, {day}, count(*) FROM {table} GROUP BY 2, 3"
                    ))
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    sqlx::query(
                        "INSERT INTO bar_counts_state (timeframe, complete, rebuilt_at) VALUES ($1, TRUE, now())
                         ON CONFLICT (timeframe) DO UPDATE SET complete = TRUE, rebuilt_at = now()",
                    )
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    let n: Option<i64> = sqlx::query_scalar(
                        "SELECT sum(bars)::int8 FROM bar_counts WHERE timeframe = $1",
                    )
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    tx.commit().await.map_err(|e| self.err(e))?;
                    n.unwrap_or(0)
                }
                Pool::Sqlite(p, _) => {
                    let mut tx = p.begin().await.map_err(|e| self.err(e))?;
                    sqlx::query("DELETE FROM bar_counts WHERE timeframe = ?1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                    sqlx::query(&format!(
                        "INSERT INTO bar_counts (timeframe, symbol, day, bars)
                         SELECT ?1, symbol, substr({col}, 1, 10), count(*) FROM {table} GROUP BY 2, 3"
                    ))
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    sqlx::query(
                        "INSERT INTO bar_counts_state (timeframe, complete, rebuilt_at)
                         VALUES (?1, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                         ON CONFLICT (timeframe) DO UPDATE SET complete = 1, rebuilt_at = excluded.rebuilt_at",
                    )
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    let n: Option<i64> =
                        sqlx::query_scalar("SELECT sum(bars) FROM bar_counts WHERE timeframe = ?1")
                            .bind(name)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| self.err(e))?;
                    tx.commit().await.map_err(|e| self.err(e))?;
                    n.unwrap_or(0)
                }
            };
            out.push((tf, rows));
        }
        Ok(out)
    }

    /// Every symbol of `tf`'s table, by walking its primary key (one probe per symbol).
    async fn distinct_symbols(&self, tf: Timeframe) -> Result<Vec<String>, StoreError> {
        let table = tf.table();
        let sql = format!(
            "WITH RECURSIVE s(symbol) AS (
                SELECT (SELECT min(symbol) FROM {table})
                UNION ALL
                SELECT (SELECT min(symbol) FROM {table} t WHERE t.symbol > s.symbol)
                  FROM s WHERE s.symbol IS NOT NULL)
             SELECT symbol FROM s WHERE symbol IS NOT NULL"
        );
        match &self.pool {
            Pool::Postgres(p, _) => {
                sqlx::query_scalar(
                    &sql.replace("SELECT symbol FROM s", "SELECT symbol::text FROM s"),
                )
                .fetch_all(p)
                .await
            }
            Pool::Sqlite(p, _) => sqlx::query_scalar(&sql).fetch_all(p).await,
        }
        .map_err(|e| self.err(e))
    }

    /// Each symbol's first and last key, from the index; `None` for a symbol with no bar.
    async fn key_span(
        &self,
        tf: Timeframe,
        symbols: &[String],
    ) -> Result<Vec<(String, Option<(String, String)>)>, StoreError> {
        let (table, col) = (tf.table(), time_column(tf));
        match &self.pool {
            Pool::Postgres(p, schema) => {
                let naive = schema.ohlcv[tf_index(tf)].naive_time;
                let rows = sqlx::query(&format!(
                    "SELECT s.symbol,
                            (SELECT min({col}) FROM {table} t WHERE t.symbol = s.symbol),
                            (SELECT max({col}) FROM {table} t WHERE t.symbol = s.symbol)
                       FROM unnest($1::text[]) AS s(symbol)"
                ))
                .bind(symbols)
                .fetch_all(p)
                .await
                .map_err(|e| self.err(e))?;
                rows.iter()
                    .map(|r| {
                        let at = |i: usize| -> Result<Option<String>, sqlx::Error> {
                            Ok(if naive {
                                r.try_get::<Option<NaiveDateTime>, _>(i)?
                                    .map(|t| format_instant(t.and_utc()))
                            } else {
                                r.try_get::<Option<DateTime<Utc>>, _>(i)?
                                    .map(format_instant)
                            })
                        };
                        Ok((r.try_get(0)?, at(1)?.zip(at(2)?)))
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(|e| self.err(e))
            }
            Pool::Sqlite(p, _) => {
                // One aggregate per statement: SQLite answers a lone min() or max() from
                // the index.
                let min = format!("SELECT min({col}) FROM {table} WHERE symbol = ?1");
                let max = format!("SELECT max({col}) FROM {table} WHERE symbol = ?1");
                let mut out = Vec::with_capacity(symbols.len());
                for s in symbols {
                    let a: Option<String> = sqlx::query_scalar(&min)
                        .bind(s)
                        .fetch_one(p)
                        .await
                        .map_err(|e| self.err(e))?;
                    let b: Option<String> = sqlx::query_scalar(&max)
                        .bind(s)
                        .fetch_one(p)
                        .await
                        .map_err(|e| self.err(e))?;
                    out.push((s.clone(), a.zip(b)));
                }
                Ok(out)
            }
        }
    }

    /// `bar_counts` per symbol (of `symbols` when given).
    async fn summary(
        &self,
        tf: Timeframe,
        symbols: Option<&[String]>,
    ) -> Result<Summary, StoreError> {
        let filter = if symbols.is_some() {
            " AND symbol = ANY($2)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT symbol, sum(bars), min(day), max(day) FROM bar_counts
              WHERE timeframe = $1{filter} GROUP BY symbol"
        );
        let mut out = Summary::new();
        match &self.pool {
            Pool::Postgres(p, _) => {
                let sql = sql.replace("sum(bars)", "sum(bars)::int8");
                let mut q = sqlx::query(&sql).bind(tf.wire_name());
                if let Some(list) = symbols {
                    q = q.bind(list);
                }
                for r in q.fetch_all(p).await.map_err(|e| self.err(e))? {
                    let row: (String, i64, NaiveDate, NaiveDate) = (
                        r.try_get(0).map_err(|e| self.err(e))?,
                        r.try_get(1).map_err(|e| self.err(e))?,
                        r.try_get(2).map_err(|e| self.err(e))?,
                        r.try_get(3).map_err(|e| self.err(e))?,
                    );
                    out.insert(row.0, (row.1, row.2, row.3));
                }
            }
            Pool::Sqlite(p, _) => {
                let sql = "SELECT symbol, sum(bars), min(day), max(day) FROM bar_counts
                            WHERE timeframe = ?1 GROUP BY symbol";
                let rows: Vec<(String, i64, String, String)> = sqlx::query_as(sql)
                    .bind(tf.wire_name())
                    .fetch_all(p)
                    .await
                    .map_err(|e| self.err(e))?;
                for (s, n, a, b) in rows {
                    if symbols.is_some_and(|l| !l.contains(&s)) {
                        continue;
                    }
                    if let (Some(a), Some(b)) = (key_day(&a), key_day(&b)) {
                        out.insert(s, (n, a, b));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Rows of one symbol outside the counted days `[from, to]` (all rows when `None`).
    async fn count_outside(
        &self,
        tf: Timeframe,
        symbol: &str,
        span: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<i64, StoreError> {
        let (table, col) = (tf.table(), time_column(tf));
        let (lo, hi) = match span {
            Some((a, b)) => (midnight(a), midnight(b + Duration::days(1))),
            // Nothing is inside an empty span.
            None => (midnight(NaiveDate::MAX), midnight(NaiveDate::MAX)),
        };
        let sql = format!(
            "SELECT count(*) FROM {table} WHERE symbol = $1 AND ({col} < $2 OR {col} >= $3)"
        );
        match &self.pool {
            Pool::Postgres(p, schema) => {
                if span.is_none() {
                    return sqlx::query_scalar(&format!(
                        "SELECT count(*) FROM {table} WHERE symbol = $1"
                    ))
                    .bind(symbol)
                    .fetch_one(p)
                    .await
                    .map_err(|e| self.err(e));
                }
                let q = sqlx::query_scalar(&sql).bind(symbol);
                let q = if schema.ohlcv[tf_index(tf)].naive_time {
                    q.bind(lo.naive_utc()).bind(hi.naive_utc())
                } else {
                    q.bind(lo).bind(hi)
                };
                q.fetch_one(p).await.map_err(|e| self.err(e))
            }
            Pool::Sqlite(p, _) => {
                if span.is_none() {
                    return sqlx::query_scalar(&format!(
                        "SELECT count(*) FROM {table} WHERE symbol = ?1"
                    ))
                    .bind(symbol)
                    .fetch_one(p)
                    .await
                    .map_err(|e| self.err(e));
                }
                sqlx::query_scalar(&sql.replace('$', "?"))
                    .bind(symbol)
                    .bind(format_instant(lo))
                    .bind(format_instant(hi))
                    .fetch_one(p)
                    .await
                    .map_err(|e| self.err(e))
            }
        }
    }

    /// [`Store::symbol_spans`] from `bar_counts` and the index; `None` when the counts
    /// cannot answer (a dated timeframe, counts incomplete or missing).
    pub(crate) async fn fast_symbol_spans(
        &self,
        tf: Timeframe,
        symbols: Option<&[String]>,
    ) -> Result<Option<Vec<SymbolSpan>>, StoreError> {
        if !self.counts_complete(tf).await {
            return Ok(None);
        }
        let list = match symbols {
            Some(l) => l.to_vec(),
            None => self.distinct_symbols(tf).await?,
        };
        if list.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let summary = self.summary(tf, symbols).await?;
        let mut out = Vec::with_capacity(list.len());
        for (symbol, span) in self.key_span(tf, &list).await? {
            let Some((first, last)) = span else {
                continue;
            };
            let counted = summary.get(&symbol);
            let (Some(a), Some(b)) = (key_day(&first), key_day(&last)) else {
                continue;
            };
            let bars = match counted {
                Some(&(n, lo, hi)) if a >= lo && b <= hi => n,
                Some(&(n, lo, hi)) => n + self.count_outside(tf, &symbol, Some((lo, hi))).await?,
                None => self.count_outside(tf, &symbol, None).await?,
            };
            out.push(SymbolSpan {
                symbol,
                timeframe: tf,
                first,
                last,
                bars,
            });
        }
        Ok(Some(out))
    }

    /// [`Store::coverage`] of one table from the counts; `None` when they cannot answer.
    pub(crate) async fn fast_table_coverage(
        &self,
        tf: Timeframe,
    ) -> Result<Option<TableCoverage>, StoreError> {
        let Some(spans) = self.fast_symbol_spans(tf, None).await? else {
            return Ok(None);
        };
        Ok(Some(TableCoverage {
            table: tf.table().to_string(),
            timeframe: tf,
            rows: spans.iter().map(|s| s.bars).sum(),
            symbols: spans.len() as i64,
            earliest: spans.iter().map(|s| s.first.clone()).min(),
            latest: spans.iter().map(|s| s.last.clone()).max(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_utc_day() {
        assert_eq!(
            key_day("2024-03-12T01:30:00Z"),
            NaiveDate::from_ymd_opt(2024, 3, 12)
        );
        assert_eq!(key_day("x"), None);
        assert!(counted(Timeframe::Minute) && counted(Timeframe::Hour));
        assert!(!counted(Timeframe::Day));
    }
}
