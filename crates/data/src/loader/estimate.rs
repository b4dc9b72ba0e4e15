//! What a job will cost before it is submitted: Polygon requests and time at the plan's
//! rate, planned as the loader plans them ([`crate::loader`]):
//! - one aggregates listing per (symbol, timeframe), as many pages as its bars need at
//!   [`AGGREGATES_LIMIT`] bars a page (minute and hour bars counted over the extended
//!   session Polygon returns, 04:00–20:00, so the figure is an upper bound);
//! - daily bars from grouped daily (one request per trading day for every symbol at
//!   once) when the plan is rate-limited and that needs fewer requests, as the loader
//!   decides it (never for a top-up);
//! - a top-up is planned over its whole range: it loads only from each symbol's last
//!   stored bar, so it usually needs fewer;
//! - symbols not yet registered in `symbols` are registered from the reference list: one
//!   request each for a few, at most [`REGISTRATION_PAGES_MAX`] list pages for any number,
//!   told apart (`registration_requests_max`); [`estimate_job`] counts only the symbols
//!   the database does not hold registered. Their ticker details come later from spare
//!   requests and are not counted.

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use crate::loader::{
    resolve_for_publish, DEFAULT_SYMBOL_REFRESH, EXACT_LOOKUPS_UP_TO, FINAL_BAR_DELAY,
    REGISTRATION_PAGES_MAX,
};
use crate::polygon::AGGREGATES_LIMIT;
use crate::store::Store;
use tickstock_protocol::calendar::{expected_bars, last_closed_session, trading_days};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::{Job, JobSpec};
use tickstock_protocol::timeframe::Timeframe;

/// Bars Polygon returns a day at most for intraday bar sizes (04:00–20:00 New York).
const EXTENDED_MINUTES: u64 = 16 * 60;
const EXTENDED_HOURS: u64 = 16;

/// Requests and time a job will need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub symbols: u64,
    pub timeframes: Vec<Timeframe>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub trading_days: u64,
    /// Aggregates requests (pages included).
    pub aggregate_requests: u64,
    /// Grouped-daily requests (when daily bars come that way).
    pub grouped_daily_requests: u64,
    /// Whether daily bars come from grouped daily.
    pub grouped_daily: bool,
    /// Every request the bars need.
    pub requests: u64,
    /// At most this many reference-list requests more (symbols not yet registered).
    pub registration_requests_max: u64,
    /// The plan's rate; 0 = unlimited.
    pub requests_per_minute: u32,
    /// Time the requests take at the plan's rate; `None` when unlimited.
    pub seconds: Option<f64>,
}

impl Estimate {
    /// One line for an operator.
    pub fn summary(&self) -> String {
        let time = match self.seconds {
            Some(s) => format!(
                "about {} at {} requests a minute",
                tickstock_protocol::text::duration(s),
                self.requests_per_minute
            ),
            None => "no wait for a rate limit (unlimited plan)".to_string(),
        };
        let grouped = if self.grouped_daily {
            format!(
                " (daily bars through grouped daily: {})",
                tickstock_protocol::text::count(self.grouped_daily_requests, "request")
            )
        } else {
            String::new()
        };
        let registration = match self.registration_requests_max {
            0 => String::new(),
            n => format!(
                "; up to {} more for symbols not yet registered",
                tickstock_protocol::text::count(n, "reference-list request")
            ),
        };
        format!(
            "{} for {} x {} over {}{grouped}: {time}{registration}",
            tickstock_protocol::text::count(self.requests, "Polygon request"),
            tickstock_protocol::text::count(self.symbols, "symbol"),
            tickstock_protocol::text::count(self.timeframes.len() as u64, "timeframe"),
            tickstock_protocol::text::count(self.trading_days, "trading day"),
        )
    }
}

/// Reference-list requests that register `unregistered` symbols: one `ticker=` request
/// each for a few, at most [`REGISTRATION_PAGES_MAX`] list pages for any number.
fn registration_requests(unregistered: u64) -> u64 {
    if unregistered <= EXACT_LOOKUPS_UP_TO as u64 {
        unregistered
    } else {
        REGISTRATION_PAGES_MAX
    }
}

/// The estimate of `job` as the shells show it before submitting: a universe is resolved
/// against `store` (else the built-in lists), and registration counts only the symbols
/// `store` does not hold registered within the loader's default refresh age (all of them
/// without a store).
pub async fn estimate_job(
    job: Job,
    store: Option<&Store>,
    requests_per_minute: u32,
    today: NaiveDate,
) -> Result<Estimate> {
    let job = resolve_for_publish(job, store).await?;
    let symbols: Vec<String> = job
        .message_symbols()
        .or_else(|| job.spec.symbols().map(<[String]>::to_vec))
        .unwrap_or_default();
    let mut e = estimate(&job, symbols.len(), requests_per_minute, true, today);
    if e.registration_requests_max > 0 {
        if let Some(store) = store {
            // A database that cannot tell leaves the upper bound as it is.
            if let Ok(stale) = store
                .symbols_to_refresh(&symbols, DEFAULT_SYMBOL_REFRESH)
                .await
            {
                e.registration_requests_max = registration_requests(stale.len() as u64);
            }
        }
    }
    Ok(e)
}

