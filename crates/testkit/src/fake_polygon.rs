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
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{NaiveDate, NaiveTime, TimeZone};
use chrono_tz::America::New_York;
use serde_json::{json, Map, Value};
use tickstock_protocol::bars::ny_date;
use tickstock_protocol::calendar;
use tickstock_protocol::{Bar, Timeframe};
use tokio_util::sync::CancellationToken;

pub mod corporate;
pub use corporate::{FakeHoliday, FakeSplit, MARKET_STATUS, SPLITS};

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
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

impl Default for FakePolygonConfig {
    fn default() -> Self {
        FakePolygonConfig {
            api_key: "test-key".into(),
            page_size: 50_000,
            latency: Duration::ZERO,
            reference_tickers: default_reference_tickers(),
            port: 0,
        }
    }
}

/// Default reference rows: (ticker, type, name, primary exchange).
const DEFAULT_REFERENCE: &[(&str, &str, &str, &str)] = &[
    ("AAPL", "CS", "Apple Inc.", "XNAS"),
    ("MSFT", "CS", "Microsoft Corp", "XNAS"),
    ("NVDA", "CS", "Nvidia Corp", "XNAS"),
    ("AMZN", "CS", "Amazon.com Inc", "XNAS"),
    ("GOOGL", "CS", "Alphabet Inc. Class A", "XNAS"),
    ("META", "CS", "Meta Platforms, Inc. Class A", "XNAS"),
    ("TSLA", "CS", "Tesla, Inc.", "XNAS"),
    ("BRK.B", "CS", "Berkshire Hathaway Inc. Class B", "XNYS"),
    ("JPM", "CS", "JPMorgan Chase & Co.", "XNYS"),
    ("V", "CS", "Visa Inc.", "XNYS"),
    ("UNH", "CS", "UnitedHealth Group Inc", "XNYS"),
    ("XOM", "CS", "Exxon Mobil Corp", "XNYS"),
    ("JNJ", "CS", "Johnson & Johnson", "XNYS"),
    ("WMT", "CS", "Walmart Inc.", "XNYS"),
    ("MA", "CS", "Mastercard Inc", "XNYS"),
    ("PG", "CS", "Procter & Gamble Co", "XNYS"),
    ("HD", "CS", "Home Depot, Inc.", "XNYS"),
    ("CVX", "CS", "Chevron Corp", "XNYS"),
    ("MRK", "CS", "Merck & Co., Inc.", "XNYS"),
    ("ABBV", "CS", "AbbVie Inc.", "XNYS"),
    ("KO", "CS", "Coca-Cola Co", "XNYS"),
    ("PEP", "CS", "PepsiCo, Inc.", "XNAS"),
    ("COST", "CS", "Costco Wholesale Corp", "XNAS"),
    ("AVGO", "CS", "Broadcom Inc.", "XNAS"),
    ("ORCL", "CS", "Oracle Corp", "XNYS"),
    ("BAC", "CS", "Bank of America Corp", "XNYS"),
    ("CRM", "CS", "Salesforce, Inc.", "XNYS"),
    ("ADBE", "CS", "Adobe Inc.", "XNAS"),
    ("NFLX", "CS", "Netflix, Inc.", "XNAS"),
    ("AMD", "CS", "Advanced Micro Devices", "XNAS"),
    ("INTC", "CS", "Intel Corp", "XNAS"),
    ("DIS", "CS", "Walt Disney Co", "XNYS"),
    ("SPY", "ETF", "SPDR S&P 500 ETF Trust", "ARCX"),
    ("QQQ", "ETF", "Invesco QQQ Trust, Series 1", "XNAS"),
    (
        "DIA",
        "ETF",
        "SPDR Dow Jones Industrial Average ETF Trust",
        "ARCX",
    ),
    ("IWM", "ETF", "iShares Russell 2000 ETF", "ARCX"),
    ("VTI", "ETF", "Vanguard Total Stock Market ETF", "ARCX"),
    ("VOO", "ETF", "Vanguard S&P 500 ETF", "ARCX"),
    ("IVV", "ETF", "iShares Core S&P 500 ETF", "ARCX"),
    ("EFA", "ETF", "iShares MSCI EAFE ETF", "ARCX"),
    ("EEM", "ETF", "iShares MSCI Emerging Markets ETF", "ARCX"),
    ("AGG", "ETF", "iShares Core U.S. Aggregate Bond ETF", "ARCX"),
    ("TLT", "ETF", "iShares 20+ Year Treasury Bond ETF", "XNAS"),
    ("GLD", "ETF", "SPDR Gold Shares", "ARCX"),
    ("XLF", "ETF", "Financial Select Sector SPDR Fund", "ARCX"),
    ("XLK", "ETF", "Technology Select Sector SPDR Fund", "ARCX"),
    ("XLE", "ETF", "Energy Select Sector SPDR Fund", "ARCX"),
    ("VNQ", "ETF", "Vanguard Real Estate ETF", "ARCX"),
];

