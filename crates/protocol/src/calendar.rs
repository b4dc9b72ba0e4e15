//! The NYSE trading calendar: which days the exchange trades, which close early at 13:00,
//! and what bars a symbol should have on them, in America/New_York.
//!
//! Holidays follow the exchange's rules (New Year's Day, Martin Luther King Jr. Day,
//! Washington's Birthday, Good Friday, Memorial Day, Juneteenth from 2022, Independence
//! Day, Labor Day, Thanksgiving, Christmas; a Sunday holiday is observed on Monday, a
//! Saturday one on Friday except New Year's Day), plus the unscheduled closings since 2001.
//! Early closes (13:00) fall on July 3, the day after Thanksgiving and December 24 when
//! those are trading days. The rules are checked against the `nyse-holiday-cal` crate's
//! published table for 2020–2028 in the tests; they also cover the decades before and after
//! it, which history loads reach.
//!
//! Regular hours are 09:30–16:00. Polygon's minute bars of a session start at 09:30 and its
//! hour bars on the hour from 09:00 (the first covering 09:30–10:00).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;

/// How long after a session's close its daily bar counts as final.
pub const FINAL_BAR_DELAY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

use crate::timeframe::Timeframe;

/// Days the exchange closed outside its holiday rules.
const UNSCHEDULED_CLOSINGS: &[(i32, u32, u32)] = &[
    (2001, 9, 11),
    (2001, 9, 12),
    (2001, 9, 13),
    (2001, 9, 14),
    (2004, 6, 11),
    (2007, 1, 2),
    (2012, 10, 29),
    (2012, 10, 30),
    (2018, 12, 5),
    (2025, 1, 9),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// The `n`th (1-based) `weekday` of a month.
fn nth_weekday(y: i32, m: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(y, m, weekday, n).expect("the nth weekday exists")
}

/// The last `weekday` of a month.
fn last_weekday(y: i32, m: u32, weekday: Weekday) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(y, m, weekday, 5)
        .unwrap_or_else(|| nth_weekday(y, m, weekday, 4))
}

/// Easter Sunday (Gregorian, anonymous algorithm).
fn easter(y: i32) -> NaiveDate {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(y, month as u32, day as u32)
}

/// A fixed-date holiday moved off the weekend: Saturday to Friday, Sunday to Monday.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

/// The name of the NYSE holiday on `d`, if the exchange is closed for one.
pub fn holiday(d: NaiveDate) -> Option<&'static str> {
    let y = d.year();
    if UNSCHEDULED_CLOSINGS.contains(&(y, d.month(), d.day())) {
        return Some("Unscheduled closing");
    }
    // New Year's Day on a Saturday is not observed on the Friday before (NYSE rule 7.2).
    let new_year = date(y, 1, 1);
    if new_year.weekday() != Weekday::Sat && d == observed(new_year) {
        return Some("New Year's Day");
    }
    let rules: [(NaiveDate, &'static str); 9] = [
        (
            nth_weekday(y, 1, Weekday::Mon, 3),
            "Martin Luther King Jr. Day",
        ),
        (nth_weekday(y, 2, Weekday::Mon, 3), "Washington's Birthday"),
        (easter(y) - Duration::days(2), "Good Friday"),
        (last_weekday(y, 5, Weekday::Mon), "Memorial Day"),
        (observed(date(y, 7, 4)), "Independence Day"),
        (nth_weekday(y, 9, Weekday::Mon, 1), "Labor Day"),
        (nth_weekday(y, 11, Weekday::Thu, 4), "Thanksgiving Day"),
        (observed(date(y, 12, 25)), "Christmas Day"),
        (
            if y >= 2022 {
                observed(date(y, 6, 19))
            } else {
                NaiveDate::MIN
            },
            "Juneteenth",
        ),
    ];
    rules.iter().find(|(h, _)| *h == d).map(|(_, name)| *name)
}

/// Whether the exchange trades on `d`.
pub fn is_trading_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && holiday(d).is_none()
}

/// Whether `d` is a trading day that closes at 13:00.
pub fn is_early_close(d: NaiveDate) -> bool {
    if !is_trading_day(d) {
        return false;
    }
    let y = d.year();
    let day_after_thanksgiving = nth_weekday(y, 11, Weekday::Thu, 4) + Duration::days(1);
    d == date(y, 7, 3) || d == day_after_thanksgiving || d == date(y, 12, 24)
}

/// A trading day's regular session, as minutes after midnight New York time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub date: NaiveDate,
    /// 09:30 = 570.
    pub open_minute: u32,
    /// 16:00 = 960, or 13:00 = 780 on an early close.
    pub close_minute: u32,
}

impl Session {
    /// The session of `d`, `None` on a weekend or holiday.
    pub fn of(d: NaiveDate) -> Option<Session> {
        is_trading_day(d).then(|| Session {
            date: d,
            open_minute: 9 * 60 + 30,
            close_minute: if is_early_close(d) { 13 * 60 } else { 16 * 60 },
        })
    }

    /// Minute bars of the session (390, or 210 on an early close).
    pub fn minutes(&self) -> u32 {
        self.close_minute - self.open_minute
    }

    /// Hour bars of the session: one per clock hour it touches (7, or 4 on an early close).
    pub fn hours(&self) -> u32 {
        self.close_minute.div_ceil(60) - self.open_minute / 60
    }

