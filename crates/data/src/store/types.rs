//! The values the store reads and writes: stored bars and what the OHLCV tables cover,
//! `symbols` rows, universes as listed, and job runs with their filter and page.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use tickstock_protocol::timeframe::Timeframe;

/// One stored bar as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBar {
    pub symbol: String,
    /// RFC 3339 UTC (`2024-03-11T13:30:00Z`) for 1min/hourly, `YYYY-MM-DD` for dated bars.
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// What one OHLCV table holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCoverage {
    pub table: String,
    pub timeframe: Timeframe,
    pub rows: i64,
    pub symbols: i64,
    /// Earliest key, formatted as [`StoredBar::time`]; `None` when the table is empty.
    pub earliest: Option<String>,
    pub latest: Option<String>,
}

/// One symbol's stored span in one OHLCV table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSpan {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// First and last key, formatted as [`StoredBar::time`].
    pub first: String,
    pub last: String,
    pub bars: i64,
}

/// A row of the `symbols` reference table (from Polygon's ticker reference).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolRecord {
    pub symbol: String,
    pub name: String,
    /// `stocks`, `crypto`, `fx`, `otc`, `indices`.
    pub market: String,
    /// Primary exchange MIC (`XNAS`); empty when unknown.
    pub exchange: String,
    /// Polygon's type code (`CS`, `ETF`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    pub active: bool,
    pub locale: Option<String>,
    pub currency: Option<String>,
    pub cik: Option<String>,
    pub composite_figi: Option<String>,
    pub share_class_figi: Option<String>,
    /// Polygon's `last_updated_utc` for the reference row.
    pub last_updated: Option<DateTime<Utc>>,
    pub market_cap: Option<f64>,
    pub weighted_shares_outstanding: Option<f64>,
    pub sic_code: Option<String>,
    pub sic_description: Option<String>,
    /// Derived from the SIC code ([`tickstock_protocol::sic::sector_of`]).
    pub sector: Option<String>,
    pub industry: Option<String>,
    pub list_date: Option<NaiveDate>,
    pub total_employees: Option<i64>,
    /// When a load last registered the row from Polygon (the reference list or ticker
    /// details); `None` keeps what is stored.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// When the row was described from ticker details, which alone have the SIC code (so
    /// sector and industry), market cap, list date and employees; `None` for a row from
    /// the reference list (it is described later, from spare requests).
    #[serde(default)]
    pub described_at: Option<DateTime<Utc>>,
    /// Values a column gets only where the row has none, by column name (TickStock's own
    /// defaults, e.g. `sector` `Unknown`, `country` `US`: [`crate::loader`]); a column the
    /// table lacks is skipped.
    #[serde(skip)]
    pub defaults: Vec<(&'static str, String)>,
}

/// One universe as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniverseSummary {
    /// Canonical key (`sp500`).
    pub key: String,
    /// Display name (`S&P 500`).
    pub name: String,
    /// `UNIVERSE`, `ETF`, ...
    pub kind: String,
    pub members: i64,
    pub as_of: Option<NaiveDate>,
}

/// One job's durable record (the job history the legacy system kept in memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub id: String,
    /// The job type (`historical_load`, ...).
    pub kind: String,
    /// The job message as submitted.
    pub params: serde_json::Value,
    pub status: String,
    /// 0–100.
    pub progress: i32,
    pub message: Option<String>,
    pub symbols_total: i64,
    pub symbols_ok: i64,
    pub symbols_failed: i64,
    pub bars_loaded: i64,
    /// `[{"symbol": .., "reason": ..}]`
    pub failed_symbols: serde_json::Value,
    pub error: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub worker: Option<String>,
    /// Polygon requests the job made, and those its plan estimated when it started
    /// (none from a worker that does not count them).
    pub polygon_requests: Option<i64>,
    pub polygon_requests_estimated: Option<i64>,
    /// Seconds the estimated requests take at the plan's rate (none when unlimited).
    pub seconds_estimated: Option<i64>,
}

impl JobRun {
    /// A run with this id, kind and params, status `submitted`, nothing done yet.
    pub fn new(id: impl Into<String>, kind: impl Into<String>, params: serde_json::Value) -> Self {
        JobRun {
            id: id.into(),
            kind: kind.into(),
            params,
            status: "submitted".into(),
            progress: 0,
            message: None,
            symbols_total: 0,
            symbols_ok: 0,
            symbols_failed: 0,
            bars_loaded: 0,
            failed_symbols: serde_json::Value::Array(Vec::new()),
            error: None,
            submitted_at: None,
            started_at: None,
            completed_at: None,
            worker: None,
            polygon_requests: None,
            polygon_requests_estimated: None,
            seconds_estimated: None,
        }
    }
}

/// Which job runs [`Store::list_job_runs`](super::Store::list_job_runs) returns. Empty
/// fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRunFilter {
    /// Start of the job id (case-insensitive).
    pub id_prefix: Option<String>,
    /// Jobs whose `params.symbols` contains this ticker.
    pub symbol: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// 0-based page number.
    pub page: u32,
    /// Rows per page, 1 to 1000 (0 means the default, 50).
    pub page_size: u32,
}

impl Default for JobRunFilter {
    fn default() -> Self {
        JobRunFilter {
            id_prefix: None,
            symbol: None,
            kind: None,
            status: None,
            page: 0,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

impl JobRunFilter {
    pub(crate) fn limit(&self) -> i64 {
        match self.page_size {
            0 => DEFAULT_PAGE_SIZE as i64,
            n => n.min(MAX_PAGE_SIZE) as i64,
        }
    }

    pub(crate) fn offset(&self) -> i64 {
        self.page as i64 * self.limit()
    }

    /// The filter with blank strings dropped and values normalised.
    pub(crate) fn normalised(&self) -> JobRunFilter {
        let clean = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        JobRunFilter {
            id_prefix: clean(&self.id_prefix).map(|s| s.to_lowercase()),
            symbol: clean(&self.symbol).map(|s| s.to_ascii_uppercase()),
            kind: clean(&self.kind),
            status: clean(&self.status),
            page: self.page,
            page_size: self.page_size,
        }
    }
}

/// One page of job runs, newest first, and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRunPage {
    pub items: Vec<JobRun>,
    pub total: i64,
}
