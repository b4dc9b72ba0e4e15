//! Reading the job history at scale: [`HistoryQuery`] says which rows (filters and a
//! search), in which order and where (first page, after or before a row, a page number,
//! a date); [`crate::store::Store::history_page`] answers with a [`HistoryPage`] on either
//! database.
//!
//! Paging is by keyset: a page after or before a row (its [`HistoryPage::next`] /
//! [`HistoryPage::prev`] cursor) stays the same while new jobs arrive, and costs the same
//! on the last page as on the first. A jump to a page number or a date finds where to
//! start once, then paging goes on by cursor.
//!
//! The search matches, case-insensitively: the start of a job id, a symbol the job names
//! (universe jobs carry their resolved symbols), a universe key (`DOW30`, one key of a
//! joined `SPY:nasdaq100`), a status word (`failed`, `pending`) and a kind word
//! (`historical`, `universe`, `multi`, `csv`, `top-up`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::store::JobRun;
use tickstock_protocol::error::{quote_input, Error, Result};
use tickstock_protocol::job::JobType;
use tickstock_protocol::status::JobState;

/// The order of a history page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySort {
    /// By submit time (jobs with none last).
    #[default]
    Submitted,
    /// By run time, completed minus started (jobs not finished last).
    Duration,
    /// By bars loaded.
    Bars,
}

impl std::str::FromStr for HistorySort {
    type Err = Error;
    fn from_str(s: &str) -> Result<HistorySort> {
        match s.trim().to_ascii_lowercase().as_str() {
            "submitted" | "submitted_at" | "time" => Ok(HistorySort::Submitted),
            "duration" => Ok(HistorySort::Duration),
            "bars" | "bars_loaded" => Ok(HistorySort::Bars),
            _ => Err(Error::invalid(format!(
                "Unknown sort {}: use submitted, duration or bars",
                quote_input(s)
            ))),
        }
    }
}

/// Where a history page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryPosition {
    #[default]
    First,
    /// The page after the row of this cursor ([`HistoryPage::next`]).
    After(String),
    /// The page before the row of this cursor ([`HistoryPage::prev`]).
    Before(String),
    /// The `n`th page (0-based) as things stand now; past the last page, the last
    /// ([`HistoryPage::past_end`] says so).
    Page(u32),
    /// The page where this date (UTC) begins: in newest-first order the newest job
    /// submitted on it or before; oldest first, the first submitted on it or after. Only
    /// for [`HistorySort::Submitted`].
    Date(NaiveDate),
}

/// Which job runs, in which order, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryQuery {
    /// Words matched against id prefix, symbols, universe keys, status and kind.
    pub search: Option<String>,
    pub status: Option<String>,
    /// A job type (`historical_load`, ...).
    pub kind: Option<String>,
    pub requested_by: Option<String>,
    /// Submitted at or after.
    pub since: Option<DateTime<Utc>>,
    /// Submitted before.
    pub until: Option<DateTime<Utc>>,
    pub sort: HistorySort,
    /// Oldest (shortest, fewest) first; default newest first.
    pub ascending: bool,
    /// Rows per page, 1 to 1000 (0: 50).
    pub page_size: u32,
    pub at: HistoryPosition,
}

/// A page of history with the counts around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub items: Vec<JobRun>,
    /// Rows matching every filter.
    pub total: i64,
    /// Rows per status matching every filter but the status.
    pub counts: BTreeMap<String, i64>,
    /// Rows before this page.
    pub offset: i64,
    pub page_size: u32,
    /// Cursor of the last row, when more follow.
    pub next: Option<String>,
    /// Cursor of the first row, when rows come before it.
    pub prev: Option<String>,
    /// The page asked for (0-based) when it was past the last: the last page is given
    /// instead, and this says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_end: Option<u32>,
}

impl HistoryPage {
    /// This page's number (0-based) and how many pages there are.
    pub fn page_of(&self) -> (i64, i64) {
        let size = i64::from(self.page_size.max(1));
        (self.offset / size, (self.total + size - 1) / size)
    }
}

/// What a search term means, worked out once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Search {
    /// Lower case, for id prefixes and universe keys.
    pub lower: String,
    /// Upper case, for symbols.
    pub upper: String,
    /// The status it names, if it is a status word.
    pub status: Option<String>,
    /// The kinds it names, if it is a kind word.
    pub kinds: Vec<&'static str>,
}

impl Search {
    pub(crate) fn parse(s: &str) -> Option<Search> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let lower = s.to_lowercase();
        let squashed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        let kinds = if squashed.len() >= 3 {
            JobType::ALL
                .iter()
                .map(|k| k.as_str())
                .filter(|k| k.replace('_', "").contains(&squashed))
                .collect()
        } else {
            Vec::new()
        };
        Some(Search {
            upper: s.to_uppercase(),
            status: JobState::parse(&lower).map(|st| st.as_str().to_string()),
            kinds,
            lower,
        })
    }
}

/// Rows per page, as the query asks (0: 50; at most 1000).
pub(crate) fn page_size(q: &HistoryQuery) -> u32 {
    match q.page_size {
        0 => 50,
        n => n.min(1000),
    }
}

/// A cursor: the row's sort key and id. Submit times are kept as Unix microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub key: i64,
    pub id: String,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        format!("{}~{}", self.key, self.id)
    }

    pub(crate) fn decode(s: &str) -> Result<Cursor> {
        s.split_once('~')
            .and_then(|(k, id)| {
                Some(Cursor {
                    key: k.parse().ok()?,
                    id: id.to_string(),
                })
            })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Cursor {} is not one a history page gave",
                    quote_input(s)
                ))
            })
    }
}

/// Unix microseconds as a time (the epoch for anything out of range).
pub(crate) fn micros_to_time(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_name_statuses_and_kinds() {
        let s = Search::parse(" Failed ").unwrap();
        assert_eq!(s.status.as_deref(), Some("failed"));
        assert_eq!(s.upper, "FAILED");
        assert_eq!(
            Search::parse("universe").unwrap().kinds,
            vec!["universe_seed", "csv_universe_load"]
        );
        assert_eq!(Search::parse("top-up").unwrap().kinds, vec!["top_up"]);
        assert!(Search::parse("AA").unwrap().kinds.is_empty());
        assert_eq!(Search::parse("  "), None);
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = Cursor {
            key: -5,
            id: "a~b".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let e = Cursor::decode("nonsense").unwrap_err();
        assert!(e.message().starts_with("Cursor"), "{}", e.message());
    }

    #[test]
    fn pages_count_from_the_offset() {
        let p = HistoryPage {
            items: vec![],
            total: 101,
            counts: BTreeMap::new(),
            offset: 100,
            page_size: 50,
            next: None,
            prev: None,
            past_end: None,
        };
        assert_eq!(p.page_of(), (2, 3));
    }
}
