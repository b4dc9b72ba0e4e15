//! Is the data complete and current? Per symbol and timeframe: what is stored against what
//! the NYSE calendar says there should be ([`tickstock_protocol::calendar`]), the sessions missing in a
//! range (holidays and the afternoons of early closes are not gaps), and a rating of the
//! whole as TickStock's import check rated it (good, partial, poor).
//!
//! Expected bars assume a symbol trades every session; a thinly traded symbol has minutes
//! without a trade, so minute and hour sessions with fewer bars than the session's length
//! are reported as `partial`, apart from the sessions with no bar at all, the gaps.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::store::Store;
use tickstock_protocol::calendar::{self, Session};
use tickstock_protocol::error::Result;
use tickstock_protocol::timeframe::Timeframe;

/// Completeness at or above this is `good`, at or above [`PARTIAL_AT`] `partial`.
pub const GOOD_AT: f64 = 0.99;
pub const PARTIAL_AT: f64 = 0.90;

/// TickStock's import-check rating of a completeness ratio.
pub fn rating(completeness: f64) -> &'static str {
    if completeness >= GOOD_AT {
        "good"
    } else if completeness >= PARTIAL_AT {
        "partial"
    } else {
        "poor"
    }
}

/// One symbol and timeframe: stored against expected between its first and last bar, and
/// how many sessions have closed since the last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolCoverage {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// First and last stored key (`YYYY-MM-DD`, or an RFC 3339 instant for 1min/hour).
    pub first: String,
    pub last: String,
    pub bars: i64,
    pub expected: u64,
    /// `bars / expected`, at most 1.
    pub completeness: f64,
    pub rating: &'static str,
    /// Sessions closed since the last stored bar's session.
    pub sessions_behind: u64,
}

/// The New York trading date of a stored key.
pub fn key_date(key: &str) -> Option<NaiveDate> {
    if key.len() == 10 {
        return NaiveDate::parse_from_str(key, "%Y-%m-%d").ok();
    }
    DateTime::parse_from_rfc3339(key)
        .ok()
        .map(|t| tickstock_protocol::bars::ny_date(t.timestamp_millis()))
}

/// Coverage of `symbols` (every stored symbol when `None`) in each of `timeframes`, as of
/// `now`.
pub async fn coverage(
    store: &Store,
    symbols: Option<&[String]>,
    timeframes: &[Timeframe],
    now: DateTime<Utc>,
) -> Result<Vec<SymbolCoverage>> {
    let last_closed =
        calendar::last_closed_session(now, tickstock_protocol::calendar::FINAL_BAR_DELAY);
    let mut out = Vec::new();
    for &tf in timeframes {
        for span in store.symbol_spans(tf, symbols).await? {
            let (Some(first), Some(last)) = (key_date(&span.first), key_date(&span.last)) else {
                continue;
            };
            // Holes between the first and the last bar; how far behind it is, apart.
            let expected = calendar::expected_bars(tf, first, last);
            let completeness = if expected == 0 {
                1.0
            } else {
                (span.bars as f64 / expected as f64).min(1.0)
            };
            let behind = if last < last_closed {
                calendar::trading_days(last.succ_opt().unwrap_or(last), last_closed).len() as u64
            } else {
                0
            };
            out.push(SymbolCoverage {
                symbol: span.symbol,
                timeframe: tf,
                first: span.first,
                last: span.last,
                bars: span.bars,
                expected,
                completeness,
                rating: rating(completeness),
                sessions_behind: behind,
            });
        }
    }
    Ok(out)
}

/// A run of consecutive sessions (or weeks, months) with no bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Sessions (weeks, months for those timeframes) in the run.
    pub sessions: u32,
}

/// The import check of one symbol and timeframe over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapReport {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// The range checked: as asked, its end moved back to the last closed session.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub expected: u64,
    pub bars: u64,
    pub completeness: f64,
    pub rating: &'static str,
    /// Sessions with no bar, merged into runs.
    pub gaps: Vec<Gap>,
    /// Minute or hour sessions with some bars but fewer than the session's length.
    pub partial_sessions: Vec<NaiveDate>,
}

