//! The coming NYSE holidays and early closes from [`tickstock_protocol::calendar`], and their check
//! against Polygon's `/v1/marketstatus/upcoming`: every day on which the two disagree
//! (one closes and the other does not, closed against early close, another closing time).
//!
//! Polygon lists holidays only as far ahead as it knows them; the check covers today to
//! the last day Polygon lists, and compares NYSE rows only (names differ between the two
//! and are not compared).

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use serde::Serialize;

use crate::polygon::MarketHoliday;
use tickstock_protocol::calendar;

/// `closed` or `early-close`, as Polygon words them.
pub const CLOSED: &str = "closed";
pub const EARLY_CLOSE: &str = "early-close";

/// One weekday the exchange closes, or closes early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarketDay {
    pub date: NaiveDate,
    /// [`CLOSED`] or [`EARLY_CLOSE`].
    pub status: &'static str,
    pub name: String,
    /// The close in New York time on an early close (`13:00`).
    pub close: Option<String>,
}

/// The weekday holidays and early closes of `[from, to]`, by date.
pub fn market_days(from: NaiveDate, to: NaiveDate) -> Vec<MarketDay> {
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend {
            if let Some(name) = calendar::holiday(d) {
                out.push(MarketDay {
                    date: d,
                    status: CLOSED,
                    name: name.to_string(),
                    close: None,
                });
            } else if calendar::is_early_close(d) {
                out.push(MarketDay {
                    date: d,
                    status: EARLY_CLOSE,
                    name: early_close_name(d).to_string(),
                    close: Some("13:00".into()),
                });
            }
        }
        d += Duration::days(1);
    }
    out
}

fn early_close_name(d: NaiveDate) -> &'static str {
    match (d.month(), d.day()) {
        (7, 3) => "Independence Day (eve)",
        (12, 24) => "Christmas Eve",
        _ => "Day after Thanksgiving",
    }
}

/// What Polygon says of a day, NYSE row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolygonDay {
    pub status: String,
    pub name: String,
    pub close: Option<String>,
}

/// A day on which our calendar and Polygon's disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    pub date: NaiveDate,
    /// Our calendar's word (`None`: a normal session).
    pub ours: Option<MarketDay>,
    /// Polygon's (`None`: not listed, a normal session).
    pub polygon: Option<PolygonDay>,
    /// What differs, in a sentence.
    pub message: String,
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// Our calendar against Polygon's list, from `today` to the last day Polygon lists.
pub fn compare(today: NaiveDate, theirs: &[MarketHoliday]) -> Vec<Disagreement> {
    let nyse: Vec<&MarketHoliday> = theirs
        .iter()
        .filter(|h| h.exchange.eq_ignore_ascii_case("NYSE") && h.date >= today)
        .collect();
    let Some(last) = nyse.iter().map(|h| h.date).max() else {
        return Vec::new();
    };
    let ours = market_days(today, last);
    let mut dates: Vec<NaiveDate> = ours
        .iter()
        .map(|d| d.date)
        .chain(nyse.iter().map(|h| h.date))
        .collect();
    dates.sort();
    dates.dedup();
    let mut out = Vec::new();
    for date in dates {
        let o = ours.iter().find(|d| d.date == date).cloned();
        let p = nyse.iter().find(|h| h.date == date).map(|h| PolygonDay {
            status: h.status.clone(),
            name: h.name.clone(),
            close: h.close_ny().map(hhmm),
        });
        let message = match (&o, &p) {
            (Some(o), None) => format!(
                "our calendar has {} ({}); Polygon lists a normal session",
                o.status, o.name
            ),
            (None, Some(p)) => format!(
                "Polygon lists {} ({}); our calendar has a normal session",
                p.status, p.name
            ),
            (Some(o), Some(p)) if o.status != p.status => format!(
                "our calendar has {}, Polygon {} ({})",
                o.status, p.status, p.name
            ),
            (Some(o), Some(p)) if o.status == EARLY_CLOSE && o.close != p.close => format!(
                "early close at {} in our calendar, at {} at Polygon",
                o.close.as_deref().unwrap_or("?"),
                p.close.as_deref().unwrap_or("?")
            ),
            _ => continue,
        };
        out.push(Disagreement {
            date,
            ours: o,
            polygon: p,
            message,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn theirs(date: &str, status: &str, close_utc: Option<(u32, u32)>) -> MarketHoliday {
        let day = d(date);
        MarketHoliday {
            date: day,
            exchange: "NYSE".into(),
            name: "X".into(),
            status: status.into(),
            open: None,
            close: close_utc
                .map(|(h, m)| Utc.from_utc_datetime(&day.and_hms_opt(h, m, 0).unwrap())),
        }
    }

    #[test]
    fn thanksgiving_week_2025_has_a_holiday_and_an_early_close() {
        let days = market_days(d("2025-11-24"), d("2025-11-30"));
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].date, days[0].status), (d("2025-11-27"), CLOSED));
        assert_eq!(
            (days[1].date, days[1].status),
            (d("2025-11-28"), EARLY_CLOSE)
        );
        assert_eq!(days[1].close.as_deref(), Some("13:00"));
    }

    #[test]
    fn agreement_is_silent_and_each_difference_is_reported() {
        let today = d("2025-11-20");
        let agree = vec![
            theirs("2025-11-27", "closed", None),
            // 18:00 UTC is 13:00 EST.
            theirs("2025-11-28", "early-close", Some((18, 0))),
            theirs("2025-12-24", "early-close", Some((18, 0))),
            theirs("2025-12-25", "closed", None),
        ];
        assert!(compare(today, &agree).is_empty());

        let differ = vec![
            theirs("2025-11-27", "early-close", Some((18, 0))),
            theirs("2025-11-28", "early-close", Some((19, 0))),
            theirs("2025-12-01", "closed", None),
            // Dec 24 missing at Polygon; Dec 25 listed for another exchange only.
            MarketHoliday {
                exchange: "OTC".into(),
                ..theirs("2025-12-25", "closed", None)
            },
            theirs("2025-12-26", "closed", None),
        ];
        let got = compare(today, &differ);
        let dates: Vec<String> = got.iter().map(|g| g.date.to_string()).collect();
        assert_eq!(
            dates,
            [
                "2025-11-27",
                "2025-11-28",
                "2025-12-01",
                "2025-12-24",
                "2025-12-25",
                "2025-12-26"
            ]
        );
        assert!(got[1].message.contains("14:00"), "{}", got[1].message);
        assert!(got[2].message.starts_with("Polygon lists closed"));
        assert!(got[3].message.starts_with("our calendar has early-close"));
    }

    #[test]
    fn days_before_today_and_an_empty_list_are_not_compared() {
        assert!(compare(d("2025-12-01"), &[theirs("2025-11-27", "closed", None)]).is_empty());
        assert!(compare(d("2025-12-01"), &[]).is_empty());
    }
}
