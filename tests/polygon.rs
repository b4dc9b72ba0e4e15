//! The Polygon client against the fake Polygon server over real loopback HTTP: paging
//! (the fake's `next_url` read raw, as Polygon writes it), the guard against paging that
//! does not move forward, every fault, permanent refusals, secrecy of the key, grouped
//! daily, reference tickers, and the rate limiter on paused time.

use std::time::Duration;

use chrono::NaiveDate;
use secrecy::SecretString;
use tickstock_data::polygon::{
    PolygonClient, PolygonConfig, PolygonError, RateLimiter, TickerQuery, MAX_EMPTY_PAGES,
};
use tickstock_protocol::{Bar, ErrorKind, Timeframe};
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, Fault, GROUPED, REFERENCE};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

async fn fake() -> FakePolygon {
    FakePolygon::start(FakePolygonConfig::default()).await
}

/// Test settings: small backoff so retries take milliseconds.
fn config(f: &FakePolygon) -> PolygonConfig {
    PolygonConfig::new(f.base_url(), SecretString::from(f.api_key().to_string()))
        .with_max_backoff(Duration::from_millis(50))
        .with_request_timeout(Duration::from_secs(10))
}

fn client(f: &FakePolygon) -> PolygonClient {
    PolygonClient::new(config(f)).unwrap()
}

/// The cursor in every aggregates `next_url` of a listing asked for with `limit=50000`
/// (and `sort=asc`): base64 of `limit=50000&sort=asc`, exactly as Polygon sends it.
const CURSOR_50000_ASC: &str = "bGltaXQ9NTAwMDAmc29ydD1hc2M";

/// GETs `path_and_query` (or an absolute URL on the fake) over a plain TCP connection,
/// with the key in the Bearer header: the HTTP status and the body as the fake wrote it.
async fn raw_get(f: &FakePolygon, path_and_query: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = path_and_query
        .strip_prefix(&f.base_url())
        .unwrap_or(path_and_query);
    assert!(target.starts_with('/'), "not on the fake: {path_and_query}");
    let mut conn = tokio::net::TcpStream::connect(f.addr()).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        f.addr(),
        f.api_key()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, body)
}

/// The bars of a raw aggregates answer, checking each carries `n` and `vw` as Polygon's do.
fn raw_bars(body: &serde_json::Value) -> Vec<Bar> {
    let Some(results) = body.get("results") else {
        return Vec::new();
    };
    for r in results.as_array().unwrap() {
        assert!(r["n"].is_u64(), "transactions are an integer: {r}");
        assert!(r["vw"].is_f64(), "{r}");
        assert!(r["t"].is_i64(), "{r}");
    }
    serde_json::from_value(results.clone()).unwrap()
}

/// The `from` path segment of an aggregates URL or path.
fn from_segment(url: &str) -> &str {
    let path = url.split('?').next().unwrap();
    let parts: Vec<&str> = path.rsplitn(3, '/').collect();
    parts[1]
}

#[tokio::test]
async fn the_fakes_next_url_keeps_the_cursor_and_moves_from_like_polygon() {
    let f = fake().await;
    f.set_page_size(300);
    let base = f.base_url();
    // Fri 2024-03-08 and Mon 2024-03-11: 780 minute bars in pages of 300, 300 and 180.
    let expected =
        FakePolygon::expected_bars("AAPL", Timeframe::Minute, d(2024, 3, 8), d(2024, 3, 11));
    let mut next = Some(
        "/v2/aggs/ticker/AAPL/range/1/minute/2024-03-08/2024-03-11\
         ?adjusted=true&sort=asc&limit=50000"
            .to_string(),
    );
    let mut got: Vec<Bar> = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        let (status, body) = raw_get(&f, &url).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "OK");
        let bars = raw_bars(&body);
        assert_eq!(body["resultsCount"], bars.len());
        got.extend(bars);
        pages += 1;
        if let Some(n) = body.get("next_url") {
            let n = n.as_str().unwrap().to_string();
            // Same cursor on every page; `from` is the Unix ms of the next bar; `to` and
            // the rest of the path as first asked.
            assert_eq!(
                n,
                format!(
                    "{base}/v2/aggs/ticker/AAPL/range/1/minute/{}/2024-03-11?cursor={CURSOR_50000_ASC}",
                    expected[got.len()].t
                )
            );
            next = Some(n);
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(got, expected);

    // The client follows those URLs as sent: the same cursor, a `from` that moves on.
    f.clear_requests();
    let c = client(&f);
    let bars = c
        .aggregates_all("AAPL", Timeframe::Minute, d(2024, 3, 8), d(2024, 3, 11))
        .await
        .unwrap();
    assert_eq!(bars, expected);
    let reqs = f.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(from_segment(&reqs[0].path), "2024-03-08");
    for (i, r) in reqs[1..].iter().enumerate() {
        assert_eq!(r.query, format!("cursor={CURSOR_50000_ASC}"), "{r:?}");
        assert_eq!(
            from_segment(&r.path),
            expected[300 * (i + 1)].t.to_string(),
            "{r:?}"
        );
        assert!(r.path.ends_with("/2024-03-11"), "{r:?}");
    }
}

