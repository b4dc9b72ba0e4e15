//! A fake Polygon (Massive) REST server for tests and manual runs, faithful to the
//! response formats the loader depends on (see `POLYGON.md`):
//!
//! - `GET /v2/aggs/ticker/{T}/range/1/{timespan}/{from}/{to}`: deterministic bars for any
//!   ticker on NYSE sessions only (none on holidays; minute and hour bars stop at 13:00 on
//!   early closes: see [`tickstock_protocol::calendar`]), `from`/`to` as `YYYY-MM-DD` or Unix
//!   ms, `page_size` bars a page, paged exactly
//!   as Polygon pages them: the absolute `next_url` (no key) keeps the same `cursor`, base64
//!   of `limit=N&sort=asc`, on every page and moves the `from` in the path to the Unix ms
//!   of the next bar (the `aggregates` handler says what else it does and refuses);
//! - `GET /v2/aggs/grouped/locale/us/market/stocks/{date}`: one daily bar per known ticker
//!   on trading days, `t` = 16:00 New York; nothing on weekends and holidays;
//! - `GET /v3/reference/tickers` (filters `type`, `market`, `exchange`, `active`, `search`,
//!   `ticker` and its range forms `ticker.gte`/`.gt`/`.lte`/`.lt`, `limit`; paginated) and
//!   `GET /v3/reference/tickers/{T}` (404 if unknown). A query parameter Polygon does not
//!   document for the listing (`ticker.any_of`, say) is refused with 400: Polygon may
//!   ignore it and answer the whole list, which a test would never notice;
//! - `GET /v3/reference/splits` and `GET /v1/marketstatus/upcoming` ([`corporate`]): the
//!   splits a test declares (which also adjust the bars served) and the coming holidays.
//!
//! Requests authenticate with `Authorization: Bearer KEY` or `?apiKey=KEY`. Faults can be
//! injected per ticker (or per [`GROUPED`] / [`REFERENCE`] for those endpoints): queued
//! ones are used one per request, in order; an "always" fault hits every request.
//! Every request is recorded (the key is never kept).
//!
//! [`FakePolygon::set_rate_limit`] makes it count requests per key over a sliding window
//! as Polygon does (inclusive: requests exactly a window apart share it), and remember
//! every request beyond the plan ([`FakePolygon::over_limit`]); optionally it answers them
//! 429 as Polygon would.
//!
//! The data is a pure function of (ticker, t): [`FakePolygon::expected_bars`] returns
//! exactly what the server serves.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use tickstock_protocol::{Bar, Timeframe};
use tokio_util::sync::CancellationToken;

mod aggregates;
pub mod corporate;
mod data;
mod http;
mod paging;
mod reference;
mod tickers;
use aggregates::*;
pub use corporate::{FakeHoliday, FakeSplit, MARKET_STATUS, SPLITS};
use data::*;
use http::*;
use paging::*;
use reference::*;
pub use tickers::default_reference_tickers;
use tickers::*;

/// Polygon's words in a 429 answer.
const TOO_MANY_REQUESTS: &str = "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing";

/// Fault key for the grouped daily endpoint.
pub const GROUPED: &str = "$GROUPED";
/// Fault key for the reference tickers list endpoint.
pub const REFERENCE: &str = "$REFERENCE";