    /// The instant the session closes.
    pub fn close_utc(&self) -> DateTime<Utc> {
        let naive = self
            .date
            .and_hms_opt(self.close_minute / 60, self.close_minute % 60, 0)
            .expect("a valid time");
        New_York
            .from_local_datetime(&naive)
            .single()
            .expect("16:00 and 13:00 exist every day in New York")
            .with_timezone(&Utc)
    }
}

/// The trading days in `[from, to]`.
pub fn trading_days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| is_trading_day(*d))
        .collect()
}

/// The period a dated bar of `tf` stands for that contains `d`: its first day (the week's
/// Monday, the month's 1st, the day itself).
pub fn period_start(tf: Timeframe, d: NaiveDate) -> NaiveDate {
    match tf {
        Timeframe::Week => d - Duration::days(d.weekday().num_days_from_monday() as i64),
        Timeframe::Month => d.with_day(1).expect("day 1 exists"),
        _ => d,
    }
}

/// How many bars of `tf` a symbol trading every session in `[from, to]` has: minutes and
/// hours of each session, one per trading day, week or month with a session.
pub fn expected_bars(tf: Timeframe, from: NaiveDate, to: NaiveDate) -> u64 {
    let days = trading_days(from, to);
    match tf {
        Timeframe::Minute => days
            .iter()
            .filter_map(|d| Session::of(*d))
            .map(|s| u64::from(s.minutes()))
            .sum(),
        Timeframe::Hour => days
            .iter()
            .filter_map(|d| Session::of(*d))
            .map(|s| u64::from(s.hours()))
            .sum(),
        Timeframe::Day => days.len() as u64,
        Timeframe::Week | Timeframe::Month => {
            let mut periods: Vec<NaiveDate> = days.iter().map(|d| period_start(tf, *d)).collect();
            periods.dedup();
            periods.len() as u64
        }
    }
}

/// The last session that has closed by `now`, `delay` after its close (a bar of a session
/// still in progress is not final).
pub fn last_closed_session(now: DateTime<Utc>, delay: std::time::Duration) -> NaiveDate {
    let delay = Duration::from_std(delay).unwrap_or(Duration::zero());
    let mut d = now.with_timezone(&New_York).date_naive();
    loop {
        if let Some(s) = Session::of(d) {
            if s.close_utc() + delay <= now {
                return d;
            }
        }
        d = d.pred_opt().expect("a date before now");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nyse_holiday_cal::HolidayCal;

    #[test]
    fn holidays_match_the_published_table_2020_to_2028() {
        let mut d = date(2020, 1, 1);
        while d <= date(2028, 12, 31) {
            let published = d.holiday().expect("in the table's range").is_some();
            let unscheduled = UNSCHEDULED_CLOSINGS.contains(&(d.year(), d.month(), d.day()));
            assert_eq!(
                holiday(d).is_some(),
                published || unscheduled,
                "{d}: ours {:?}",
                holiday(d)
            );
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn known_sessions() {
        // 2025: Thanksgiving Nov 27, early close Nov 28; Christmas Eve early close.
        assert!(!is_trading_day(date(2025, 11, 27)));
        assert!(is_early_close(date(2025, 11, 28)));
        assert_eq!(Session::of(date(2025, 11, 28)).unwrap().minutes(), 210);
        assert_eq!(Session::of(date(2025, 11, 28)).unwrap().hours(), 4);
        assert_eq!(Session::of(date(2025, 12, 1)).unwrap().minutes(), 390);
        assert_eq!(Session::of(date(2025, 12, 1)).unwrap().hours(), 7);
        assert!(is_early_close(date(2025, 12, 24)));
        // July 4, 2026 is a Saturday: observed Friday July 3, no early close that week.
        assert_eq!(holiday(date(2026, 7, 3)), Some("Independence Day"));
        assert!(!is_early_close(date(2026, 7, 2)));
        // New Year's Day 2022 on a Saturday: Friday Dec 31, 2021 traded.
        assert!(is_trading_day(date(2021, 12, 31)));
        // Older years follow the same rules: Good Friday 2008 (March 21), Sandy 2012.
        assert_eq!(holiday(date(2008, 3, 21)), Some("Good Friday"));
        assert!(!is_trading_day(date(2012, 10, 29)));
        // 2024: 252 sessions, three of them early closes.
        let days = trading_days(date(2024, 1, 1), date(2024, 12, 31));
        assert_eq!(days.len(), 252);
        assert_eq!(days.iter().filter(|d| is_early_close(**d)).count(), 3);
        assert_eq!(
            expected_bars(Timeframe::Minute, date(2024, 1, 1), date(2024, 12, 31)),
            249 * 390 + 3 * 210
        );
        assert_eq!(
            expected_bars(Timeframe::Week, date(2024, 12, 23), date(2025, 1, 3)),
            2
        );
    }

    #[test]
    fn the_last_closed_session_waits_for_the_close() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let delay = std::time::Duration::from_secs(15 * 60);
        // Monday 2025-12-01 15:00 ET: Friday's early-closed session is the last.
        assert_eq!(
            last_closed_session(t("2025-12-01T20:00:00Z"), delay),
            date(2025, 11, 28)
        );
        // 16:20 ET, past the close plus the delay: Monday counts.
        assert_eq!(
            last_closed_session(t("2025-12-01T21:20:00Z"), delay),
            date(2025, 12, 1)
        );
        // Friday after Thanksgiving at 13:20 ET.
        assert_eq!(
            last_closed_session(t("2025-11-28T18:20:00Z"), delay),
            date(2025, 11, 28)
        );
    }
}
