//! The OHLCV bar as Polygon sends it and as the loader stores it.

use serde::{Deserialize, Serialize};

/// One aggregate bar, decoded straight from Polygon's `results[]`.
///
/// `t` is the Unix time in milliseconds of the start of the window (aggregates) or of
/// its end (grouped daily); windows are in US Eastern time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    /// Volume: may be fractional.
    pub v: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}

impl Bar {
    /// The trading date in America/New_York of this bar's `t` (never the machine's zone,
    /// never a truncated UTC instant): what daily, weekly and monthly rows are keyed by.
    pub fn ny_date(&self) -> chrono::NaiveDate {
        ny_date(self.t)
    }

    /// `t` as a UTC instant (minute and hour rows are keyed by it).
    pub fn time_utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.t).unwrap_or_default()
    }
}

/// The calendar date in America/New_York of a Unix time in milliseconds.
pub fn ny_date(t_ms: i64) -> chrono::NaiveDate {
    let utc = chrono::DateTime::from_timestamp_millis(t_ms).unwrap_or_default();
    utc.with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn daily_bar_dates_are_new_york_dates_across_dst() {
        // 2024-03-08 00:00 EST = 05:00 UTC; 2024-03-11 00:00 EDT = 04:00 UTC.
        assert_eq!(
            ny_date(1_709_874_000_000),
            NaiveDate::from_ymd_opt(2024, 3, 8).unwrap()
        );
        assert_eq!(
            ny_date(1_710_129_600_000),
            NaiveDate::from_ymd_opt(2024, 3, 11).unwrap()
        );
        // Grouped daily's end-of-day stamp (16:00 EDT = 20:00 UTC) is the same trading date.
        assert_eq!(
            ny_date(1_710_187_200_000),
            NaiveDate::from_ymd_opt(2024, 3, 11).unwrap()
        );
    }

    #[test]
    fn decodes_polygon_bar_with_optional_fields() {
        let b: Bar = serde_json::from_str(
            r#"{"v":1.5,"vw":10.1,"o":1,"c":2,"h":3,"l":0.5,"t":1704171600000,"n":7,"otc":true}"#,
        )
        .unwrap();
        assert_eq!(b.v, 1.5);
        assert_eq!(b.n, Some(7));
        let b: Bar =
            serde_json::from_str(r#"{"v":100,"o":1,"c":2,"h":3,"l":0.5,"t":1704171600000}"#)
                .unwrap();
        assert_eq!(b.vw, None);
    }
}