/// Pages of one aggregates listing of `tf` over `[from, to]`.
fn pages(tf: Timeframe, from: NaiveDate, to: NaiveDate, days: u64) -> u64 {
    let bars = match tf {
        Timeframe::Minute => days * EXTENDED_MINUTES,
        Timeframe::Hour => days * EXTENDED_HOURS,
        _ => expected_bars(tf, from, to),
    };
    bars.div_ceil(u64::from(AGGREGATES_LIMIT)).max(1)
}

/// The estimate of `job` over `symbols` (resolved: a universe's members) at
/// `requests_per_minute` (0 = unlimited), with grouped daily as the loader's setting,
/// on `today`.
pub fn estimate(
    job: &Job,
    symbols: usize,
    requests_per_minute: u32,
    grouped_daily: bool,
    today: NaiveDate,
) -> Estimate {
    let (from, to) = job.spec.range().resolve(today);
    let last_closed = last_closed_session(Utc::now(), FINAL_BAR_DELAY);
    let days = trading_days(from, to.min(last_closed)).len() as u64;
    let timeframes = job.spec.timeframes();
    let loads_bars = !matches!(
        job.spec,
        JobSpec::CsvUniverse {
            include_ohlcv: false,
            ..
        }
    );
    let top_up = matches!(job.spec, JobSpec::TopUp { .. });
    let n = symbols as u64;
    let use_grouped = grouped_daily
        && !top_up
        && requests_per_minute > 0
        && timeframes.contains(&Timeframe::Day)
        && days < n;
    let mut aggregate_requests = 0;
    let mut grouped_daily_requests = 0;
    if loads_bars {
        for tf in &timeframes {
            if *tf == Timeframe::Day && use_grouped {
                grouped_daily_requests = days;
            } else {
                aggregate_requests += n * pages(*tf, from, to, days);
            }
        }
    }
    let requests = aggregate_requests + grouped_daily_requests;
    Estimate {
        symbols: n,
        timeframes,
        from,
        to,
        trading_days: days,
        aggregate_requests,
        grouped_daily_requests,
        grouped_daily: use_grouped && loads_bars,
        requests,
        registration_requests_max: if loads_bars {
            registration_requests(n)
        } else {
            0
        },
        requests_per_minute,
        seconds: (requests_per_minute > 0)
            .then(|| requests as f64 * 60.0 / f64::from(requests_per_minute)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstock_protocol::job::DateRange;

    fn job(tfs: &[Timeframe], symbols: usize) -> Job {
        Job::new(
            JobSpec::MultiTimeframe {
                symbols: (0..symbols).map(|i| format!("S{i}")).collect(),
                timeframes: tfs.to_vec(),
                range: DateRange {
                    start_date: NaiveDate::from_ymd_opt(2024, 1, 1),
                    end_date: NaiveDate::from_ymd_opt(2024, 12, 31),
                    ..Default::default()
                },
            },
            "t",
        )
    }

    #[test]
    fn daily_bars_of_many_symbols_come_from_grouped_daily_on_a_limited_plan() {
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        // 2024 has 252 sessions: 300 symbols need 252 grouped requests, not 300.
        let e = estimate(&job(&[Timeframe::Day], 300), 300, 5, true, today);
        assert!(e.grouped_daily);
        assert_eq!(e.trading_days, 252);
        assert_eq!(e.requests, 252);
        assert_eq!(e.seconds, Some(252.0 * 12.0));
        // Unlimited: one per symbol, and no wait.
        let e = estimate(&job(&[Timeframe::Day], 300), 300, 0, true, today);
        assert!(!e.grouped_daily);
        assert_eq!((e.requests, e.seconds), (300, None));
        // Few symbols: one request each.
        assert_eq!(
            estimate(&job(&[Timeframe::Day], 3), 3, 5, true, today).requests,
            3
        );
    }

    #[test]
    fn registration_counts_reference_list_pages_not_a_details_call_per_symbol() {
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        // An S&P 500 seed: 252 grouped days and at most 15 list pages, not 503 details.
        let e = estimate(&job(&[Timeframe::Day], 503), 503, 5, true, today);
        assert_eq!(e.registration_requests_max, REGISTRATION_PAGES_MAX);
        assert!(e.requests + e.registration_requests_max <= 252 + 15);
        assert!(
            e.summary()
                .ends_with("up to 15 reference-list requests more for symbols not yet registered"),
            "{}",
            e.summary()
        );
        // A few symbols: one `ticker=` request each.
        let e = estimate(&job(&[Timeframe::Day], 3), 3, 5, true, today);
        assert_eq!(e.registration_requests_max, 3);
    }

    #[test]
    fn minute_bars_need_a_page_per_fifty_thousand() {
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        // 252 days x 960 = 241,920 bars: 5 pages per symbol.
        let e = estimate(
            &job(&[Timeframe::Minute, Timeframe::Hour], 2),
            2,
            5,
            true,
            today,
        );
        assert_eq!(e.aggregate_requests, 2 * 5 + 2);
        assert!(e
            .summary()
            .starts_with("12 Polygon requests for 2 symbols x 2 timeframes"));
        let one = estimate(&job(&[Timeframe::Day], 1), 1, 5, true, today);
        assert!(
            one.summary().contains("1 symbol x 1 timeframe over"),
            "{}",
            one.summary()
        );
    }
}
