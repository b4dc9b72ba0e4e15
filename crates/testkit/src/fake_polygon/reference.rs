//! The reference endpoints: the tickers listing (its documented filters only) and one
//! ticker's details; and the answer to an unknown route.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::*;

/// The query parameters Polygon documents for `GET /v3/reference/tickers` (`POLYGON.md`),
/// plus the `cursor` of its `next_url` and the `apiKey`.
pub(super) const REFERENCE_PARAMS: &[&str] = &[
    "ticker",
    "ticker.gte",
    "ticker.gt",
    "ticker.lte",
    "ticker.lt",
    "type",
    "market",
    "exchange",
    "cusip",
    "cik",
    "date",
    "active",
    "limit",
    "sort",
    "order",
    "search",
    "cursor",
    "apiKey",
];

pub(super) async fn tickers(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(REFERENCE, conn, &uri, &headers).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let q = query_map(uri.query().unwrap_or(""));
    if let Some(k) = q.keys().find(|k| !REFERENCE_PARAMS.contains(&k.as_str())) {
        return s.bad_request(&format!(
            "'{k}' is not a parameter of /v3/reference/tickers"
        ));
    }
    let state = match q.get("cursor") {
        Some(c) => match decode_cursor(c) {
            Some(inner) => query_map(&inner),
            None => return s.bad_request("invalid cursor"),
        },
        None => q,
    };
    let get = |k: &str| state.get(k).map(String::as_str);
    let offset: usize = get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let active = get("active").map(|a| a != "false").unwrap_or(true);
    let search = get("search").map(str::to_ascii_lowercase);
    let matching: Vec<&RefTicker> = s
        .reference
        .iter()
        .filter(|_| active)
        .filter(|r| get("type").is_none_or(|t| t.eq_ignore_ascii_case(&r.ticker_type)))
        .filter(|_| get("market").is_none_or(|m| m == "stocks"))
        .filter(|r| get("exchange").is_none_or(|e| e.eq_ignore_ascii_case(&r.exchange)))
        .filter(|r| get("ticker").is_none_or(|t| t.eq_ignore_ascii_case(&r.ticker)))
        .filter(|r| get("ticker.gte").is_none_or(|t| r.ticker.as_str() >= t))
        .filter(|r| get("ticker.gt").is_none_or(|t| r.ticker.as_str() > t))
        .filter(|r| get("ticker.lte").is_none_or(|t| r.ticker.as_str() <= t))
        .filter(|r| get("ticker.lt").is_none_or(|t| r.ticker.as_str() < t))
        .filter(|r| {
            search.as_deref().is_none_or(|q| {
                r.ticker.to_ascii_lowercase().contains(q) || r.name.to_ascii_lowercase().contains(q)
            })
        })
        .collect();
    let start = offset.min(matching.len());
    let end = (start + limit).min(matching.len());
    let results: Vec<Value> = matching[start..end]
        .iter()
        .map(|r| Value::Object(r.info_json()))
        .collect();
    let mut body = Map::new();
    body.insert("results".into(), Value::Array(results));
    body.insert("status".into(), json!("OK"));
    body.insert("request_id".into(), json!(s.request_id()));
    body.insert("count".into(), json!(end - start));
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
                "{}/v3/reference/tickers?cursor={}",
                s.base_url,
                encode_cursor(&inner)
            )),
        );
    }
    s.finish(&uri, body, d)
}

pub(super) async fn ticker_details(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path(ticker): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(&ticker, conn, &uri, &headers).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(r) = s
        .known
        .get(&ticker.to_ascii_uppercase())
        .filter(|_| !d.no_data)
    else {
        return s.error_response(StatusCode::NOT_FOUND, "message", "Ticker not found.");
    };
    let mut body = Map::new();
    body.insert("request_id".into(), json!(s.request_id()));
    body.insert("results".into(), r.details_json());
    body.insert("status".into(), json!("OK"));
    s.finish(&uri, body, d)
}

pub(super) async fn unknown_route(uri: Uri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"status": "NOT_FOUND", "request_id": "fake", "message": format!("no route for {}", uri.path())}),
    )
}