#[tokio::test]
async fn the_fake_pages_by_unix_ms_unadjusted_and_descending_and_refuses_offsets() {
    let f = fake().await;
    f.set_page_size(100);
    let path = "/v2/aggs/ticker/MSFT/range/1/minute";
    let expected =
        FakePolygon::expected_bars("MSFT", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 2));
    assert_eq!(expected.len(), 390);

    // A Unix ms `from` is inclusive; a Unix ms `to` too.
    let (from, to) = (expected[5].t, expected[7].t);
    let (status, body) = raw_get(&f, &format!("{path}/{from}/{to}?limit=50000")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(raw_bars(&body), expected[5..=7]);
    assert!(body.get("next_url").is_none());

    // adjusted=false goes into the cursor (keys sorted, as Polygon's are) and stays.
    let (_, body) = raw_get(&f, &format!("{path}/2024-01-02/2024-01-02?adjusted=false")).await;
    assert_eq!(body["adjusted"], false);
    let next = body["next_url"].as_str().unwrap();
    // No limit asked: Polygon's default of 5000.
    assert!(
        next.ends_with(&format!(
            "/{}/2024-01-02?cursor=YWRqdXN0ZWQ9ZmFsc2UmbGltaXQ9NTAwMCZzb3J0PWFzYw",
            expected[100].t
        )),
        "{next}"
    );
    let (status, body) = raw_get(&f, next).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["adjusted"], false);
    assert_eq!(raw_bars(&body), expected[100..200]);

    // Descending: newest first; `to` moves down, `from` and the cursor stay.
    let mut next = Some(format!(
        "{path}/2024-01-02/2024-01-02?sort=desc&limit=50000"
    ));
    let mut got = Vec::new();
    let mut cursors = Vec::new();
    while let Some(url) = next.take() {
        let (status, body) = raw_get(&f, &url).await;
        assert_eq!(status, 200, "{body}");
        got.extend(raw_bars(&body));
        if let Some(n) = body["next_url"].as_str() {
            assert_eq!(from_segment(n), "2024-01-02", "{n}");
            assert!(
                n.contains(&format!("/2024-01-02/{}?", expected[389 - got.len()].t)),
                "{n}"
            );
            cursors.push(n.split_once("cursor=").unwrap().1.to_string());
            next = Some(n.to_string());
        }
    }
    let mut newest_first = expected.clone();
    newest_first.reverse();
    assert_eq!(got, newest_first);
    assert_eq!(cursors, vec!["bGltaXQ9NTAwMDAmc29ydD1kZXNj"; 3]);

    // Stricter than Polygon: offset cursors (base64 or the hex of old), unknown sorts,
    // and a `from` later than `to` are refused.
    for bad in [
        format!("{path}/{from}/2024-01-02?cursor=b2Zmc2V0PTMwMCZsaW1pdD01MDAwMCZzb3J0PWFzYw"),
        format!(
            "{path}/2024-01-02/2024-01-02\
             ?cursor=6f66667365743d333030266c696d69743d353030303026736f72743d617363"
        ),
        format!("{path}/2024-01-02/2024-01-02?cursor=%21%21"),
        format!("{path}/2024-01-02/2024-01-02?sort=sideways"),
        format!("{path}/2024-01-03/2024-01-02"),
        format!("{path}/{to}/{from}"),
        format!("{path}/{}/2024-01-01", expected[0].t),
    ] {
        let (status, body) = raw_get(&f, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status"], "ERROR", "{bad}");
    }
}

