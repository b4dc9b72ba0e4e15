//! Completeness per symbol and month, for the page's heat map (symbols x months): bars
//! stored against the bars the NYSE calendar expects in each month, up to the last closed
//! session, counted from the symbol's first stored bar (months wholly before it are `null`:
//! not loaded, not missing).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;

use crate::completeness::{key_date, rating, SymbolPage};
use crate::store::Store;
use tickstock_protocol::calendar::{self, Session};
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::timeframe::Timeframe;

/// Most symbols one page of the heat map shows.
pub const MAX_SYMBOLS: usize = 200;

/// One symbol's month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthCell {
    pub bars: i64,
    pub expected: u64,
    /// `bars / expected` (at most 1); `None` before the symbol's first bar or when the
    /// month expects nothing.
    pub completeness: Option<f64>,
    pub rating: Option<&'static str>,
}

/// One symbol's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatRow {
    pub symbol: String,
    pub cells: Vec<MonthCell>,
}

/// The heat map: `months` are the columns (`YYYY-MM`), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatMap {
    pub timeframe: Timeframe,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub months: Vec<String>,
    pub rows: Vec<HeatRow>,
    /// Symbols the filter picks in all; the rows are those from `offset` on.
    pub total: usize,
    pub offset: usize,
    /// Symbols picked after the rows' page.
    pub more: usize,
}

fn month_of(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// Completeness of `symbols` (every stored symbol when `None`) in `tf` (1min, hour or
/// day) over the last `months` months to the last closed session as of `now`: of those
/// symbols, by ticker, the page `page` picks (at most [`MAX_SYMBOLS`]).
pub async fn monthly(
    store: &Store,
    symbols: Option<&[String]>,
    page: &SymbolPage,
    tf: Timeframe,
    months: u32,
    now: DateTime<Utc>,
) -> Result<HeatMap> {
    if tf.is_dated() && tf != Timeframe::Day {
        return Err(Error::invalid(
            "the heat map shows 1min, hour or day bars (weeks and months are too coarse)",
        ));
    }
    let months = months.clamp(1, 120);
    let to = calendar::last_closed_session(now, tickstock_protocol::calendar::FINAL_BAR_DELAY);
    let first_month = to.with_day(1).expect("the 1st") - Months::new(months - 1);
    let mut spans = store.symbol_spans(tf, symbols).await?;
    spans.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let page = SymbolPage {
        limit: page.limit.clamp(1, MAX_SYMBOLS),
        ..page.clone()
    };
    let (total, offset, spans) = page.select(spans, |s| s.symbol.as_str());
    let more = total - offset - spans.len();

    // Bars each session of the window expects, by day.
    let sessions: Vec<(NaiveDate, u64)> = calendar::trading_days(first_month, to)
        .into_iter()
        .map(|d| {
            let n = match (tf, Session::of(d)) {
                (Timeframe::Minute, Some(s)) => u64::from(s.minutes()),
                (Timeframe::Hour, Some(s)) => u64::from(s.hours()),
                _ => 1,
            };
            (d, n)
        })
        .collect();
    // Months with no session yet (none: `to` is a session) still get a column.
    let mut columns = Vec::new();
    let mut m = first_month;
    while m <= to {
        columns.push(month_of(m));
        m = m + Months::new(1);
    }
    let names: Vec<String> = spans.iter().map(|s| s.symbol.clone()).collect();
    let counts: HashMap<(String, String), i64> = store
        .month_counts(tf, &names, first_month, to)
        .await?
        .into_iter()
        .map(|(s, m, n)| ((s, m), n))
        .collect();
    let rows = spans
        .iter()
        .map(|span| {
            let first_day = key_date(&span.first);
            let first = first_day.map(month_of);
            let cells = columns
                .iter()
                .map(|m| {
                    // Sessions from the first bar on: a symbol loaded from mid-month is
                    // not short of the days before it.
                    let exp: u64 = sessions
                        .iter()
                        .filter(|(d, _)| month_of(*d) == *m && first_day.is_none_or(|f| *d >= f))
                        .map(|(_, n)| n)
                        .sum();
                    let bars = counts
                        .get(&(span.symbol.clone(), m.clone()))
                        .copied()
                        .unwrap_or(0);
                    let before = first.as_ref().is_some_and(|f| m < f);
                    let completeness =
                        (!before && exp > 0).then(|| (bars as f64 / exp as f64).min(1.0));
                    MonthCell {
                        bars,
                        expected: exp,
                        completeness,
                        rating: completeness.map(rating),
                    }
                })
                .collect();
            HeatRow {
                symbol: span.symbol.clone(),
                cells,
            }
        })
        .collect();
    Ok(HeatMap {
        timeframe: tf,
        from: first_month,
        to,
        months: columns,
        rows,
        total,
        offset,
        more,
    })
}
