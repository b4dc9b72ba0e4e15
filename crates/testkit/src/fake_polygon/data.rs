//! The fake's data: a pure function of (ticker, time), on NYSE sessions only.

use chrono::{NaiveDate, NaiveTime, TimeZone};
use chrono_tz::America::New_York;
use tickstock_protocol::calendar;
use tickstock_protocol::{Bar, Timeframe};

use super::*;

pub(super) fn hash_str(s: &str) -> u64 {
    // FNV-1a.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(super) fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 of the combination.
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn unit(seed: u64, k: u64) -> f64 {
    (mix(seed, k) >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn base_price(ticker_hash: u64) -> f64 {
    20.0 + (ticker_hash % 48_000) as f64 / 100.0
}

pub(super) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The bar the fake serves for `ticker` at `t` (ms): a pure function of both, with
/// `l <= o, c <= h`, `l <= vw <= h`, volume sometimes fractional.
pub fn bar_at(ticker: &str, t: i64) -> Bar {
    let th = hash_str(ticker);
    let seed = mix(th, t as u64);
    let days = t as f64 / 86_400_000.0;
    let phase = (th % 628) as f64 / 100.0;
    let level = base_price(th)
        * (1.0 + 0.15 * (days / 37.0 + phase).sin() + 0.03 * (t as f64 / 5_820_000.0).sin());
    let o = round4(level * (1.0 + (unit(seed, 1) - 0.5) * 0.01));
    let c = round4(level * (1.0 + (unit(seed, 2) - 0.5) * 0.01));
    let h = round4(o.max(c) * (1.0 + unit(seed, 3) * 0.004));
    let l = round4(o.min(c) * (1.0 - unit(seed, 4) * 0.004));
    let vw = round4(l + (h - l) * unit(seed, 5)).clamp(l, h);
    let mut v = (1_000.0 + unit(seed, 6) * 999_000.0).floor();
    if mix(seed, 7).is_multiple_of(4) {
        // Fractional share volume, exactly representable.
        v += [0.25, 0.5, 0.75][(mix(seed, 8) % 3) as usize];
    }
    let n = 1 + mix(seed, 9) % 5_000;
    Bar {
        t,
        o,
        h,
        l,
        c,
        v,
        vw: Some(vw),
        n: Some(n),
    }
}

pub(super) fn ny_ms(date: NaiveDate, h: u32, m: u32) -> i64 {
    let naive = date.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time"));
    New_York
        .from_local_datetime(&naive)
        .earliest()
        .expect("09:30, 16:00 and midnight exist in New York every day")
        .timestamp_millis()
}

/// Bar start times as Polygon serves them: NYSE sessions only (no bars on holidays), minute
/// bars from 09:30 to the close (13:00 on early closes), hour bars on the hour from 09:00,
/// dated bars at midnight New York of the day, week (Monday) or month with a session.
pub(super) fn bar_times(tf: Timeframe, from: NaiveDate, to: NaiveDate) -> Vec<i64> {
    let sessions: Vec<calendar::Session> = calendar::trading_days(from, to)
        .into_iter()
        .filter_map(calendar::Session::of)
        .collect();
    let mut out = Vec::new();
    match tf {
        Timeframe::Minute => {
            for s in &sessions {
                let open = ny_ms(s.date, 9, 30);
                out.extend((0..i64::from(s.minutes())).map(|i| open + i * 60_000));
            }
        }
        Timeframe::Hour => {
            for s in &sessions {
                let first = s.open_minute / 60;
                out.extend((first..first + s.hours()).map(|h| ny_ms(s.date, h, 0)));
            }
        }
        Timeframe::Day => out.extend(sessions.iter().map(|s| ny_ms(s.date, 0, 0))),
        Timeframe::Week | Timeframe::Month => {
            for s in &sessions {
                let t = ny_ms(calendar::period_start(tf, s.date), 0, 0);
                if out.last() != Some(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

pub(super) fn grouped_rows(shared: &Shared, date: NaiveDate) -> Vec<(String, Bar)> {
    if !calendar::is_trading_day(date) {
        return Vec::new();
    }
    let day = ny_ms(date, 0, 0);
    let close = ny_ms(date, 16, 0);
    shared
        .known
        .keys()
        .map(|t| {
            let mut b = shared.adjust(t, bar_at(t, day), true);
            b.t = close;
            (t.clone(), b)
        })
        .collect()
}
