//! The fake's splits and market-holiday endpoints, as Polygon serves them:
//!
//! - `GET /v3/reference/splits`: `{"results":[{"execution_date","id","split_from",
//!   "split_to","ticker"}],"status":"OK","request_id","next_url"?}` over the splits a test
//!   declared ([`FakePolygon::add_split`]). Filters `ticker` and `execution_date` (with
//!   `.gt`, `.gte`, `.lt`, `.lte`), `reverse_split`; `sort` (`execution_date` by default, or
//!   `ticker`), `order` (`desc` by default), `limit` (10 by default, 1 to 1000). Pages
//!   follow an absolute `next_url` whose `cursor` is new on every page, like the other v3
//!   listings. Stricter than Polygon: a malformed date, an unknown `sort`/`order` or a
//!   `limit` outside 1..=1000 is answered 400.
//! - `GET /v1/marketstatus/upcoming`: a bare JSON array of
//!   `{"date","exchange","name","status"}` (`status` `closed` or `early-close`, the latter
//!   with `open` and `close` instants in UTC), one row per exchange (NYSE, NASDAQ, OTC),
//!   by date. By default the NYSE holidays and early closes of the coming year from
//!   [`tickstock_protocol::calendar`]; a test may replace them
//!   ([`FakePolygon::set_market_holidays`]) to make Polygon disagree.
//!
//! Declared splits also change what the aggregates serve: with `adjusted=true` (the
//! default), bars before a split's execution date have their prices divided and their
//! volume multiplied by `split_to / split_from`, as Polygon adjusts them, once that date
//! has come (New York time).

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use serde_json::{json, Map, Value};
use tickstock_protocol::{calendar, Bar};

use super::{decode_cursor, encode_cursor, ny_ms, query_map, Conn, FakePolygon, Shared};

/// Fault key for the splits endpoint.
pub const SPLITS: &str = "$SPLITS";
/// Fault key for the market-holidays endpoint.
pub const MARKET_STATUS: &str = "$MARKETSTATUS";

/// A split as a test declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSplit {
    pub ticker: String,
    pub execution_date: NaiveDate,
    pub split_from: f64,
    pub split_to: f64,
}

impl FakeSplit {
    /// `split_to` new shares for `split_from` old ones from `date` on (4-for-1: 1, 4).
    pub fn new(ticker: &str, date: NaiveDate, split_from: f64, split_to: f64) -> Self {
        FakeSplit {
            ticker: ticker.to_ascii_uppercase(),
            execution_date: date,
            split_from,
            split_to,
        }
    }

    fn id(&self) -> String {
        // Polygon's ids are opaque: `E` and 64 hex digits.
        let h = super::hash_str(&format!("{}{}", self.ticker, self.execution_date));
        format!("E{:016x}{:016x}{:016x}{:016x}", h, h ^ 1, h ^ 2, h ^ 3)
    }

    fn json(&self) -> Value {
        let num = |x: f64| {
            if x.fract() == 0.0 {
                json!(x as i64)
            } else {
                json!(x)
            }
        };
        json!({
            "execution_date": self.execution_date.format("%Y-%m-%d").to_string(),
            "id": self.id(),
            "split_from": num(self.split_from),
            "split_to": num(self.split_to),
            "ticker": self.ticker,
        })
    }
}

/// A market holiday or early close as the upcoming endpoint lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeHoliday {
    pub date: NaiveDate,
    pub name: String,
    /// `None`: closed all day; `Some(t)`: open 09:30 to `t` New York time.
    pub early_close: Option<NaiveTime>,
}

/// The NYSE holidays and 13:00 early closes of the year from `from`, per the calendar.
pub fn calendar_holidays(from: NaiveDate) -> Vec<FakeHoliday> {
    from.iter_days()
        .take_while(|d| *d < from + Duration::days(365))
        .filter_map(|d| {
            if let Some(name) = calendar::holiday(d) {
                if !matches!(d.format("%a").to_string().as_str(), "Sat" | "Sun") {
                    return Some(FakeHoliday {
                        date: d,
                        name: name.to_string(),
                        early_close: None,
                    });
                }
            }
            calendar::is_early_close(d).then(|| FakeHoliday {
                date: d,
                name: "Early close".into(),
                early_close: NaiveTime::from_hms_opt(13, 0, 0),
            })
        })
        .collect()
}