/// The sessions of `[from, to]` missing from one symbol's `tf` bars.
pub async fn gaps(
    store: &Store,
    symbol: &str,
    tf: Timeframe,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<GapReport> {
    let to = to.min(calendar::last_closed_session(
        now,
        tickstock_protocol::calendar::FINAL_BAR_DELAY,
    ));
    let keys = if to >= from {
        store.bar_keys(symbol, tf, from, to).await?
    } else {
        Vec::new()
    };
    // Bars per period (session, week or month).
    let mut per: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for k in &keys {
        if let Some(d) = key_date(k) {
            *per.entry(calendar::period_start(tf, d)).or_default() += 1;
        }
    }
    let mut periods: Vec<(NaiveDate, u64)> = Vec::new();
    for d in calendar::trading_days(from, to) {
        let p = calendar::period_start(tf, d);
        let len = match (tf, Session::of(d)) {
            (Timeframe::Minute, Some(s)) => u64::from(s.minutes()),
            (Timeframe::Hour, Some(s)) => u64::from(s.hours()),
            _ => 1,
        };
        match periods.last_mut() {
            Some((last, _)) if *last == p => {}
            _ => periods.push((p, len)),
        }
    }
    let expected: u64 = periods.iter().map(|(_, n)| n).sum();
    let mut gaps: Vec<Gap> = Vec::new();
    let mut partial = Vec::new();
    let mut previous_missing = false;
    for (p, len) in &periods {
        let have = per.get(p).copied().unwrap_or(0);
        if have == 0 {
            match gaps.last_mut() {
                Some(g) if previous_missing => {
                    g.to = *p;
                    g.sessions += 1;
                }
                _ => gaps.push(Gap {
                    from: *p,
                    to: *p,
                    sessions: 1,
                }),
            }
            previous_missing = true;
        } else {
            if have < *len {
                partial.push(*p);
            }
            previous_missing = false;
        }
    }
    let bars = keys.len() as u64;
    let completeness = if expected == 0 {
        1.0
    } else {
        (bars as f64 / expected as f64).min(1.0)
    };
    Ok(GapReport {
        symbol: symbol.trim().to_ascii_uppercase(),
        timeframe: tf,
        from,
        to,
        expected,
        bars,
        completeness,
        rating: rating(completeness),
        gaps,
        partial_sessions: partial,
    })
}

/// Which symbols a coverage view shows: those its filter picks, by ticker, one page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolPage {
    /// Tickers or their prefixes, separated by commas or spaces (`IBM`, `AA, MS`); none or
    /// blank: every symbol.
    pub filter: Option<String>,
    /// Symbols of the filtered list skipped before the page.
    pub offset: usize,
    /// Most symbols on the page.
    pub limit: usize,
}

impl SymbolPage {
    /// The first `limit` symbols, unfiltered.
    pub fn first(limit: usize) -> Self {
        SymbolPage {
            filter: None,
            offset: 0,
            limit,
        }
    }

    /// The filter's prefixes, upper-cased.
    pub fn prefixes(&self) -> Vec<String> {
        self.filter
            .as_deref()
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|p| p.trim().to_ascii_uppercase())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Whether the filter picks `symbol`.
    pub fn matches(&self, symbol: &str) -> bool {
        picks(&self.prefixes(), symbol)
    }

    /// The page of `items` (in the order given) whose symbols the filter picks: how many it
    /// picks in all, the offset of the page (past the end: the last page's), the page.
    pub fn select<T>(&self, items: Vec<T>, symbol: impl Fn(&T) -> &str) -> (usize, usize, Vec<T>) {
        let prefixes = self.prefixes();
        let picked: Vec<T> = items
            .into_iter()
            .filter(|it| picks(&prefixes, symbol(it)))
            .collect();
        let total = picked.len();
        let limit = self.limit.max(1);
        let offset = if self.offset < total {
            self.offset
        } else {
            total.saturating_sub(1) / limit * limit
        };
        let page = picked.into_iter().skip(offset).take(limit).collect();
        (total, offset, page)
    }
}