/// How a request should go wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 401 `{"status":"ERROR","error":"Unknown API Key"}`.
    Unauthorized,
    /// 403 `{"status":"NOT_AUTHORIZED","message":"You are not entitled to this data..."}`.
    NotEntitled,
    /// 404 `{"status":"NOT_FOUND","message":...}`.
    NotFound,
    /// 429, with a `Retry-After: N` header when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 500 with a JSON error body.
    ServerError,
    /// 502 with an nginx-style HTML page.
    HtmlErrorPage,
    /// 200 whose JSON body is cut in half.
    TruncatedJson,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// Answers normally but with `next_url` equal to the requested URL.
    RepeatCursor,
    /// Aggregates only: an empty page (`resultsCount: 0`, no `results`) whose `next_url`
    /// is always new, its `from` one millisecond later than the requested one and the same
    /// cursor. With [`FakePolygon::inject_always`] the pages never end. Other endpoints
    /// answer normally.
    EmptyPagesForever,
    /// Hostile, aggregates only: a normal page whose `next_url` points at another ticker's
    /// listing (same bar size, range and cursor).
    NextUrlToTicker(String),
    /// Hostile, aggregates only: a normal page with two extra bars far outside the
    /// requested range (one a year before it on a Sunday, one in 2032).
    OutOfRangeBars,
    /// Hostile, aggregates only: a normal page whose last bar comes twice, the second
    /// time with close 99999.
    DuplicateBar,
    /// Hostile: a `302 Found` to this address (another host) instead of an answer.
    RedirectTo(String),
    /// A ticker Polygon has no data for (delisted long ago, renamed, a typo): aggregates
    /// answer an empty range (`resultsCount: 0`, no `results`, no `next_url`) and ticker
    /// details 404. Grouped daily never names a ticker that is not a reference row or a
    /// built-in universe member anyway.
    NoData,
    /// Hostile, aggregates only: the first bar of the range on every page, with a
    /// `next_url` whose `from` is one millisecond later than the requested one (than the
    /// bar, on the first page). With
    /// [`FakePolygon::inject_always`] the pages never end and never bring a new bar.
    CreepingPages,
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Path as requested (percent-encoded).
    pub path: String,
    /// Query string without any `apiKey` parameter.
    pub query: String,
    /// The ticker (or [`GROUPED`] / [`REFERENCE`]) the request was for, when known.
    pub ticker: Option<String>,
    /// When it arrived.
    pub time: Instant,
    /// Whether the key came in the `Authorization: Bearer` header.
    pub bearer: bool,
    /// Whether a key came in the `apiKey` query parameter.
    pub query_key: bool,
    /// The client's address, and the one of ours it dialled (tells clients apart).
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

/// Settings of a fake server.
#[derive(Debug, Clone)]
pub struct FakePolygonConfig {
    /// The only key accepted.
    pub api_key: String,
    /// Aggregate bars per page (the client asks for 50 000).
    pub page_size: usize,
    /// Added to every request before it is answered.
    pub latency: Duration,
    /// `(ticker, type)` rows of `/v3/reference/tickers`.
    pub reference_tickers: Vec<(String, String)>,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Address to listen on: 127.0.0.1, or 0.0.0.0 to be reached from other namespaces.
    pub ip: IpAddr,
}

impl Default for FakePolygonConfig {
    fn default() -> Self {
        FakePolygonConfig {
            api_key: "test-key".into(),
            page_size: 50_000,
            latency: Duration::ZERO,
            reference_tickers: default_reference_tickers(),
            port: 0,
            ip: IpAddr::from([127, 0, 0, 1]),
        }
    }
}

struct Shared {
    api_key: String,
    base_url: String,
    page_size: AtomicUsize,
    latency: Duration,
    /// Reference rows, sorted by ticker.
    reference: Vec<RefTicker>,
    /// Reference rows plus every built-in universe member, by ticker.
    known: BTreeMap<String, RefTicker>,
    queued: Mutex<HashMap<String, VecDeque<Fault>>>,
    always: Mutex<HashMap<String, Fault>>,
    requests: Mutex<Vec<RecordedRequest>>,
    request_ids: AtomicU64,
    /// Splits a test declared ([`corporate`]).
    splits: Mutex<Vec<FakeSplit>>,
    /// What the upcoming market holidays list; `None`: the calendar's coming year.
    holidays: Mutex<Option<Vec<FakeHoliday>>>,
    /// Polygon's per-key limit, when a test set one.
    rate: Mutex<Option<RateCheck>>,
    /// Requests that arrived beyond the limit.
    over_limit: AtomicU64,
}

/// Polygon's per-key request limit as the fake measures it: arrivals per key (by a hash
/// of the key, which is never kept) over a sliding, inclusive window.
struct RateCheck {
    requests: usize,
    window: Duration,
    answer_429: bool,
    arrivals: HashMap<u64, VecDeque<Instant>>,
}

impl RateCheck {
    /// Counts an arrival; true when it is beyond the limit.
    fn arrive(&mut self, key: &str) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let now = Instant::now();
        let seen = self.arrivals.entry(h.finish()).or_default();
        while seen
            .front()
            .is_some_and(|&t| now.duration_since(t) > self.window)
        {
            seen.pop_front();
        }
        let over = seen.len() >= self.requests;
        seen.push_back(now);
        over
    }
}

