//! Bar timeframes: the names the protocol accepts, the Polygon timespan each maps to,
//! and the TickStock table each is stored in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One bar size. Each has its own table; they are never mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timeframe {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

/// The names accepted on the wire, in the order the UI lists them.
pub const TIMEFRAME_NAMES: &[&str] = &["1min", "minute", "hour", "day", "week", "month"];

impl Timeframe {
    /// Every timeframe, smallest first.
    pub const ALL: [Timeframe; 5] = [
        Timeframe::Minute,
        Timeframe::Hour,
        Timeframe::Day,
        Timeframe::Week,
        Timeframe::Month,
    ];

    /// The name written in new `timeframes` lists (`1min`, `hour`, ...).
    pub fn wire_name(self) -> &'static str {
        match self {
            Timeframe::Minute => "1min",
            Timeframe::Hour => "hour",
            Timeframe::Day => "day",
            Timeframe::Week => "week",
            Timeframe::Month => "month",
        }
    }

    /// The name written in a new `timespan` field (`minute`, `hour`, `day`, ...).
    pub fn timespan_name(self) -> &'static str {
        match self {
            Timeframe::Minute => "minute",
            other => other.wire_name(),
        }
    }

    /// Polygon's `timespan` path segment (the multiplier is always 1).
    pub fn polygon_timespan(self) -> &'static str {
        match self {
            Timeframe::Minute => "minute",
            Timeframe::Hour => "hour",
            Timeframe::Day => "day",
            Timeframe::Week => "week",
            Timeframe::Month => "month",
        }
    }

    /// The TickStock table that holds bars of this size.
    pub fn table(self) -> &'static str {
        match self {
            Timeframe::Minute => "ohlcv_1min",
            Timeframe::Hour => "ohlcv_hourly",
            Timeframe::Day => "ohlcv_daily",
            Timeframe::Week => "ohlcv_weekly",
            Timeframe::Month => "ohlcv_monthly",
        }
    }

    /// Whether bars of this size are keyed by a trading date (New York) rather than an instant.
    pub fn is_dated(self) -> bool {
        matches!(self, Timeframe::Day | Timeframe::Week | Timeframe::Month)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// A timeframe name that is not one the protocol allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timeframe {0} (allowed: 1min, minute, hour, day, week, month)")]
pub struct UnknownTimeframe(pub String);

impl FromStr for Timeframe {
    type Err = UnknownTimeframe;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1min" | "minute" => Ok(Timeframe::Minute),
            "hour" => Ok(Timeframe::Hour),
            "day" => Ok(Timeframe::Day),
            "week" => Ok(Timeframe::Week),
            "month" => Ok(Timeframe::Month),
            _ => Err(UnknownTimeframe(crate::error::quote_input(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_wire_name_and_rejects_others() {
        for name in TIMEFRAME_NAMES {
            assert!(name.parse::<Timeframe>().is_ok(), "{name}");
        }
        assert_eq!("1min".parse::<Timeframe>().unwrap(), Timeframe::Minute);
        assert_eq!("minute".parse::<Timeframe>().unwrap(), Timeframe::Minute);
        let err = "5min".parse::<Timeframe>().unwrap_err();
        assert!(err.to_string().contains("\"5min\""));
        assert!("daily".parse::<Timeframe>().is_err());
    }

    #[test]
    fn each_timeframe_has_its_own_table() {
        let tables: std::collections::HashSet<_> =
            Timeframe::ALL.iter().map(|t| t.table()).collect();
        assert_eq!(tables.len(), 5);
        assert_eq!(Timeframe::Hour.table(), "ohlcv_hourly");
    }
}