#[tokio::test]
async fn pages_of_100_return_exactly_the_served_bars() {
    let f = fake().await;
    f.set_page_size(100);
    let c = client(&f);
    // Fri 2024-03-08 (EST) and Mon 2024-03-11 (EDT): 780 minute bars, 8 pages.
    let bars = c
        .aggregates_all("AAPL", Timeframe::Minute, d(2024, 3, 8), d(2024, 3, 11))
        .await
        .unwrap();
    let expected =
        FakePolygon::expected_bars("AAPL", Timeframe::Minute, d(2024, 3, 8), d(2024, 3, 11));
    assert_eq!(expected.len(), 780);
    assert_eq!(bars, expected);
    assert_eq!(f.requests_for("AAPL"), 8);
    assert_eq!(c.requests_sent(), 8);

    let reqs = f.requests();
    assert_eq!(
        reqs[0].path,
        "/v2/aggs/ticker/AAPL/range/1/minute/2024-03-08/2024-03-11"
    );
    assert_eq!(reqs[0].query, "adjusted=true&sort=asc&limit=50000");
    for r in &reqs {
        assert!(r.bearer, "every page carries the Bearer header: {r:?}");
        assert!(!r.query_key, "the key never goes in a URL: {r:?}");
    }
    for r in &reqs[1..] {
        assert!(r.query.starts_with("cursor="), "{r:?}");
    }
}

#[tokio::test]
async fn pager_returns_one_page_per_call_then_none() {
    let f = fake().await;
    f.set_page_size(4);
    let c = client(&f);
    let mut pager = c.aggregates("MSFT", Timeframe::Day, d(2024, 1, 1), d(2024, 1, 12));
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        sizes.push(page.len());
        all.extend(page);
        assert_eq!(f.requests_for("MSFT"), sizes.len(), "one request per page");
    }
    // Jan 1 is New Year's Day: nine sessions.
    assert_eq!(sizes, vec![4, 4, 1]);
    assert!(pager.is_done());
    assert_eq!(pager.next_page().await.unwrap(), None);
    assert_eq!(f.requests_for("MSFT"), 3, "no request after the last page");
    assert_eq!(
        all,
        FakePolygon::expected_bars("MSFT", Timeframe::Day, d(2024, 1, 1), d(2024, 1, 12))
    );
}

