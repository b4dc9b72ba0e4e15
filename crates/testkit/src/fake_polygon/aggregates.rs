//! The aggregates and grouped-daily endpoints.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{json, Map, Value};
use tickstock_protocol::Bar;

use super::*;

/// `GET /v2/aggs/ticker/{T}/range/1/{timespan}/{from}/{to}`, paged as Polygon pages it.
///
/// `from` and `to` are `YYYY-MM-DD` (that whole New York day) or Unix ms (bars with
/// `t >= from`, `t <= to`). The first request's query gives `limit` (default 5000, at most
/// 50000), `sort` (`asc` by default, or `desc`) and `adjusted`; a page holds
/// `min(limit, page_size)` bars. When more remain, `next_url` is
/// `{base}/v2/aggs/ticker/{T}/range/1/{timespan}/{next}/{to}?cursor={c}`: `{next}` is the
/// Unix ms of the next bar, `{to}` as requested, and `{c}` is the same on every page,
/// base64 of `limit=N&sort=asc` (`adjusted=false&` first when asked). Descending pages
/// keep `from` as requested and move `to` down to the next (older) bar instead. A request
/// with a cursor takes limit, sort and adjusted from the cursor alone.
///
/// Stricter than Polygon: a cursor other than these (an offset, any other key), a `sort`
/// other than `asc`/`desc` and a `from` later than `to` are answered 400.
pub(super) async fn aggregates(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path((ticker, multiplier, timespan, from, to)): Path<(String, String, String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(&ticker, conn, &uri, &headers).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if multiplier != "1" {
        return s.bad_request("this fake serves multiplier 1 only");
    }
    let Some(tf) = parse_timespan(&timespan) else {
        return s.bad_request(&format!("unsupported timespan '{timespan}'"));
    };
    let (Some(from_b), Some(to_b)) = (Bound::parse(&from), Bound::parse(&to)) else {
        return s.bad_request("from and to must be YYYY-MM-DD or Unix milliseconds");
    };
    if from_b.first_ms() > to_b.last_ms() {
        return s.bad_request(&format!("from ({from}) is later than to ({to})"));
    }
    let q = query_map(uri.query().unwrap_or(""));
    let paging = match q.get("cursor") {
        Some(c) => match AggsPaging::from_cursor(c) {
            Some(p) => p,
            None => return s.bad_request("invalid cursor"),
        },
        None => AggsPaging {
            limit: q
                .get("limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(5_000)
                .clamp(1, 50_000),
            desc: match q.get("sort").map(String::as_str) {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return s.bad_request(&format!("sort must be asc or desc, not '{other}'"))
                }
            },
            adjusted: q.get("adjusted").map(String::as_str) != Some("false"),
        },
    };
    let cursor = paging.cursor();

    let (results, next_url): (Vec<Bar>, Option<String>) = if d.empty_pages {
        let next = from_b.first_ms() + 1;
        let url = aggs_next_url(&s.base_url, &uri, Some(next), None, &cursor);
        (Vec::new(), Some(url))
    } else if d.no_data {
        (Vec::new(), None)
    } else {
        // Only the page's bars are made: a page of 50,000 is served in a few
        // milliseconds, so benchmarks measure the client, not the fake.
        let all = bar_times(tf, from_b.date(), to_b.date());
        let lo = match from_b {
            Bound::Ms(f) => all.partition_point(|&t| t < f),
            Bound::Date(_) => 0,
        };
        let hi = match to_b {
            Bound::Ms(e) => all.partition_point(|&t| t <= e),
            Bound::Date(_) => all.len(),
        };
        let times = &all[lo..hi.max(lo)];
        let page = s.page_size.load(Ordering::SeqCst).min(paging.limit);
        if paging.desc {
            let start = times.len().saturating_sub(page);
            let bars = times[start..]
                .iter()
                .rev()
                .map(|&t| s.adjust(&ticker, bar_at(&ticker, t), paging.adjusted))
                .collect();
            let next = (start > 0)
                .then(|| aggs_next_url(&s.base_url, &uri, None, Some(times[start - 1]), &cursor));
            (bars, next)
        } else {
            let end = page.min(times.len());
            let bars = times[..end]
                .iter()
                .map(|&t| s.adjust(&ticker, bar_at(&ticker, t), paging.adjusted))
                .collect();
            let next = (end < times.len())
                .then(|| aggs_next_url(&s.base_url, &uri, Some(times[end]), None, &cursor));
            (bars, next)
        }
    };
    let (mut results, next_url) = if d.creeping {
        let first = bar_times(tf, from_b.date(), to_b.date())
            .first()
            .map(|&t| s.adjust(&ticker, bar_at(&ticker, t), paging.adjusted));
        // One millisecond past the requested `from` (or past the bar, on the first page).
        let next = first.as_ref().map_or(0, |b| b.t).max(from_b.first_ms()) + 1;
        (
            first.into_iter().collect(),
            Some(aggs_next_url(&s.base_url, &uri, Some(next), None, &cursor)),
        )
    } else {
        (results, next_url)
    };
    if d.out_of_range {
        let before = from_b.first_ms() - 367 * 86_400_000;
        // A Sunday a year before (2023-03-05 for a range of March 2024), and 2032.
        let sunday = before - before.rem_euclid(7 * 86_400_000) + 3 * 86_400_000;
        results.insert(0, bar_at(&ticker, sunday));
        results.push(bar_at(&ticker, 1_956_528_000_000));
    }
    if d.duplicate_bar {
        if let Some(last) = results.last().cloned() {
            results.push(Bar {
                c: 99_999.0,
                ..last
            });
        }
    }
    let next_url = if d.repeat_cursor {
        Some(s.current_url(&uri))
    } else if let Some(other) = &d.next_ticker {
        let page_from = results
            .last()
            .map(|b| b.t + 1)
            .unwrap_or(from_b.first_ms() + 1);
        let url = aggs_next_url(&s.base_url, &uri, Some(page_from), None, &cursor);
        Some(url.replacen(
            &format!("/ticker/{ticker}/"),
            &format!("/ticker/{other}/"),
            1,
        ))
    } else {
        next_url
    };
    let body = AggsBody {
        ticker: &ticker,
        query_count: results.len(),
        results_count: results.len(),
        adjusted: paging.adjusted,
        results: &results,
        status: "OK",
        request_id: s.request_id(),
        count: results.len(),
        next_url,
    };
    let text = serde_json::to_string(&body).expect("aggregates serialize");
    s.send_json(text, &d)
}

/// The aggregates answer, in Polygon's field order, serialized straight from the bars.
#[derive(serde::Serialize)]
pub(super) struct AggsBody<'a> {
    ticker: &'a str,
    #[serde(rename = "queryCount")]
    query_count: usize,
    #[serde(rename = "resultsCount")]
    results_count: usize,
    adjusted: bool,
    /// Absent when the range has no bars.
    #[serde(skip_serializing_if = "<[Bar]>::is_empty")]
    results: &'a [Bar],
    status: &'static str,
    request_id: String,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
}

pub(super) async fn grouped(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path(date): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(GROUPED, conn, &uri, &headers).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Ok(date) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
        return s.bad_request("date must be YYYY-MM-DD");
    };
    let rows = grouped_rows(&s, date);
    let mut body = Map::new();
    body.insert("queryCount".into(), json!(rows.len()));
    body.insert("resultsCount".into(), json!(rows.len()));
    body.insert("adjusted".into(), json!(true));
    if !rows.is_empty() {
        let results: Vec<Value> = rows
            .iter()
            .map(|(t, b)| {
                let mut v = serde_json::to_value(b).expect("bar serializes");
                v.as_object_mut()
                    .expect("object")
                    .insert("T".into(), json!(t));
                v
            })
            .collect();
        body.insert("results".into(), Value::Array(results));
    }
    body.insert("status".into(), json!("OK"));
    body.insert("request_id".into(), json!(s.request_id()));
    body.insert("count".into(), json!(rows.len()));
    s.finish(&uri, body, d)
}
