//! When a schedule is due: a cron expression in America/New_York or `trading-days HH:MM`
//! (every NYSE session day at that New York time), the latest due time at or before now and
//! the next one after it.

use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::America::New_York;
use tickstock_protocol::calendar;
use tickstock_protocol::error::{Error, Result};

/// When a schedule is due.
#[derive(Debug, Clone)]
pub enum When {
    /// A cron expression (5 fields, or 6 with seconds) in America/New_York.
    Cron(Box<croner::Cron>),
    /// Every trading day at this New York time (minutes after midnight).
    TradingDays { minute_of_day: u32 },
}

impl FromStr for When {
    type Err = Error;

    /// `trading-days HH:MM` (also `every trading day at HH:MM`), or a cron expression.
    fn from_str(spec: &str) -> Result<When> {
        let s = spec.trim();
        let lower = s.to_ascii_lowercase();
        let time = lower
            .strip_prefix("trading-days ")
            .or_else(|| lower.strip_prefix("every trading day at "));
        if let Some(t) = time {
            let (h, m) = t
                .trim()
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(h, m)| *h < 24 && *m < 60)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "{} is not a time of day: write `trading-days HH:MM`, e.g. `trading-days 16:30`",
                        tickstock_protocol::error::quote_input(t.trim())
                    ))
                })?;
            return Ok(When::TradingDays {
                minute_of_day: h * 60 + m,
            });
        }
        if s.is_empty() {
            return Err(Error::invalid(
                "a schedule needs a cron expression or `trading-days HH:MM`",
            ));
        }
        // The parser's words may quote the input: only printable text of them, and short.
        let plain = |e: String| -> String {
            let t: String = e.chars().filter(|c| !c.is_control()).take(120).collect();
            if s.len() > 32 || s.chars().any(|c| c.is_control()) {
                t.replace(s, "(the expression)")
            } else {
                t
            }
        };
        croner::Cron::from_str(s)
            .map(|c| When::Cron(Box::new(c)))
            .map_err(|e| {
                Error::invalid(format!(
                    "invalid cron expression {}: {}",
                    tickstock_protocol::error::quote_input(s),
                    plain(e.to_string())
                ))
            })
    }
}

impl When {
    fn trading_day_at(&self, d: chrono::NaiveDate) -> Option<DateTime<Utc>> {
        let When::TradingDays { minute_of_day } = self else {
            return None;
        };
        if !calendar::is_trading_day(d) {
            return None;
        }
        let naive = d.and_hms_opt(minute_of_day / 60, minute_of_day % 60, 0)?;
        New_York
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The latest due time at or before `now`.
    pub fn latest_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            When::Cron(c) => c
                .find_previous_occurrence(&now.with_timezone(&New_York), true)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            When::TradingDays { .. } => {
                let mut d = now.with_timezone(&New_York).date_naive();
                for _ in 0..30 {
                    if let Some(t) = self.trading_day_at(d).filter(|t| *t <= now) {
                        return Some(t);
                    }
                    d = d.pred_opt()?;
                }
                None
            }
        }
    }

    /// The first due time after `now`.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            When::Cron(c) => c
                .find_next_occurrence(&now.with_timezone(&New_York), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            When::TradingDays { .. } => {
                let mut d = now.with_timezone(&New_York).date_naive();
                for _ in 0..30 {
                    if let Some(t) = self.trading_day_at(d).filter(|t| *t > now) {
                        return Some(t);
                    }
                    d = d.succ_opt()?;
                }
                None
            }
        }
    }
}

/// The weekday name of a due time in New York (for listings).
pub fn describe_due(t: DateTime<Utc>) -> String {
    let ny = t.with_timezone(&New_York);
    format!("{} {} ET", ny.weekday(), ny.format("%Y-%m-%d %H:%M"))
}