impl FakePolygon {
    /// Declares a split: listed by `/v3/reference/splits` and applied to adjusted bars.
    pub fn add_split(&self, split: FakeSplit) {
        let mut s = self.shared.splits.lock().unwrap();
        s.retain(|x| !(x.ticker == split.ticker && x.execution_date == split.execution_date));
        s.push(split);
    }

    /// Replaces what `/v1/marketstatus/upcoming` lists (`None`: the calendar's own).
    pub fn set_market_holidays(&self, holidays: Option<Vec<FakeHoliday>>) {
        *self.shared.holidays.lock().unwrap() = holidays;
    }

    /// What `/v1/marketstatus/upcoming` lists now, NYSE rows only.
    pub fn market_holidays(&self) -> Vec<FakeHoliday> {
        self.shared.current_holidays()
    }
}

impl Shared {
    fn current_holidays(&self) -> Vec<FakeHoliday> {
        match &*self.holidays.lock().unwrap() {
            Some(list) => list.clone(),
            None => calendar_holidays(tickstock_protocol::bars::ny_date(
                Utc::now().timestamp_millis(),
            )),
        }
    }

    /// `bar` as served for `ticker`: adjusted for every declared split after its day.
    pub(super) fn adjust(&self, ticker: &str, mut bar: Bar, adjusted: bool) -> Bar {
        if !adjusted {
            return bar;
        }
        let splits = self.splits.lock().unwrap();
        if splits.is_empty() {
            return bar;
        }
        let day = tickstock_protocol::bars::ny_date(bar.t);
        // A split not executed yet adjusts nothing.
        let today = tickstock_protocol::bars::ny_date(Utc::now().timestamp_millis());
        let factor: f64 = splits
            .iter()
            .filter(|s| {
                s.ticker.eq_ignore_ascii_case(ticker)
                    && day < s.execution_date
                    && s.execution_date <= today
            })
            .map(|s| s.split_to / s.split_from)
            .product();
        if factor != 1.0 {
            let p = |x: f64| (x / factor * 10_000.0).round() / 10_000.0;
            bar.o = p(bar.o);
            bar.h = p(bar.h);
            bar.l = p(bar.l);
            bar.c = p(bar.c);
            bar.vw = bar.vw.map(p);
            bar.v = (bar.v * factor).round();
        }
        bar
    }
}

fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()
}