struct ShutdownOnDrop(CancellationToken);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A running fake server. Clones share it; it stops when the last clone is dropped or
/// [`FakePolygon::shutdown`] is called.
#[derive(Clone)]
pub struct FakePolygon {
    shared: Arc<Shared>,
    guard: Arc<ShutdownOnDrop>,
    addr: SocketAddr,
}

impl std::fmt::Debug for FakePolygon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePolygon")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl FakePolygon {
    /// Binds `cfg.ip` (`cfg.port`, 0 = any free port) and serves on a tokio task.
    ///
    /// # Panics
    /// When the port cannot be bound (a test-support failure, not a test result).
    pub async fn start(cfg: FakePolygonConfig) -> FakePolygon {
        let listener = tokio::net::TcpListener::bind((cfg.ip, cfg.port))
            .await
            .unwrap_or_else(|e| panic!("fake Polygon: cannot bind {}:{}: {e}", cfg.ip, cfg.port));
        let addr = listener.local_addr().expect("bound address");
        let base_url = if addr.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        };

        let mut reference: Vec<RefTicker> = cfg
            .reference_tickers
            .iter()
            .map(|(t, ty)| RefTicker::new(&t.to_ascii_uppercase(), &ty.to_ascii_uppercase()))
            .collect();
        reference.sort_by(|a, b| a.ticker.cmp(&b.ticker));
        reference.dedup_by(|a, b| a.ticker == b.ticker);
        let mut known: BTreeMap<String, RefTicker> = BTreeMap::new();
        for u in tickstock_protocol::universe::builtin() {
            let ty = if u.kind == "ETF" { "ETF" } else { "CS" };
            for m in u.members() {
                known
                    .entry(m.clone())
                    .or_insert_with(|| RefTicker::new(&m, ty));
            }
        }
        for r in &reference {
            known.insert(r.ticker.clone(), r.clone());
        }

        let shared = Arc::new(Shared {
            api_key: cfg.api_key,
            base_url,
            page_size: AtomicUsize::new(cfg.page_size.max(1)),
            latency: cfg.latency,
            reference,
            known,
            queued: Mutex::new(HashMap::new()),
            always: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            request_ids: AtomicU64::new(1),
            splits: Mutex::new(Vec::new()),
            holidays: Mutex::new(None),
            rate: Mutex::new(None),
            over_limit: AtomicU64::new(0),
        });
        let app = Router::new()
            .route(
                "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}",
                get(aggregates),
            )
            .route(
                "/v2/aggs/grouped/locale/us/market/stocks/{date}",
                get(grouped),
            )
            .route("/v3/reference/tickers", get(tickers))
            .route("/v3/reference/tickers/{ticker}", get(ticker_details))
            .route("/v3/reference/splits", get(corporate::splits))
            .route("/v1/marketstatus/upcoming", get(corporate::upcoming))
            .fallback(unknown_route)
            .with_state(shared.clone());
        let token = CancellationToken::new();
        let stop = token.clone();
        tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<Conn>();
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::warn!("fake Polygon stopped: {e}");
            }
        });
        FakePolygon {
            shared,
            guard: Arc::new(ShutdownOnDrop(token)),
            addr,
        }
    }

    /// `http://IP:PORT` (127.0.0.1 when listening on every address), no trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key the server accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Stops accepting connections (in-flight requests finish).
    pub fn shutdown(&self) {
        self.guard.0.cancel();
    }

    /// Queues faults for `ticker` (or [`GROUPED`] / [`REFERENCE`]): each request for it
    /// uses the next one, in order; afterwards requests are answered normally.
    pub fn inject(&self, ticker: &str, faults: impl IntoIterator<Item = Fault>) {
        self.shared
            .queued
            .lock()
            .unwrap()
            .entry(ticker.to_string())
            .or_default()
            .extend(faults);
    }

    /// Every request for `ticker` gets `fault` (after any queued ones), until cleared.
    pub fn inject_always(&self, ticker: &str, fault: Fault) {
        self.shared
            .always
            .lock()
            .unwrap()
            .insert(ticker.to_string(), fault);
    }

    /// Removes every queued and permanent fault.
    pub fn clear_faults(&self) {
        self.shared.queued.lock().unwrap().clear();
        self.shared.always.lock().unwrap().clear();
    }

    /// Aggregate bars per page from now on.
    pub fn set_page_size(&self, n: usize) {
        self.shared.page_size.store(n.max(1), Ordering::SeqCst);
    }

    /// Requests received so far (every endpoint, every outcome).
    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Requests received for `ticker` (or [`GROUPED`] / [`REFERENCE`]).
    pub fn requests_for(&self, ticker: &str) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.ticker.as_deref() == Some(ticker))
            .count()
    }

    /// From now on, counts the requests of each key over a sliding `window` (inclusive,
    /// as Polygon counts: requests exactly a window apart share it) and records each one
    /// beyond `requests` ([`FakePolygon::over_limit`]); with `answer_429` it also answers
    /// those 429, as Polygon does.
    pub fn set_rate_limit(&self, requests: usize, window: Duration, answer_429: bool) {
        *self.shared.rate.lock().unwrap() = Some(RateCheck {
            requests: requests.max(1),
            window,
            answer_429,
            arrivals: HashMap::new(),
        });
        self.shared.over_limit.store(0, Ordering::SeqCst);
    }

    /// Requests that arrived beyond the limit set by [`FakePolygon::set_rate_limit`]: the
    /// 429s Polygon would have sent.
    pub fn over_limit(&self) -> u64 {
        self.shared.over_limit.load(Ordering::SeqCst)
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.requests.lock().unwrap().clear();
    }

    /// Tickers the grouped daily endpoint serves (reference rows and built-in universe
    /// members), sorted.
    pub fn grouped_tickers(&self) -> Vec<String> {
        self.shared.known.keys().cloned().collect()
    }

    /// Exactly the aggregate bars the server serves for this request, oldest first.
    pub fn expected_bars(ticker: &str, tf: Timeframe, from: NaiveDate, to: NaiveDate) -> Vec<Bar> {
        bar_times(tf, from, to)
            .into_iter()
            .map(|t| bar_at(ticker, t))
            .collect()
    }

    /// Exactly the grouped daily rows served for `date` (empty on weekends), by ticker.
    pub fn expected_grouped(&self, date: NaiveDate) -> Vec<(String, Bar)> {
        grouped_rows(&self.shared, date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn minute_bars_follow_new_york_session_across_dst() {
        // Fri 2024-03-08 (EST) .. Mon 2024-03-11 (EDT): two trading days.
        let bars =
            FakePolygon::expected_bars("AAPL", Timeframe::Minute, d(2024, 3, 8), d(2024, 3, 11));
        assert_eq!(bars.len(), 780);
        assert_eq!(bars[0].t, 1_709_908_200_000); // 09:30 EST = 14:30 UTC
        assert_eq!(bars[390].t, 1_710_163_800_000); // 09:30 EDT = 13:30 UTC
        assert_eq!(bars[389].t - bars[0].t, 389 * 60_000);
    }

    #[test]
    fn no_bars_on_holidays_and_none_after_an_early_close() {
        // Thanksgiving 2025 (Thu 27) closed; Fri 28 closes at 13:00.
        let day = |y, m, dd| {
            FakePolygon::expected_bars("AAPL", Timeframe::Minute, d(y, m, dd), d(y, m, dd))
        };
        assert!(day(2025, 11, 27).is_empty());
        let friday = day(2025, 11, 28);
        assert_eq!(friday.len(), 210);
        assert_eq!(friday.last().unwrap().t, ny_ms(d(2025, 11, 28), 12, 59));
        let hours =
            FakePolygon::expected_bars("AAPL", Timeframe::Hour, d(2025, 11, 28), d(2025, 11, 28));
        assert_eq!(hours.len(), 4, "09:00 .. 12:00");
        assert!(FakePolygon::expected_bars(
            "AAPL",
            Timeframe::Day,
            d(2025, 12, 25),
            d(2025, 12, 25)
        )
        .is_empty());
    }

    #[test]
    fn daily_weekly_monthly_stamps_are_midnight_new_york() {
        let days = FakePolygon::expected_bars("SPY", Timeframe::Day, d(2024, 3, 1), d(2024, 3, 31));
        assert_eq!(days.len(), 20, "21 weekdays, Good Friday (Mar 29) closed");
        assert!(days.iter().all(|b| ny_ms(b.ny_date(), 0, 0) == b.t));
        let weeks =
            FakePolygon::expected_bars("SPY", Timeframe::Week, d(2024, 3, 2), d(2024, 3, 12));
        // Sat 2 (no weekday) .. Tue 12: weeks of Mon 4 and Mon 11.
        assert_eq!(
            weeks.iter().map(Bar::ny_date).collect::<Vec<_>>(),
            vec![d(2024, 3, 4), d(2024, 3, 11)]
        );
        let months =
            FakePolygon::expected_bars("SPY", Timeframe::Month, d(2024, 1, 15), d(2024, 3, 1));
        assert_eq!(
            months.iter().map(Bar::ny_date).collect::<Vec<_>>(),
            vec![d(2024, 1, 1), d(2024, 2, 1), d(2024, 3, 1)]
        );
        let hours =
            FakePolygon::expected_bars("SPY", Timeframe::Hour, d(2024, 3, 9), d(2024, 3, 11));
        assert_eq!(hours.len(), 7);
    }

    #[test]
    fn bars_are_plausible_and_deterministic() {
        let bars =
            FakePolygon::expected_bars("MSFT", Timeframe::Minute, d(2024, 1, 2), d(2024, 1, 5));
        let mut fractional = 0;
        for b in &bars {
            assert!(
                b.l <= b.o && b.o <= b.h && b.l <= b.c && b.c <= b.h,
                "{b:?}"
            );
            let vw = b.vw.unwrap();
            assert!(b.l <= vw && vw <= b.h);
            assert!(b.n.unwrap() >= 1 && b.v >= 1000.0);
            if b.v.fract() != 0.0 {
                fractional += 1;
            }
        }
        assert!(fractional > 0);
        assert_eq!(bar_at("MSFT", bars[7].t), bars[7]);
        assert_ne!(bar_at("AAPL", bars[7].t), bars[7]);
    }

    #[test]
    fn cursor_round_trips() {
        let c = encode_cursor("offset=100&limit=50000");
        assert!(!c.contains('='));
        assert_eq!(decode_cursor(&c).unwrap(), "offset=100&limit=50000");
        assert_eq!(decode_cursor("zz"), None);
    }

    #[test]
    fn aggregates_cursor_is_polygons_base64_and_only_that_is_accepted() {
        let p = AggsPaging {
            limit: 50_000,
            desc: false,
            adjusted: true,
        };
        // The cursor in Polygon's own next_url for a 50,000-bar listing.
        assert_eq!(p.cursor(), "bGltaXQ9NTAwMDAmc29ydD1hc2M");
        assert_eq!(AggsPaging::from_cursor(&p.cursor()), Some(p));
        let unadjusted = AggsPaging {
            limit: 100,
            desc: true,
            adjusted: false,
        };
        assert_eq!(
            String::from_utf8(base64_decode(&unadjusted.cursor()).unwrap()).unwrap(),
            "adjusted=false&limit=100&sort=desc"
        );
        assert_eq!(
            AggsPaging::from_cursor(&unadjusted.cursor()),
            Some(unadjusted)
        );
        // Padded and standard-alphabet spellings decode too.
        assert_eq!(
            base64_decode("bGltaXQ9NTAwMDAmc29ydD1hc2M=").unwrap(),
            b"limit=50000&sort=asc"
        );
        for n in 0..40 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 250) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        for bad in [
            base64_encode(b"offset=100&limit=50000&sort=asc"),
            base64_encode(b"limit=50000"),
            base64_encode(b"sort=asc"),
            base64_encode(b"limit=0&sort=asc"),
            base64_encode(b"limit=50000&sort=up"),
            encode_cursor("offset=100&limit=50000&sort=asc&adjusted=true"),
            "not base64!".to_string(),
            "a".to_string(),
        ] {
            assert_eq!(AggsPaging::from_cursor(&bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds_are_new_york_days_or_instants() {
        let from = Bound::parse("2024-03-11").unwrap();
        assert_eq!(from.first_ms(), 1_710_129_600_000); // 00:00 EDT
        assert_eq!(from.last_ms(), 1_710_215_999_999);
        let ms = Bound::parse("1735912800000").unwrap();
        assert_eq!(ms, Bound::Ms(1_735_912_800_000));
        assert_eq!(ms.date(), d(2025, 1, 3));
        for bad in ["2024-13-01", "yesterday", "", "-5", "99999999999999999999"] {
            assert_eq!(Bound::parse(bad), None, "{bad}");
        }
    }
}
