//! Paging as Polygon pages: the reference listings' changing cursor, the aggregates'
//! fixed cursor with the `from` moved, and the bounds a path may give (dates or Unix ms).

use axum::http::Uri;
use chrono::NaiveDate;
use tickstock_protocol::bars::ny_date;
use tickstock_protocol::Timeframe;

use super::*;

/// The reference listings' cursor (hex of the paging query): those change on every page.
pub(super) fn encode_cursor(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn decode_cursor(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// One end of an aggregates range, as written in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bound {
    /// `YYYY-MM-DD`: that whole day in New York.
    Date(NaiveDate),
    /// Unix milliseconds: that instant.
    Ms(i64),
}

impl Bound {
    pub(super) fn parse(s: &str) -> Option<Bound> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let t: i64 = s.parse().ok()?;
            chrono::DateTime::from_timestamp_millis(t)?;
            return Some(Bound::Ms(t));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(Bound::Date)
    }

    /// The New York date the bound falls on.
    pub(super) fn date(self) -> NaiveDate {
        match self {
            Bound::Date(d) => d,
            Bound::Ms(t) => ny_date(t),
        }
    }

    /// The first instant the bound takes in, as the start of a range.
    pub(super) fn first_ms(self) -> i64 {
        match self {
            Bound::Date(d) => ny_ms(d, 0, 0),
            Bound::Ms(t) => t,
        }
    }

    /// The last instant the bound takes in, as the end of a range.
    pub(super) fn last_ms(self) -> i64 {
        match self {
            Bound::Date(d) => d.succ_opt().map_or(i64::MAX, |n| ny_ms(n, 0, 0) - 1),
            Bound::Ms(t) => t,
        }
    }
}

pub(super) const BASE64_URL: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the URL alphabet and no padding (what Polygon's cursors look like).
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(chunk[0]) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64_URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Base64 in either alphabet, padded or not; `None` for anything else.
pub(super) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s
        .strip_suffix("==")
        .or_else(|| s.strip_suffix('='))
        .unwrap_or(s);
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The paging state an aggregates cursor carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AggsPaging {
    pub(super) limit: usize,
    pub(super) desc: bool,
    pub(super) adjusted: bool,
}

impl AggsPaging {
    /// The cursor Polygon puts in every `next_url` of a listing: base64 of the paging
    /// query with its keys sorted (`limit=50000&sort=asc`), `adjusted=false` only when the
    /// request asked for unadjusted bars.
    pub(super) fn cursor(self) -> String {
        let adjusted = if self.adjusted { "" } else { "adjusted=false&" };
        let sort = if self.desc { "desc" } else { "asc" };
        base64_encode(format!("{adjusted}limit={}&sort={sort}", self.limit).as_bytes())
    }

    /// Reads a cursor made by [`AggsPaging::cursor`]. Anything else is refused: not base64,
    /// an `offset` or any other key, a missing `limit` or `sort`, a value out of range.
    pub(super) fn from_cursor(c: &str) -> Option<AggsPaging> {
        let inner = String::from_utf8(base64_decode(c)?).ok()?;
        let (mut limit, mut desc, mut adjusted) = (None, None, true);
        for (k, v) in url::form_urlencoded::parse(inner.as_bytes()) {
            match (&*k, &*v) {
                ("limit", n) if limit.is_none() => {
                    limit = Some(n.parse().ok().filter(|n| (1..=50_000).contains(n))?);
                }
                ("sort", "asc") if desc.is_none() => desc = Some(false),
                ("sort", "desc") if desc.is_none() => desc = Some(true),
                ("adjusted", a @ ("true" | "false")) => adjusted = a == "true",
                _ => return None,
            }
        }
        Some(AggsPaging {
            limit: limit?,
            desc: desc?,
            adjusted,
        })
    }
}

/// The requested aggregates path with its `from` and/or `to` replaced, plus `?cursor=`.
pub(super) fn aggs_next_url(
    base: &str,
    uri: &Uri,
    from: Option<i64>,
    to: Option<i64>,
    cursor: &str,
) -> String {
    let mut segments: Vec<String> = uri.path().split('/').map(str::to_string).collect();
    let n = segments.len();
    if let Some(f) = from {
        segments[n - 2] = f.to_string();
    }
    if let Some(t) = to {
        segments[n - 1] = t.to_string();
    }
    format!("{base}{}?cursor={cursor}", segments.join("/"))
}

pub(super) fn parse_timespan(s: &str) -> Option<Timeframe> {
    Timeframe::ALL
        .into_iter()
        .find(|tf| tf.polygon_timespan() == s)
}