pub(super) async fn splits(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(SPLITS, conn, &uri, &headers).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let q = query_map(uri.query().unwrap_or(""));
    let state = match q.get("cursor") {
        Some(c) => match decode_cursor(c) {
            Some(inner) => query_map(&inner),
            None => return s.bad_request("invalid cursor"),
        },
        None => q,
    };
    let get = |k: &str| state.get(k).map(String::as_str);
    let limit: usize = match get("limit") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return s.bad_request("limit must be an integer between 1 and 1000"),
        },
    };
    let offset: usize = get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let desc = match get("order") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(o) => return s.bad_request(&format!("order must be asc or desc, not '{o}'")),
    };
    let by_ticker = match get("sort") {
        None | Some("execution_date") => false,
        Some("ticker") => true,
        Some(o) => {
            return s.bad_request(&format!("sort must be execution_date or ticker, not '{o}'"))
        }
    };
    let mut bounds: Vec<(&str, NaiveDate)> = Vec::new();
    for op in ["", ".gt", ".gte", ".lt", ".lte"] {
        let key = format!("execution_date{op}");
        if let Some(v) = get(&key) {
            match parse_date(v) {
                Some(date) => bounds.push((op, date)),
                None => {
                    return s.bad_request(&format!(
                        "invalid {key} '{v}': expected a date (YYYY-MM-DD)"
                    ))
                }
            }
        }
    }
    let reverse = match get("reverse_split") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return s.bad_request(&format!("reverse_split must be true or false, not '{v}'"))
        }
    };
    let ticker = get("ticker").map(str::to_ascii_uppercase);
    let mut matching: Vec<FakeSplit> = s
        .splits
        .lock()
        .unwrap()
        .iter()
        .filter(|x| ticker.as_deref().is_none_or(|t| x.ticker == t))
        .filter(|x| {
            bounds.iter().all(|(op, b)| match *op {
                "" => x.execution_date == *b,
                ".gt" => x.execution_date > *b,
                ".gte" => x.execution_date >= *b,
                ".lt" => x.execution_date < *b,
                _ => x.execution_date <= *b,
            })
        })
        .filter(|x| reverse.is_none_or(|r| (x.split_to < x.split_from) == r))
        .cloned()
        .collect();
    matching.sort_by(|a, b| {
        let k = if by_ticker {
            (a.ticker.as_str(), a.execution_date).cmp(&(b.ticker.as_str(), b.execution_date))
        } else {
            (a.execution_date, a.ticker.as_str()).cmp(&(b.execution_date, b.ticker.as_str()))
        };
        if desc {
            k.reverse()
        } else {
            k
        }
    });
    let start = offset.min(matching.len());
    let end = (start + limit).min(matching.len());
    let mut body = Map::new();
    body.insert(
        "results".into(),
        Value::Array(matching[start..end].iter().map(FakeSplit::json).collect()),
    );
    body.insert("status".into(), json!("OK"));
    body.insert("request_id".into(), json!(s.request_id()));
    if end < matching.len() {
        let mut st: Vec<(String, String)> = state
            .iter()
            .filter(|(k, _)| k.as_str() != "offset")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        st.sort();
        st.push(("offset".into(), end.to_string()));
        let inner = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(st)
            .finish();
        body.insert(
            "next_url".into(),
            json!(format!(
                "{}/v3/reference/splits?cursor={}",
                s.base_url,
                encode_cursor(&inner)
            )),
        );
    }
    s.finish(&uri, body, d)
}

pub(super) async fn upcoming(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(MARKET_STATUS, conn, &uri, &headers).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let instant = |date: NaiveDate, t: NaiveTime| {
        let ms =
            ny_ms(date, 0, 0) + i64::from(chrono::Timelike::num_seconds_from_midnight(&t)) * 1000;
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("a valid instant")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    let mut rows = Vec::new();
    for h in s.current_holidays() {
        for exchange in ["NYSE", "NASDAQ", "OTC"] {
            let date = h.date.format("%Y-%m-%d").to_string();
            rows.push(match h.early_close {
                None => json!({
                    "date": date, "exchange": exchange, "name": h.name, "status": "closed",
                }),
                Some(close) => json!({
                    "close": instant(h.date, close),
                    "date": date,
                    "exchange": exchange,
                    "name": h.name,
                    "open": instant(h.date, NaiveTime::from_hms_opt(9, 30, 0).expect("09:30")),
                    "status": "early-close",
                }),
            });
        }
    }
    s.send_json(Value::Array(rows).to_string(), &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendars_year_has_its_holidays_and_early_closes() {
        let from = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
        let list = calendar_holidays(from);
        let thanksgiving = NaiveDate::from_ymd_opt(2025, 11, 27).unwrap();
        let friday = NaiveDate::from_ymd_opt(2025, 11, 28).unwrap();
        assert!(list
            .iter()
            .any(|h| h.date == thanksgiving && h.early_close.is_none()));
        assert!(list
            .iter()
            .any(|h| h.date == friday && h.early_close == NaiveTime::from_hms_opt(13, 0, 0)));
        assert!(list.iter().all(|h| h.date < from + Duration::days(365)));
    }

    #[test]
    fn split_ids_are_stable_and_polygon_shaped() {
        let s = FakeSplit::new(
            "aapl",
            NaiveDate::from_ymd_opt(2020, 8, 31).unwrap(),
            1.0,
            4.0,
        );
        assert_eq!(s.id(), s.id());
        assert_eq!(s.id().len(), 65);
        let v = s.json();
        assert_eq!(v["ticker"], "AAPL");
        assert_eq!(v["split_to"], 4);
        assert_eq!(v["execution_date"], "2020-08-31");
    }
}