/// The default `(ticker, type)` reference rows: 32 common stocks and 16 ETFs.
pub fn default_reference_tickers() -> Vec<(String, String)> {
    DEFAULT_REFERENCE
        .iter()
        .map(|(t, ty, _, _)| (t.to_string(), ty.to_string()))
        .collect()
}

/// One reference row as the fake serves it.
#[derive(Debug, Clone)]
struct RefTicker {
    ticker: String,
    ticker_type: String,
    name: String,
    exchange: String,
}

impl RefTicker {
    fn new(ticker: &str, ticker_type: &str) -> Self {
        let known = DEFAULT_REFERENCE.iter().find(|r| r.0 == ticker);
        let name = known.map(|r| r.2.to_string()).unwrap_or_else(|| {
            if ticker_type == "ETF" {
                format!("{ticker} Index Fund")
            } else {
                format!("{ticker} Holdings Inc.")
            }
        });
        let exchange = known.map(|r| r.3.to_string()).unwrap_or_else(|| {
            match (ticker_type, mix(hash_str(ticker), 9) % 2) {
                ("ETF", _) => "ARCX",
                (_, 0) => "XNAS",
                _ => "XNYS",
            }
            .to_string()
        });
        RefTicker {
            ticker: ticker.to_string(),
            ticker_type: ticker_type.to_string(),
            name,
            exchange,
        }
    }

    fn info_json(&self) -> Map<String, Value> {
        let h = hash_str(&self.ticker);
        let mut m = Map::new();
        m.insert("ticker".into(), json!(self.ticker));
        m.insert("name".into(), json!(self.name));
        m.insert("market".into(), json!("stocks"));
        m.insert("locale".into(), json!("us"));
        m.insert("primary_exchange".into(), json!(self.exchange));
        m.insert("type".into(), json!(self.ticker_type));
        m.insert("active".into(), json!(true));
        m.insert("currency_name".into(), json!("usd"));
        if self.ticker_type != "ETF" {
            m.insert("cik".into(), json!(format!("{:010}", h % 2_000_000)));
        }
        m.insert(
            "composite_figi".into(),
            json!(format!("BBG{:09X}", h % 0xF_FFFF_FFFF)),
        );
        m.insert(
            "share_class_figi".into(),
            json!(format!("BBG{:09X}", mix(h, 3) % 0xF_FFFF_FFFF)),
        );
        m.insert("last_updated_utc".into(), json!("2025-06-30T00:00:00Z"));
        m
    }