#[tokio::test]
async fn daily_bars_are_keyed_by_new_york_date_and_weekends_are_empty() {
    let f = fake().await;
    let c = client(&f);
    let bars = c
        .aggregates_all("SPY", Timeframe::Day, d(2024, 3, 8), d(2024, 3, 12))
        .await
        .unwrap();
    let dates: Vec<_> = bars.iter().map(|b| b.ny_date()).collect();
    assert_eq!(dates, vec![d(2024, 3, 8), d(2024, 3, 11), d(2024, 3, 12)]);
    // A weekend has `resultsCount: 0` and no `results`.
    let none = c
        .aggregates_all("SPY", Timeframe::Day, d(2024, 3, 9), d(2024, 3, 10))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_repeated_next_url_stops_with_an_error_instead_of_looping() {
    let f = fake().await;
    f.set_page_size(10);
    let c = client(&f);
    let started = std::time::Instant::now();

    // The first page points back at itself.
    f.inject("AAPL", [Fault::RepeatCursor]);
    let err = c
        .aggregates_all("AAPL", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PolygonError::PagingLoop { ref ticker, .. } if ticker == "AAPL"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Polygon sent the same next_url twice for AAPL minute bars 2024-01-02..2024-01-02; \
         stopped instead of looping"
    );
    assert!(!err.is_retryable());
    assert_eq!(f.requests_for("AAPL"), 1);

    // The second page repeats its own cursor (Slow(0) is a pass-through for page one).
    f.inject("MSFT", [Fault::Slow(Duration::ZERO), Fault::RepeatCursor]);
    let err = c
        .aggregates_all("MSFT", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind_name(), "paging_loop");
    assert!(err.to_string().contains("same next_url"), "{err}");
    assert_eq!(f.requests_for("MSFT"), 2);

    // Always repeating: still one error, never a loop.
    f.inject_always("NVDA", Fault::RepeatCursor);
    let err = c
        .aggregates_all("NVDA", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 3))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NVDA"), "{err}");
    assert_eq!(f.requests_for("NVDA"), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn empty_pages_that_never_end_stop_with_an_error() {
    let f = fake().await;
    let c = client(&f);
    let started = std::time::Instant::now();

    // Every page empty, every next_url new (its `from` one ms later): stopped after three.
    f.inject_always("AAPL", Fault::EmptyPagesForever);
    let err = c
        .aggregates_all("AAPL", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PolygonError::PagingLoop { ref ticker, .. } if ticker == "AAPL"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Polygon kept sending empty pages for AAPL minute bars 2024-01-02..2024-01-05; \
         stopped after 3"
    );
    assert!(!err.is_retryable());
    assert_eq!(MAX_EMPTY_PAGES, 3);
    assert_eq!(f.requests_for("AAPL"), MAX_EMPTY_PAGES as usize);
    // What the fake sent: the same cursor each time and a `from` one ms later.
    let reqs = f.requests();
    let midnight: i64 = 1_704_171_600_000; // 2024-01-02 00:00 New York
    assert_eq!(from_segment(&reqs[0].path), "2024-01-02");
    for (i, r) in reqs[1..].iter().enumerate() {
        assert_eq!(from_segment(&r.path), (midnight + 1 + i as i64).to_string());
        assert_eq!(r.query, format!("cursor={CURSOR_50000_ASC}"));
    }

    // Fewer empty pages than the bound are passed over: the load completes (the two
    // skipped milliseconds after midnight hold no minute bar).
    f.set_page_size(1000);
    f.inject("MSFT", [Fault::EmptyPagesForever, Fault::EmptyPagesForever]);
    let bars = c
        .aggregates_all("MSFT", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap();
    assert_eq!(
        bars,
        FakePolygon::expected_bars("MSFT", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 5))
    );
    // 1560 bars: two empty pages, then 1000 and 560 bars.
    assert_eq!(f.requests_for("MSFT"), 4);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Injects `faults` for one ticker, then checks the client retried through them and
/// returned the full data.
async fn retried_then_ok(f: &FakePolygon, c: &PolygonClient, ticker: &str, faults: Vec<Fault>) {
    let n = faults.len();
    f.inject(ticker, faults);
    let bars = c
        .aggregates_all(ticker, Timeframe::Hour, d(2024, 6, 3), d(2024, 6, 7))
        .await
        .unwrap_or_else(|e| panic!("{ticker}: {e}"));
    assert_eq!(
        bars,
        FakePolygon::expected_bars(ticker, Timeframe::Hour, d(2024, 6, 3), d(2024, 6, 7))
    );
    assert_eq!(
        f.requests_for(ticker),
        n + 1,
        "{ticker}: one retry per fault"
    );
}

#[tokio::test]
async fn server_errors_html_pages_and_truncated_json_are_retried() {
    let f = fake().await;
    let c = client(&f);
    let started = std::time::Instant::now();
    retried_then_ok(&f, &c, "AAA", vec![Fault::ServerError, Fault::ServerError]).await;
    retried_then_ok(&f, &c, "BBB", vec![Fault::HtmlErrorPage]).await;
    retried_then_ok(
        &f,
        &c,
        "CCC",
        vec![Fault::TruncatedJson, Fault::TruncatedJson],
    )
    .await;
    retried_then_ok(
        &f,
        &c,
        "DDD",
        vec![
            Fault::ServerError,
            Fault::HtmlErrorPage,
            Fault::TruncatedJson,
        ],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "backoff is capped by max_backoff"
    );
}

#[tokio::test]
async fn too_many_requests_without_retry_after_backs_off_and_retries() {
    let f = fake().await;
    let c = client(&f);
    let started = std::time::Instant::now();
    retried_then_ok(
        &f,
        &c,
        "AAPL",
        vec![
            Fault::TooManyRequests { retry_after: None },
            Fault::TooManyRequests { retry_after: None },
        ],
    )
    .await;
    // Without Retry-After the wait is the backoff, capped at 50 ms here.
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let f = fake().await;
    let c = client(&f);
    let started = std::time::Instant::now();
    retried_then_ok(
        &f,
        &c,
        "AAPL",
        vec![Fault::TooManyRequests {
            retry_after: Some(1),
        }],
    )
    .await;
    // Retry-After: 1 wins over the 50 ms max_backoff.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let f = fake().await;
    let c =
        PolygonClient::new(config(&f).with_request_timeout(Duration::from_millis(300))).unwrap();
    let started = std::time::Instant::now();
    retried_then_ok(&f, &c, "AAPL", vec![Fault::Slow(Duration::from_secs(5))]).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn retries_are_bounded_and_the_final_error_names_ticker_and_status() {
    let f = fake().await;
    let c = PolygonClient::new(config(&f).with_max_retries(2)).unwrap();

    f.inject_always("AAPL", Fault::ServerError);
    let err = c
        .aggregates_all("AAPL", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PolygonError::Server { status: 500, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("AAPL day 2024-01-02..2024-01-05"), "{text}");
    assert!(text.contains("Internal server error"), "{text}");
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert_eq!(f.requests_for("AAPL"), 3);
    let core: tickstock_protocol::Error = err.into();
    assert_eq!(core.kind(), ErrorKind::Polygon);
    assert!(core.is_retryable());

    f.inject_always("MSFT", Fault::HtmlErrorPage);
    let err = c
        .aggregates_all("MSFT", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PolygonError::Server { status: 502, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTML"), "{err}");

    f.inject_always("NVDA", Fault::TruncatedJson);
    let err = c
        .aggregates_all("NVDA", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert_eq!(err.kind_name(), "decode", "{err}");
    assert!(err.to_string().contains("malformed JSON"), "{err}");

    f.inject_always("TSLA", Fault::TooManyRequests { retry_after: None });
    let err = c
        .aggregates_all("TSLA", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert_eq!(err.kind_name(), "rate_limited", "{err}");
    assert!(
        err.to_string().contains("maximum requests per minute"),
        "{err}"
    );
    assert_eq!(f.requests_for("TSLA"), 3);
}

#[tokio::test]
async fn unauthorized_forbidden_and_not_found_are_permanent() {
    let f = fake().await;

    // A wrong key: one request, the server's words.
    let bad = PolygonClient::new(PolygonConfig::new(
        f.base_url(),
        SecretString::from("wrong-key"),
    ))
    .unwrap();
    let err = bad
        .aggregates_all("AAPL", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert!(matches!(err, PolygonError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("Unknown API Key"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(bad.requests_sent(), 1);
    assert_eq!(f.requests_for("AAPL"), 1);

    let c = client(&f);
    f.inject("MSFT", [Fault::Unauthorized]);
    let err = c
        .aggregates_all("MSFT", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert_eq!(err.kind_name(), "unauthorized");
    assert_eq!(f.requests_for("MSFT"), 1);

    f.inject("NVDA", [Fault::NotEntitled]);
    let err = c
        .aggregates_all("NVDA", Timeframe::Minute, d(2010, 1, 4), d(2010, 1, 5))
        .await
        .unwrap_err();
    assert!(matches!(err, PolygonError::NotEntitled { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("You are not entitled to this data"),
        "{err}"
    );
    assert!(err.to_string().contains("NVDA"), "{err}");
    assert_eq!(f.requests_for("NVDA"), 1);

    f.inject("ZZZZ", [Fault::NotFound]);
    let err = c
        .aggregates_all("ZZZZ", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap_err();
    assert!(matches!(err, PolygonError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("Data not found"), "{err}");
    assert_eq!(f.requests_for("ZZZZ"), 1);

    let err = c.ticker_details("NOPE123").await.unwrap_err();
    assert!(matches!(err, PolygonError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("Ticker not found"), "{err}");
    assert_eq!(f.requests_for("NOPE123"), 1);
    let core: tickstock_protocol::Error = err.into();
    assert!(!core.is_retryable());
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    const KEY: &str = "sekrit-KEY-4f9a2b";
    let f = FakePolygon::start(FakePolygonConfig {
        api_key: KEY.into(),
        ..FakePolygonConfig::default()
    })
    .await;
    let cfg = PolygonConfig::new(f.base_url(), SecretString::from(KEY))
        .with_max_backoff(Duration::from_millis(10))
        .with_max_retries(1);
    let c = PolygonClient::new(cfg.clone()).unwrap();

    let mut errors = Vec::new();
    for (ticker, fault) in [
        ("A1", Fault::Unauthorized),
        ("A2", Fault::NotEntitled),
        ("A3", Fault::NotFound),
        ("A4", Fault::ServerError),
        ("A5", Fault::HtmlErrorPage),
        ("A6", Fault::TruncatedJson),
        ("A7", Fault::TooManyRequests { retry_after: None }),
        ("A8", Fault::RepeatCursor),
    ] {
        f.inject_always(ticker, fault);
        f.set_page_size(5);
        errors.push(
            c.aggregates_all(ticker, Timeframe::Day, d(2024, 1, 2), d(2024, 1, 31))
                .await
                .unwrap_err(),
        );
    }
    // A wrong key, and a server that is gone.
    let wrong = PolygonClient::new(PolygonConfig::new(
        f.base_url(),
        SecretString::from(format!("{KEY}-old")),
    ))
    .unwrap();
    errors.push(wrong.grouped_daily(d(2024, 1, 2)).await.unwrap_err());
    let base = f.base_url();
    f.shutdown();
    drop(f);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = PolygonClient::new(
        PolygonConfig::new(base, SecretString::from(KEY))
            .with_max_backoff(Duration::from_millis(10))
            .with_max_retries(1)
            .with_request_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    errors.push(gone.ticker_details("AAPL").await.unwrap_err());

    assert_eq!(errors.len(), 10);
    for e in &errors {
        let core: tickstock_protocol::Error = e.clone().into();
        for text in [
            e.to_string(),
            format!("{e:?}"),
            core.to_string(),
            format!("{core:?}"),
        ] {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }
    assert_eq!(errors[9].kind_name(), "network", "{}", errors[9]);
    for text in [format!("{c:?}"), format!("{cfg:?}")] {
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
}

#[tokio::test]
async fn grouped_daily_stamps_normalise_to_the_trading_date() {
    let f = fake().await;
    let c = client(&f);
    // Monday after the spring DST change: 16:00 EDT = 20:00 UTC.
    let date = d(2024, 3, 11);
    let rows = c.grouped_daily(date).await.unwrap();
    assert_eq!(rows.len(), f.grouped_tickers().len());
    assert!(rows.len() >= 48);
    let close = 1_710_187_200_000; // 2024-03-11 20:00 UTC
    for r in &rows {
        assert_eq!(r.bar.ny_date(), date, "{}", r.ticker);
        assert_eq!(r.bar.t, close);
    }
    for t in ["AAPL", "SPY", "BRK.B"] {
        assert!(rows.iter().any(|r| r.ticker == t), "{t} missing");
    }
    let expected = f.expected_grouped(date);
    assert_eq!(
        rows.iter()
            .map(|r| (r.ticker.clone(), r.bar))
            .collect::<Vec<_>>(),
        expected
    );

    // A Saturday: no results at all.
    assert!(c.grouped_daily(d(2024, 3, 9)).await.unwrap().is_empty());

    // Faults on the grouped endpoint are keyed by GROUPED.
    f.inject(GROUPED, [Fault::ServerError]);
    assert_eq!(c.grouped_daily(date).await.unwrap().len(), rows.len());
    assert_eq!(f.requests_for(GROUPED), 4);
}

#[tokio::test]
async fn reference_tickers_follow_next_url_and_filter() {
    let f = fake().await;
    let c = client(&f);
    let etfs = c
        .tickers(&TickerQuery {
            limit: Some(5),
            ..TickerQuery::of_type("ETF")
        })
        .await
        .unwrap();
    assert_eq!(etfs.len(), 16);
    assert_eq!(f.requests_for(REFERENCE), 4, "pages of 5, 5, 5, 1");
    assert!(etfs.iter().all(|t| t.ticker_type.as_deref() == Some("ETF")));
    let names: Vec<_> = etfs.iter().map(|t| t.ticker.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "in order, no repeats across pages");
    for t in ["SPY", "QQQ", "DIA", "IWM", "VTI"] {
        assert!(names.contains(&t), "{t}");
    }
    for r in &f.requests() {
        assert!(r.bearer && !r.query_key, "{r:?}");
    }

    let stocks = c.tickers(&TickerQuery::of_type("CS")).await.unwrap();
    assert_eq!(stocks.len(), 32);
    assert_eq!(f.requests_for(REFERENCE), 5, "one page of up to 1000");
    let aapl = stocks.iter().find(|t| t.ticker == "AAPL").unwrap();
    assert_eq!(aapl.name, "Apple Inc.");
    assert_eq!(aapl.market, "stocks");
    assert!(aapl.active);

    let spdr = c
        .tickers(&TickerQuery {
            search: Some("spdr".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!spdr.is_empty());
    assert!(spdr.iter().all(|t| t.name.to_lowercase().contains("spdr")));

    let details = c.ticker_details("AAPL").await.unwrap();
    assert_eq!(details.info.ticker, "AAPL");
    assert_eq!(details.info.ticker_type.as_deref(), Some("CS"));
    assert!(details.market_cap.unwrap() > 0.0);
    assert!(details.list_date.is_some());
}

#[tokio::test]
async fn retries_spend_the_rate_limit_shared_by_clones() {
    let f = fake().await;
    let mut cfg = config(&f).with_requests_per_minute(2);
    cfg.rate_window = Duration::from_millis(600);
    let c = PolygonClient::new(cfg).unwrap();
    let c2 = c.clone();
    let started = std::time::Instant::now();
    f.inject("AAPL", [Fault::ServerError]);
    c.aggregates_all("AAPL", Timeframe::Day, d(2024, 1, 2), d(2024, 1, 5))
        .await
        .unwrap();
    assert_eq!(c.requests_sent(), 2, "the retry is a request too");
    assert!(started.elapsed() < Duration::from_millis(600));
    // The budget of 2 is spent: the clone's request waits for the window.
    c2.ticker_details("MSFT").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(c.requests_sent(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_sixth_request_of_a_five_per_minute_plan_waits_a_minute_and_the_margin() {
    let rl = std::sync::Arc::new(RateLimiter::per_minute(5));
    let start = tokio::time::Instant::now();
    for _ in 0..5 {
        rl.acquire().await;
    }
    assert_eq!(
        tokio::time::Instant::now(),
        start,
        "within the limit: no sleep"
    );
    let sixth = tokio::spawn({
        let rl = rl.clone();
        async move {
            rl.acquire().await;
            tokio::time::Instant::now()
        }
    });
    // A minute plus the 2 s margin for the way to Polygon.
    tokio::time::sleep(Duration::from_millis(61_999)).await;
    assert!(
        !sixth.is_finished(),
        "the sixth acquire finished before 62 s"
    );
    let done = sixth.await.unwrap();
    assert_eq!(done - start, Duration::from_secs(62));
}

#[tokio::test(start_paused = true)]
async fn an_unlimited_plan_never_waits() {
    let rl = RateLimiter::per_minute(0);
    let start = tokio::time::Instant::now();
    for _ in 0..1_000 {
        rl.acquire().await;
    }
    assert_eq!(tokio::time::Instant::now(), start);
}

// ----- hostile pages: a page is trusted only as far as it answers the request -----

/// A job of AAPL bars over `[from, to]` run in the foreground against `f` into a fresh
/// SQLite file; its final status and the AAPL bars stored.
async fn hostile_run(
    f: &FakePolygon,
    tf: Timeframe,
    from: NaiveDate,
    to: NaiveDate,
) -> (
    tickstock_protocol::status::JobStatus,
    Vec<tickstock_data::store::StoredBar>,
    tempfile::TempDir,
) {
    use tickstock_data::loader::{Loader, LoaderConfig};
    use tickstock_protocol::job::{DateRange, Job, JobSpec};
    let dir = tempfile::tempdir().unwrap();
    let store = tickstock_data::store::Store::connect(&format!(
        "sqlite://{}/hostile.db",
        dir.path().display()
    ))
    .await
    .unwrap();
    let loader = Loader::new(
        PolygonClient::new(config(f).with_requests_per_minute(0)).unwrap(),
        store.clone(),
        LoaderConfig {
            concurrency: 1,
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let job = Job::new(
        JobSpec::Historical {
            symbols: vec!["AAPL".into()],
            timespan: tf,
            range: DateRange {
                years: None,
                start_date: Some(from),
                end_date: Some(to),
            },
        },
        "test",
    );
    let st = crate::support::run_in_process(&loader, &job).await;
    let bars = store.read_bars("AAPL", tf).await.unwrap();
    (st, bars, dir)
}

#[tokio::test]
async fn a_next_url_to_another_ticker_is_not_followed_and_nothing_of_it_is_stored() {
    let f = fake().await;
    f.set_page_size(390);
    f.inject("AAPL", [Fault::NextUrlToTicker("MSFT".into())]);
    let (st, bars, _) = hostile_run(&f, Timeframe::Minute, d(2024, 3, 4), d(2024, 3, 8)).await;
    assert_ne!(
        st.state,
        tickstock_protocol::status::JobState::Completed,
        "{st:?}"
    );
    assert!(
        st.failures
            .iter()
            .any(|x| x.reason.contains("another listing")),
        "{st:?}"
    );
    assert!(
        f.requests_for("MSFT") == 0,
        "the MSFT listing was requested"
    );
    // Only the first (true) page of AAPL was stored.
    assert_eq!(bars.len(), 390);
    let truth = FakePolygon::expected_bars("AAPL", Timeframe::Minute, d(2024, 3, 4), d(2024, 3, 8));
    assert_eq!(bars[0].close, truth[0].c);
}

#[tokio::test]
async fn bars_outside_the_requested_range_are_dropped() {
    let f = fake().await;
    f.inject("AAPL", [Fault::OutOfRangeBars]);
    let (st, bars, _) = hostile_run(&f, Timeframe::Day, d(2024, 3, 4), d(2024, 3, 29)).await;
    assert_eq!(
        st.state,
        tickstock_protocol::status::JobState::Completed,
        "{st:?}"
    );
    let truth = FakePolygon::expected_bars("AAPL", Timeframe::Day, d(2024, 3, 4), d(2024, 3, 29));
    assert_eq!(bars.len(), truth.len(), "{bars:?}");
    assert!(bars
        .iter()
        .all(|b| b.time.as_str() >= "2024-03-04" && b.time.as_str() <= "2024-03-29"));
    assert_eq!(st.ohlcv_records_loaded, Some(truth.len() as u64));
}

#[tokio::test]
async fn two_bars_at_one_time_are_an_error_not_a_winner() {
    let f = fake().await;
    f.inject("AAPL", [Fault::DuplicateBar]);
    let (st, bars, _) = hostile_run(&f, Timeframe::Day, d(2024, 3, 4), d(2024, 3, 29)).await;
    assert_ne!(
        st.state,
        tickstock_protocol::status::JobState::Completed,
        "{st:?}"
    );
    assert!(
        st.failures.iter().any(|x| x.reason.contains("same time")),
        "{st:?}"
    );
    assert!(bars.iter().all(|b| b.close != 99_999.0), "{bars:?}");
    assert!(bars.is_empty(), "nothing of the page is stored: {bars:?}");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_nor_read_as_an_empty_answer() {
    let f = fake().await;
    f.inject(
        "AAPL",
        [Fault::RedirectTo("http://127.0.0.2:9/v2/empty".into())],
    );
    let (st, bars, _) = hostile_run(&f, Timeframe::Day, d(2024, 3, 4), d(2024, 3, 29)).await;
    assert_ne!(
        st.state,
        tickstock_protocol::status::JobState::Completed,
        "{st:?}"
    );
    assert!(
        st.failures.iter().any(|x| x.reason.contains("redirect")),
        "{st:?}"
    );
    assert!(bars.is_empty());
}

#[tokio::test]
async fn pages_that_creep_forward_without_new_bars_are_stopped() {
    let f = fake().await;
    f.inject_always("AAPL", Fault::CreepingPages);
    let started = std::time::Instant::now();
    let (st, bars, _) = hostile_run(&f, Timeframe::Minute, d(2024, 3, 4), d(2024, 3, 8)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_ne!(
        st.state,
        tickstock_protocol::status::JobState::Completed,
        "{st:?}"
    );
    assert!(
        f.requests_for("AAPL") <= 5,
        "{} pages",
        f.requests_for("AAPL")
    );
    assert_eq!(bars.len(), 1);
    assert_eq!(st.ohlcv_records_loaded, Some(1), "{st:?}");
}