fn picks(prefixes: &[String], symbol: &str) -> bool {
    let symbol = symbol.to_ascii_uppercase();
    prefixes.is_empty() || prefixes.iter().any(|p| symbol.starts_with(p.as_str()))
}

/// Most symbols one page of gaps checks in `tf`: every stored key of the range is read.
pub fn max_gap_symbols(tf: Timeframe) -> usize {
    match tf {
        Timeframe::Minute => 20,
        Timeframe::Hour => 50,
        _ => 100,
    }
}

/// One page of the gaps list: the import check of each symbol on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapsPage {
    /// The range checked, its end moved back to the last closed session.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Symbols the filter picks in all; the page holds those from `offset` on.
    pub total: usize,
    pub offset: usize,
    pub reports: Vec<GapReport>,
}

/// The gaps of one page of symbols in `[from, to]`: of `symbols`, or of every symbol with
/// `tf` bars stored when `None`, those `page` picks (at most [`max_gap_symbols`]).
pub async fn gaps_page(
    store: &Store,
    symbols: Option<&[String]>,
    page: &SymbolPage,
    tf: Timeframe,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<GapsPage> {
    let list: Vec<String> = match symbols {
        Some(l) => l.to_vec(),
        None => store
            .symbol_spans(tf, None)
            .await?
            .into_iter()
            .map(|s| s.symbol)
            .collect(),
    };
    let page = SymbolPage {
        limit: page.limit.clamp(1, max_gap_symbols(tf)),
        ..page.clone()
    };
    let (total, offset, names) = page.select(list, |s| s.as_str());
    let mut reports = Vec::with_capacity(names.len());
    for s in &names {
        reports.push(gaps(store, s, tf, from, to, now).await?);
    }
    let to = to.min(calendar::last_closed_session(
        now,
        tickstock_protocol::calendar::FINAL_BAR_DELAY,
    ));
    Ok(GapsPage {
        from,
        to,
        total,
        offset,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_follow_tickstocks_import_check() {
        assert_eq!(rating(1.0), "good");
        assert_eq!(rating(0.995), "good");
        assert_eq!(rating(0.95), "partial");
        assert_eq!(rating(0.5), "poor");
    }

    #[test]
    fn a_symbol_page_filters_by_prefix_and_pages_what_it_picks() {
        let all: Vec<String> = (0..503).map(|i| format!("S{i:03}")).collect();
        let page = |filter: Option<&str>, offset, limit| SymbolPage {
            filter: filter.map(str::to_string),
            offset,
            limit,
        };
        let (total, offset, shown) = page(None, 200, 200).select(all.clone(), |s| s);
        assert_eq!((total, offset, shown.len()), (503, 200, 200));
        assert_eq!((shown[0].as_str(), shown[199].as_str()), ("S200", "S399"));
        let (_, offset, shown) = page(None, 600, 200).select(all.clone(), |s| s);
        assert_eq!(
            (offset, shown.len()),
            (400, 103),
            "past the end: the last page"
        );
        let (total, offset, shown) = page(Some(" s45, s500 "), 0, 200).select(all.clone(), |s| s);
        assert_eq!((total, offset), (11, 0));
        assert_eq!((shown[0].as_str(), shown[10].as_str()), ("S450", "S500"));
        let (total, _, shown) = page(Some("IBM"), 40, 200).select(all, |s| s);
        assert_eq!((total, shown.len()), (0, 0), "nothing picked");
        assert!(page(Some("ib"), 0, 1).matches("IBM"));
        assert!(!page(Some("IBMX"), 0, 1).matches("IBM"));
    }

    #[test]
    fn keys_map_to_new_york_dates() {
        assert_eq!(key_date("2024-03-11"), NaiveDate::from_ymd_opt(2024, 3, 11));
        // 01:30 UTC on the 12th is the evening of the 11th in New York.
        assert_eq!(
            key_date("2024-03-12T01:30:00Z"),
            NaiveDate::from_ymd_opt(2024, 3, 11)
        );
    }
}
