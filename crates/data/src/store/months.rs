//! Bars per symbol and month, for the completeness heat map: from `bar_counts` for the
//! minute and hour tables when the counts are complete, else from the OHLCV table (an
//! index range per symbol). Months are `YYYY-MM`: New York trading months for dated bars,
//! UTC months for instants (the same for regular-hours bars).

use chrono::NaiveDate;

use super::{
    format_date, format_instant, normalise_symbol, tf_index, time_column, Pool, Store, StoreError,
};
use tickstock_protocol::timeframe::Timeframe;

impl Store {
    /// `(symbol, month, bars)` of `symbols` between `from` and `to` (both included).
    pub async fn month_counts(
        &self,
        tf: Timeframe,
        symbols: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut out = Vec::new();
        let end = to.succ_opt().unwrap_or(to);
        let summary = super::bar_counts::counted(tf) && self.counts_complete(tf).await;
        for s in symbols {
            let symbol = normalise_symbol(s)?;
            let rows: Vec<(String, i64)> = match &self.pool {
                Pool::Postgres(p, schema) => {
                    let (table, col) = (tf.table(), time_column(tf));
                    if summary {
                        sqlx::query_as(
                            "SELECT to_char(day, 'YYYY-MM'), sum(bars)::int8 FROM bar_counts
                              WHERE timeframe = $1 AND symbol = $2 AND day >= $3 AND day < $4
                              GROUP BY 1",
                        )
                        .bind(tf.wire_name())
                        .bind(&symbol)
                        .bind(from)
                        .bind(end)
                        .fetch_all(p)
                        .await
                    } else if tf.is_dated() {
                        sqlx::query_as(&format!(
                            "SELECT to_char({col}, 'YYYY-MM'), count(*) FROM {table}
                              WHERE symbol = $1 AND {col} >= $2 AND {col} < $3 GROUP BY 1"
                        ))
                        .bind(&symbol)
                        .bind(from)
                        .bind(end)
                        .fetch_all(p)
                        .await
                    } else {
                        let naive = schema.ohlcv[tf_index(tf)].naive_time;
                        let month = if naive {
                            format!("to_char({col}, 'YYYY-MM')")
                        } else {
                            format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM')")
                        };
                        let sql = format!(
                            "SELECT {month}, count(*) FROM {table}
                              WHERE symbol = $1 AND {col} >= $2 AND {col} < $3 GROUP BY 1"
                        );
                        let (a, b) = (
                            from.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
                            end.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
                        );
                        let q = sqlx::query_as(&sql).bind(&symbol);
                        if naive {
                            q.bind(a.naive_utc()).bind(b.naive_utc()).fetch_all(p).await
                        } else {
                            q.bind(a).bind(b).fetch_all(p).await
                        }
                    }
                }
                Pool::Sqlite(p, _) => {
                    let (table, col) = (tf.table(), time_column(tf));
                    if summary {
                        sqlx::query_as(
                            "SELECT substr(day, 1, 7), sum(bars) FROM bar_counts
                              WHERE timeframe = ?1 AND symbol = ?2 AND day >= ?3 AND day < ?4
                              GROUP BY 1",
                        )
                        .bind(tf.wire_name())
                        .bind(&symbol)
                        .bind(format_date(from))
                        .bind(format_date(end))
                        .fetch_all(p)
                        .await
                    } else {
                        let (a, b) = if tf.is_dated() {
                            (format_date(from), format_date(end))
                        } else {
                            (
                                format_instant(
                                    from.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
                                ),
                                format_instant(
                                    end.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
                                ),
                            )
                        };
                        sqlx::query_as(&format!(
                            "SELECT substr({col}, 1, 7), count(*) FROM {table}
                              WHERE symbol = ?1 AND {col} >= ?2 AND {col} < ?3 GROUP BY 1"
                        ))
                        .bind(&symbol)
                        .bind(a)
                        .bind(b)
                        .fetch_all(p)
                        .await
                    }
                }
            }
            .map_err(|e| self.err(e))?;
            out.extend(rows.into_iter().map(|(m, n)| (symbol.clone(), m, n)));
        }
        out.sort();
        Ok(out)
    }
}