    fn details_json(&self) -> Value {
        let h = hash_str(&self.ticker);
        let mut m = self.info_json();
        let shares = 100_000_000.0 + (h % 9_000_000_000) as f64;
        let price = base_price(h);
        m.insert("market_cap".into(), json!((shares * price).round()));
        if self.ticker_type != "ETF" {
            m.insert("sic_code".into(), json!(format!("{}", 1000 + h % 8000)));
            m.insert(
                "sic_description".into(),
                json!("SERVICES-PREPACKAGED SOFTWARE"),
            );
            m.insert("total_employees".into(), json!(100 + h % 300_000));
        }
        let list = NaiveDate::from_ymd_opt(1980, 1, 2).unwrap()
            + chrono::Duration::days((h % 14_000) as i64);
        m.insert(
            "list_date".into(),
            json!(list.format("%Y-%m-%d").to_string()),
        );
        m.insert("weighted_shares_outstanding".into(), json!(shares));
        m.insert("share_class_shares_outstanding".into(), json!(shares));
        m.insert(
            "description".into(),
            json!(format!("{} (test data).", self.name)),
        );
        m.insert("round_lot".into(), json!(100));
        Value::Object(m)
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
    /// Binds 127.0.0.1 (`cfg.port`, 0 = any free port) and serves on a tokio task.
    ///
    /// # Panics
    /// When the port cannot be bound (a test-support failure, not a test result).
    pub async fn start(cfg: FakePolygonConfig) -> FakePolygon {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .unwrap_or_else(|e| panic!("fake Polygon: cannot bind 127.0.0.1:{}: {e}", cfg.port));
        let addr = listener.local_addr().expect("bound address");
        let base_url = format!("http://{addr}");

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

    /// `http://127.0.0.1:PORT`, without a trailing slash.
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

// ----- deterministic data -----

fn hash_str(s: &str) -> u64 {
    // FNV-1a.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 of the combination.
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(seed: u64, k: u64) -> f64 {
    (mix(seed, k) >> 11) as f64 / (1u64 << 53) as f64
}

fn base_price(ticker_hash: u64) -> f64 {
    20.0 + (ticker_hash % 48_000) as f64 / 100.0
}

fn round4(x: f64) -> f64 {
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

fn ny_ms(date: NaiveDate, h: u32, m: u32) -> i64 {
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
fn bar_times(tf: Timeframe, from: NaiveDate, to: NaiveDate) -> Vec<i64> {
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

fn grouped_rows(shared: &Shared, date: NaiveDate) -> Vec<(String, Bar)> {
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

// ----- HTTP -----

/// What a fault left for the normal answer to do.
#[derive(Default)]
struct Directive {
    repeat_cursor: bool,
    empty_pages: bool,
    truncate: bool,
    next_ticker: Option<String>,
    out_of_range: bool,
    duplicate_bar: bool,
    creeping: bool,
    no_data: bool,
}

fn query_without_key(uri: &Uri) -> String {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("apikey="))
        .collect::<Vec<_>>()
        .join("&")
}

fn query_map(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl Shared {
    fn request_id(&self) -> String {
        format!(
            "fake{:028x}",
            mix(0x5eed, self.request_ids.fetch_add(1, Ordering::Relaxed))
        )
    }

    /// Records the request, waits the latency, checks the key and applies any fault.
    /// `Err` is the response to send instead of the normal answer.
    async fn admit(
        &self,
        key: &str,
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
    fn error_response(&self, code: StatusCode, field: &str, text: &str) -> Response {
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

    fn current_url(&self, uri: &Uri) -> String {
        let q = query_without_key(uri);
        if q.is_empty() {
            format!("{}{}", self.base_url, uri.path())
        } else {
            format!("{}{}?{}", self.base_url, uri.path(), q)
        }
    }

    /// Serializes a normal answer, applying the directive.
    fn finish(&self, uri: &Uri, mut body: Map<String, Value>, d: Directive) -> Response {
        if d.repeat_cursor {
            body.insert("next_url".into(), json!(self.current_url(uri)));
        }
        self.send_json(Value::Object(body).to_string(), &d)
    }

    /// Sends a serialized answer, cut in half when the directive says so.
    fn send_json(&self, text: String, d: &Directive) -> Response {
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

    fn bad_request(&self, text: &str) -> Response {
        self.error_response(StatusCode::BAD_REQUEST, "error", text)
    }
}

/// The reference listings' cursor (hex of the paging query): those change on every page.
fn encode_cursor(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(s: &str) -> Option<String> {
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
enum Bound {
    /// `YYYY-MM-DD`: that whole day in New York.
    Date(NaiveDate),
    /// Unix milliseconds: that instant.
    Ms(i64),
}

impl Bound {
    fn parse(s: &str) -> Option<Bound> {
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
    fn date(self) -> NaiveDate {
        match self {
            Bound::Date(d) => d,
            Bound::Ms(t) => ny_date(t),
        }
    }

    /// The first instant the bound takes in, as the start of a range.
    fn first_ms(self) -> i64 {
        match self {
            Bound::Date(d) => ny_ms(d, 0, 0),
            Bound::Ms(t) => t,
        }
    }

    /// The last instant the bound takes in, as the end of a range.
    fn last_ms(self) -> i64 {
        match self {
            Bound::Date(d) => d.succ_opt().map_or(i64::MAX, |n| ny_ms(n, 0, 0) - 1),
            Bound::Ms(t) => t,
        }
    }
}

const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the URL alphabet and no padding (what Polygon's cursors look like).
fn base64_encode(bytes: &[u8]) -> String {
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
fn base64_decode(s: &str) -> Option<Vec<u8>> {
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
struct AggsPaging {
    limit: usize,
    desc: bool,
    adjusted: bool,
}

impl AggsPaging {
    /// The cursor Polygon puts in every `next_url` of a listing: base64 of the paging
    /// query with its keys sorted (`limit=50000&sort=asc`), `adjusted=false` only when the
    /// request asked for unadjusted bars.
    fn cursor(self) -> String {
        let adjusted = if self.adjusted { "" } else { "adjusted=false&" };
        let sort = if self.desc { "desc" } else { "asc" };
        base64_encode(format!("{adjusted}limit={}&sort={sort}", self.limit).as_bytes())
    }

    /// Reads a cursor made by [`AggsPaging::cursor`]. Anything else is refused: not base64,
    /// an `offset` or any other key, a missing `limit` or `sort`, a value out of range.
    fn from_cursor(c: &str) -> Option<AggsPaging> {
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
fn aggs_next_url(
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

fn parse_timespan(s: &str) -> Option<Timeframe> {
    Timeframe::ALL
        .into_iter()
        .find(|tf| tf.polygon_timespan() == s)
}

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
async fn aggregates(
    State(s): State<Arc<Shared>>,
    Path((ticker, multiplier, timespan, from, to)): Path<(String, String, String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(&ticker, &uri, &headers).await {
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
struct AggsBody<'a> {
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

async fn grouped(
    State(s): State<Arc<Shared>>,
    Path(date): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(GROUPED, &uri, &headers).await {
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

/// The query parameters Polygon documents for `GET /v3/reference/tickers` (`POLYGON.md`),
/// plus the `cursor` of its `next_url` and the `apiKey`.
const REFERENCE_PARAMS: &[&str] = &[
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

async fn tickers(State(s): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let d = match s.admit(REFERENCE, &uri, &headers).await {
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

async fn ticker_details(
    State(s): State<Arc<Shared>>,
    Path(ticker): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let d = match s.admit(&ticker, &uri, &headers).await {
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

async fn unknown_route(uri: Uri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"status": "NOT_FOUND", "request_id": "fake", "message": format!("no route for {}", uri.path())}),
    )
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
