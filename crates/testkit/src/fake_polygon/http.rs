//! The HTTP side of the fake: the key check, the faults a request meets, the rate limit
//! it counts against, and JSON answers in Polygon's shapes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::connect_info::Connected;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use serde_json::{json, Map, Value};

use super::*;

/// Who a connection came from, and which of our addresses it dialled.
#[derive(Clone, Copy, Debug)]
pub(super) struct Conn {
    peer: SocketAddr,
    local: Option<SocketAddr>,
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Conn {
            peer: *stream.remote_addr(),
            local: stream.io().local_addr().ok(),
        }
    }
}

/// What a fault left for the normal answer to do.
#[derive(Default)]
pub(super) struct Directive {
    pub(super) repeat_cursor: bool,
    pub(super) empty_pages: bool,
    pub(super) truncate: bool,
    pub(super) next_ticker: Option<String>,
    pub(super) out_of_range: bool,
    pub(super) duplicate_bar: bool,
    pub(super) creeping: bool,
    pub(super) no_data: bool,
}

pub(super) fn query_without_key(uri: &Uri) -> String {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("apikey="))
        .collect::<Vec<_>>()
        .join("&")
}

pub(super) fn query_map(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl Shared {
    pub(super) fn request_id(&self) -> String {
        format!(
            "fake{:028x}",
            mix(0x5eed, self.request_ids.fetch_add(1, Ordering::Relaxed))
        )
    }

    /// Records the request, waits the latency, checks the key and applies any fault.
    /// `Err` is the response to send instead of the normal answer.
    pub(super) async fn admit(
        &self,
        key: &str,
        conn: Conn,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Directive, Response> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_string());
        let query_key = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "apiKey")
            .map(|(_, v)| v.into_owned());
        self.requests.lock().unwrap().push(RecordedRequest {
            path: uri.path().to_string(),
            query: query_without_key(uri),
            ticker: Some(key.to_string()),
            time: Instant::now(),
            bearer: bearer.is_some(),
            query_key: query_key.is_some(),
            peer: Some(conn.peer),
            local: conn.local,
        });
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        match bearer.or(query_key) {
            None => {
                return Err(self.error_response(
                    StatusCode::UNAUTHORIZED,
                    "error",
                    "API Key was not provided",
                ));
            }
            Some(k) if k != self.api_key => {
                return Err(self.error_response(
                    StatusCode::UNAUTHORIZED,
                    "error",
                    "Unknown API Key",
                ));
            }
            Some(k) => {
                let mut rate = self.rate.lock().unwrap();
                if let Some(check) = rate.as_mut() {
                    if check.arrive(&k) {
                        self.over_limit.fetch_add(1, Ordering::SeqCst);
                        if check.answer_429 {
                            return Err(self.error_response(
                                StatusCode::TOO_MANY_REQUESTS,
                                "error",
                                TOO_MANY_REQUESTS,
                            ));
                        }
                    }
                }
            }
        }
        let fault = {
            let mut q = self.queued.lock().unwrap();
            q.get_mut(key).and_then(VecDeque::pop_front)
        }
        .or_else(|| self.always.lock().unwrap().get(key).cloned());
        let mut d = Directive::default();
        match fault {
            None => {}
            Some(Fault::Unauthorized) => {
                return Err(self.error_response(StatusCode::UNAUTHORIZED, "error", "Unknown API Key"))
            }
            Some(Fault::NotEntitled) => {
                return Err(self.error_response(
                    StatusCode::FORBIDDEN,
                    "message",
                    "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing",
                ))
            }
            Some(Fault::NotFound) => {
                return Err(self.error_response(StatusCode::NOT_FOUND, "message", "Data not found."))
            }
            Some(Fault::TooManyRequests { retry_after }) => {
                let mut r = self.error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "error",
                    TOO_MANY_REQUESTS,
                );
                if let Some(s) = retry_after {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(s));
                }
                return Err(r);
            }
            Some(Fault::ServerError) => {
                return Err(self.error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    "Internal server error",
                ))
            }
            Some(Fault::HtmlErrorPage) => {
                return Err((
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                     <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                     </body>\r\n</html>\r\n",
                )
                    .into_response())
            }
            Some(Fault::TruncatedJson) => d.truncate = true,
            Some(Fault::Slow(wait)) => tokio::time::sleep(wait).await,
            Some(Fault::RepeatCursor) => d.repeat_cursor = true,
            Some(Fault::EmptyPagesForever) => d.empty_pages = true,
            Some(Fault::NextUrlToTicker(t)) => d.next_ticker = Some(t),
            Some(Fault::OutOfRangeBars) => d.out_of_range = true,
            Some(Fault::DuplicateBar) => d.duplicate_bar = true,
            Some(Fault::CreepingPages) => d.creeping = true,
            Some(Fault::NoData) => d.no_data = true,
            Some(Fault::RedirectTo(to)) => {
                let mut r = (StatusCode::FOUND, "").into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                return Err(r);
            }
        }
        Ok(d)
    }

    /// Polygon's error body: `status` per code, the text under `error` (401, 429, 5xx) or
    /// `message` (403, 404).
    pub(super) fn error_response(&self, code: StatusCode, field: &str, text: &str) -> Response {
        let status = match code {
            StatusCode::FORBIDDEN => "NOT_AUTHORIZED",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            _ => "ERROR",
        };
        let mut m = Map::new();
        m.insert("status".into(), json!(status));
        m.insert("request_id".into(), json!(self.request_id()));
        m.insert(field.into(), json!(text));
        json_response(code, &Value::Object(m))
    }

    pub(super) fn current_url(&self, uri: &Uri) -> String {
        let q = query_without_key(uri);
        if q.is_empty() {
            format!("{}{}", self.base_url, uri.path())
        } else {
            format!("{}{}?{}", self.base_url, uri.path(), q)
        }
    }

    /// Serializes a normal answer, applying the directive.
    pub(super) fn finish(&self, uri: &Uri, mut body: Map<String, Value>, d: Directive) -> Response {
        if d.repeat_cursor {
            body.insert("next_url".into(), json!(self.current_url(uri)));
        }
        self.send_json(Value::Object(body).to_string(), &d)
    }

    /// Sends a serialized answer, cut in half when the directive says so.
    pub(super) fn send_json(&self, text: String, d: &Directive) -> Response {
        if d.truncate {
            let cut = text[..text.len() / 2].to_string();
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                cut,
            )
                .into_response();
        }
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response()
    }

    pub(super) fn bad_request(&self, text: &str) -> Response {
        self.error_response(StatusCode::BAD_REQUEST, "error", text)
    }
}
