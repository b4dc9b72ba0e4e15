//! The `split_checks` table (splits seen for stored symbols and whether their bars need a
//! reload), and the one stored bar a split check compares with Polygon's. Dates are `DATE`
//! on PostgreSQL and `YYYY-MM-DD` text on SQLite, times `TIMESTAMPTZ` and RFC 3339 text.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use super::{
    format_date, format_instant, normalise_symbol, tf_index, time_column, Pool, Store, StoreError,
    StoredBar,
};
use tickstock_protocol::timeframe::Timeframe;

/// One split of one stored symbol and what it means for the stored bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitCheckRow {
    pub symbol: String,
    pub execution_date: NaiveDate,
    pub split_from: f64,
    pub split_to: f64,
    /// `upcoming`, `unaffected`, `flagged`, `reloading` or `reloaded`.
    pub state: String,
    /// Why, in a few words (the prices compared, the job's end).
    pub detail: Option<String>,
    /// The jobs reloading the symbol's bars.
    pub reload_jobs: Vec<String>,
    pub seen_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "symbol, execution_date, split_from, split_to, state, detail, reload_jobs, seen_at, updated_at";

fn jobs_text(jobs: &[String]) -> Option<String> {
    (!jobs.is_empty()).then(|| jobs.join(","))
}

fn jobs_list(text: Option<String>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn parse_stamp(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Split checks of `symbols` (all when `None`), by symbol and date.
    pub async fn split_checks(
        &self,
        symbols: Option<&[String]>,
    ) -> Result<Vec<SplitCheckRow>, StoreError> {
        let text = format!("SELECT {COLUMNS} FROM split_checks ORDER BY symbol, execution_date");
        let mut out = match &self.pool {
            Pool::Postgres(p, _) => {
                let rows = sqlx::query(&text)
                    .fetch_all(p)
                    .await
                    .map_err(|e| self.err(e))?;
                rows.iter()
                    .map(|r| {
                        Ok(SplitCheckRow {
                            symbol: r.try_get(0)?,
                            execution_date: r.try_get(1)?,
                            split_from: r.try_get(2)?,
                            split_to: r.try_get(3)?,
                            state: r.try_get(4)?,
                            detail: r.try_get(5)?,
                            reload_jobs: jobs_list(r.try_get(6)?),
                            seen_at: r.try_get(7)?,
                            updated_at: r.try_get(8)?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(|e| self.err(e))?
            }
            Pool::Sqlite(p, _) => {
                let rows = sqlx::query(&text)
                    .fetch_all(p)
                    .await
                    .map_err(|e| self.err(e))?;
                rows.iter()
                    .map(|r| {
                        let date: String = r.try_get(1)?;
                        Ok(SplitCheckRow {
                            symbol: r.try_get(0)?,
                            execution_date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                                .unwrap_or_default(),
                            split_from: r.try_get(2)?,
                            split_to: r.try_get(3)?,
                            state: r.try_get(4)?,
                            detail: r.try_get(5)?,
                            reload_jobs: jobs_list(r.try_get(6)?),
                            seen_at: parse_stamp(r.try_get(7)?),
                            updated_at: parse_stamp(r.try_get(8)?),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(|e| self.err(e))?
            }
        };
        if let Some(list) = symbols {
            out.retain(|r| list.iter().any(|s| s.eq_ignore_ascii_case(&r.symbol)));
        }
        Ok(out)
    }

    /// Inserts a split check or updates its state, detail and jobs (`seen_at` is kept).
    pub async fn upsert_split_check(&self, row: &SplitCheckRow) -> Result<(), StoreError> {
        let symbol = normalise_symbol(&row.symbol)?;
        let text = "INSERT INTO split_checks
                (symbol, execution_date, split_from, split_to, state, detail, reload_jobs, seen_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                ON CONFLICT (symbol, execution_date) DO UPDATE SET
                    split_from = excluded.split_from, split_to = excluded.split_to,
                    state = excluded.state, detail = excluded.detail,
                    reload_jobs = excluded.reload_jobs, updated_at = excluded.updated_at";
        let now = Utc::now();
        let r = match &self.pool {
            Pool::Postgres(p, _) => sqlx::query(text)
                .bind(&symbol)
                .bind(row.execution_date)
                .bind(row.split_from)
                .bind(row.split_to)
                .bind(&row.state)
                .bind(&row.detail)
                .bind(jobs_text(&row.reload_jobs))
                .bind(now)
                .execute(p)
                .await
                .map(|_| ()),
            Pool::Sqlite(p, _) => sqlx::query(&text.replace('$', "?"))
                .bind(&symbol)
                .bind(format_date(row.execution_date))
                .bind(row.split_from)
                .bind(row.split_to)
                .bind(&row.state)
                .bind(&row.detail)
                .bind(jobs_text(&row.reload_jobs))
                .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .execute(p)
                .await
                .map(|_| ()),
        };
        r.map_err(|e| self.err(e))
    }

    /// The last stored bar of one symbol and timeframe whose New York date is before
    /// `date`, if any (an index range read backwards, one row).
    pub async fn bar_before(
        &self,
        symbol: &str,
        tf: Timeframe,
        date: NaiveDate,
    ) -> Result<Option<StoredBar>, StoreError> {
        let symbol = normalise_symbol(symbol)?;
        let (table, col) = (tf.table(), time_column(tf));
        let sql = |cast: &str| {
            format!(
                "SELECT {col}, open{cast}, high{cast}, low{cast}, close{cast}, volume{cast} FROM {table}
                  WHERE symbol = $1 AND {col} < $2 ORDER BY {col} DESC LIMIT 1"
            )
        };
        match &self.pool {
            Pool::Postgres(p, schema) => {
                let shape = schema.ohlcv[tf_index(tf)];
                let sql = sql("::float8");
                let q = sqlx::query(&sql).bind(&symbol);
                let q = if tf.is_dated() {
                    q.bind(date)
                } else if shape.naive_time {
                    q.bind(super::ny_midnight(date).naive_utc())
                } else {
                    q.bind(super::ny_midnight(date))
                };
                let Some(r) = q.fetch_optional(p).await.map_err(|e| self.err(e))? else {
                    return Ok(None);
                };
                let time = if tf.is_dated() {
                    r.try_get::<NaiveDate, _>(0).map(format_date)
                } else if shape.naive_time {
                    r.try_get::<NaiveDateTime, _>(0)
                        .map(|t| format_instant(t.and_utc()))
                } else {
                    r.try_get::<DateTime<Utc>, _>(0).map(format_instant)
                }
                .map_err(|e| self.err(e))?;
                let f = |i: usize| r.try_get::<f64, _>(i).map_err(|e| self.err(e));
                Ok(Some(StoredBar {
                    symbol,
                    time,
                    open: f(1)?,
                    high: f(2)?,
                    low: f(3)?,
                    close: f(4)?,
                    volume: f(5)?,
                }))
            }
            Pool::Sqlite(p, _) => {
                let bound = if tf.is_dated() {
                    format_date(date)
                } else {
                    format_instant(super::ny_midnight(date))
                };
                let Some(r) = sqlx::query(&sql("").replace('$', "?"))
                    .bind(&symbol)
                    .bind(bound)
                    .fetch_optional(p)
                    .await
                    .map_err(|e| self.err(e))?
                else {
                    return Ok(None);
                };
                let f = |i: usize| r.try_get::<f64, _>(i).map_err(|e| self.err(e));
                Ok(Some(StoredBar {
                    symbol,
                    time: r.try_get(0).map_err(|e| self.err(e))?,
                    open: f(1)?,
                    high: f(2)?,
                    low: f(3)?,
                    close: f(4)?,
                    volume: f(5)?,
                }))
            }
        }
    }
}
