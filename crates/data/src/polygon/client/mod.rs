//! [`PolygonClient`]: builds request URLs, authenticates with the Bearer header, spends the
//! shared rate limit, and runs the retry loop that turns HTTP answers into typed results or
//! [`PolygonError`]s.
//!
//! This file holds the configuration, the client and its endpoints; `request.rs` the
//! request and retry loop every endpoint goes through.

mod request;
pub(crate) use request::Envelope;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::errors::PolygonError;
use super::limiter::Limiter;
use super::rate_limit::RateLimiter;
use super::shared_budget::{PlanValue, SharedBudget};
use super::types::{
    DetailsResponse, GroupedBar, GroupedResponse, TickerDetails, TickerInfo, TickerQuery,
};
use tickstock_protocol::settings::redact_url;

/// The `limit` sent with every aggregates request (Polygon's maximum).
pub const AGGREGATES_LIMIT: u32 = 50_000;

/// How to reach Polygon and how hard to try.
#[derive(Debug, Clone)]
pub struct PolygonConfig {
    /// `https://api.polygon.io` (or `https://api.massive.com`, or a test server).
    pub base_url: String,
    /// Sent only in the `Authorization: Bearer` header.
    pub api_key: SecretString,
    /// The plan's request budget per window (free plan: 5 a minute); 0 = unlimited.
    pub requests_per_minute: u32,
    /// The window the budget applies to: a minute for every Polygon plan. Only tests
    /// shorten it. Requests are counted over it plus a margin
    /// ([`super::rate_limit::margin_for`]: 2 s for a minute).
    pub rate_window: Duration,
    /// Retries after the first attempt for failures that may go away (429, 5xx, HTML
    /// pages, timeouts, broken connections, malformed bodies).
    pub max_retries: u32,
    /// Limit for one whole HTTP exchange, body included.
    pub request_timeout: Duration,
    /// Longest wait between two attempts (a server's `Retry-After` may be longer).
    pub max_backoff: Duration,
}

impl PolygonConfig {
    /// Defaults: unlimited requests, 5 retries, 30 s timeout, 60 s longest backoff.
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        PolygonConfig {
            base_url: base_url.into(),
            api_key,
            requests_per_minute: 0,
            rate_window: Duration::from_secs(60),
            max_retries: 5,
            request_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60),
        }
    }

    pub fn with_requests_per_minute(mut self, rpm: u32) -> Self {
        self.requests_per_minute = rpm;
        self
    }

    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }
}

/// The Polygon REST client. Cheap to clone; clones share the HTTP connection pool, the
/// rate limiter and the request counter. [`PolygonClient::for_job`] gives a clone that
/// also counts one job's requests.
#[derive(Clone)]
pub struct PolygonClient {
    inner: Arc<Inner>,
    /// The requests of one job, when this clone serves one.
    job: Option<Arc<AtomicU64>>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
    limiter: Limiter,
    max_retries: u32,
    request_timeout: Duration,
    max_backoff: Duration,
    sent: AtomicU64,
    outage: std::sync::Mutex<Option<Outage>>,
}

/// Connection failures in a row (any request of this client), with the first one's time.
#[derive(Debug, Clone)]
struct Outage {
    since: chrono::DateTime<chrono::Local>,
    cause: String,
    failures: u32,
}

/// Consecutive connection failures after which Polygon counts as unreachable: requests
/// then fail at once with [`PolygonError::Unreachable`] instead of retrying, until one
/// gets an answer again.
pub const UNREACHABLE_AFTER: u32 = 3;

impl fmt::Debug for PolygonClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolygonClient")
            .field("base_url", &redact_url(self.inner.base.as_str()))
            .field("requests_per_minute", &self.inner.limiter.limit())
            .field("max_retries", &self.inner.max_retries)
            .field("requests_sent", &self.requests_sent())
            .finish_non_exhaustive()
    }
}

impl PolygonClient {
    /// Checks the settings and builds the client. The base URL must be an absolute
    /// `http` or `https` URL; the key must not be empty.
    pub fn new(cfg: PolygonConfig) -> Result<Self, PolygonError> {
        let raw = cfg.base_url.trim();
        let base = Url::parse(raw).map_err(|e| PolygonError::InvalidConfig {
            message: format!("base URL `{}` is not a URL: {e}", redact_url(raw)),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(PolygonError::InvalidConfig {
                message: format!(
                    "base URL must start with http:// or https://, not `{}://`",
                    base.scheme()
                ),
            });
        }
        if base.cannot_be_a_base() || base.host_str().is_none_or(str::is_empty) {
            return Err(PolygonError::InvalidConfig {
                message: format!("base URL `{}` has no host", redact_url(raw)),
            });
        }
        if base.query().is_some() || !base.username().is_empty() || base.password().is_some() {
            return Err(PolygonError::InvalidConfig {
                message: format!(
                    "base URL `{}` must not carry credentials or a query string; \
                     the API key is a separate setting",
                    redact_url(raw)
                ),
            });
        }
        if cfg.api_key.expose_secret().trim().is_empty() {
            return Err(PolygonError::InvalidConfig {
                message: "the Polygon API key is empty".into(),
            });
        }
        if cfg.request_timeout.is_zero() {
            return Err(PolygonError::InvalidConfig {
                message: "request timeout must be longer than zero".into(),
            });
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("tickstock-admin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PolygonError::InvalidConfig {
                message: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(PolygonClient {
            inner: Arc::new(Inner {
                http,
                base,
                api_key: cfg.api_key,
                limiter: Limiter::in_process(RateLimiter::for_plan(
                    cfg.requests_per_minute,
                    cfg.rate_window,
                )),
                max_retries: cfg.max_retries,
                request_timeout: cfg.request_timeout,
                max_backoff: cfg.max_backoff,
                sent: AtomicU64::new(0),
                outage: std::sync::Mutex::new(None),
            }),
            job: None,
        })
    }

    /// A clone for one job: everything shared as before, and the job's own requests
    /// counted apart ([`PolygonClient::job_requests`]), whatever else uses the client.
    pub fn for_job(&self) -> PolygonClient {
        PolygonClient {
            inner: self.inner.clone(),
            job: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    /// HTTP requests of this clone's job so far (retries included; 0 for a client that
    /// serves no one job).
    pub fn job_requests(&self) -> u64 {
        self.job.as_ref().map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// HTTP requests sent so far by this client and its clones (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// The limiter every request of this client goes through.
    pub fn rate_limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// Changes the plan's rate for every request from now on, running jobs included. With
    /// a shared budget ([`PolygonClient::share_budget`]) this is an explicit setting: it
    /// is written to Redis and applies to every process on the key.
    pub fn set_requests_per_minute(&self, per_minute: u32) {
        self.inner.limiter.set_limit(per_minute);
    }

    /// From now on, counts every request of this client (and its clones) against the
    /// key's budget in Redis, shared by every process using the key, instead of this
    /// process's own. The plan's value is settled first ([`SharedBudget::adopt_plan`]):
    /// `explicit` means this process's value was set explicitly and wins; otherwise a
    /// stored value wins. `who` names this process in the stored plan. On an error the
    /// client keeps its in-process limiter.
    pub async fn share_budget(
        &self,
        conn: redis::aio::ConnectionManager,
        keys: &tickstock_protocol::keys::Keys,
        explicit: bool,
        who: &str,
    ) -> Result<PlanValue, redis::RedisError> {
        let local = self.inner.limiter.local();
        let budget = Arc::new(SharedBudget::new(
            conn,
            keys,
            &self.inner.api_key,
            local.limit(),
            local.plan_window(),
        ));
        let plan = budget.adopt_plan(local.limit(), explicit, who).await?;
        self.inner.limiter.share(budget, who);
        Ok(plan)
    }

    /// The base URL in use (it never carries secrets: [`PolygonClient::new`] refuses those).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The daily bar of every US stock for one date (empty on weekends and holidays).
    /// Each bar's `t` is the end of the day window; [`Bar::ny_date`] gives the trading date.
    pub async fn grouped_daily(&self, date: NaiveDate) -> Result<Vec<GroupedBar>, PolygonError> {
        let mut url = self.endpoint(&[
            "v2",
            "aggs",
            "grouped",
            "locale",
            "us",
            "market",
            "stocks",
            &date.format("%Y-%m-%d").to_string(),
        ]);
        url.query_pairs_mut().append_pair("adjusted", "true");
        let what = format!("grouped daily {date}");
        let resp: GroupedResponse = self.get_json(&url, &what).await?;
        Ok(resp
            .results
            .unwrap_or_default()
            .into_iter()
            .map(GroupedBar::from)
            .collect())
    }

    /// Reference tickers matching `q`, following `next_url` to the end.
    pub async fn tickers(&self, q: &TickerQuery) -> Result<Vec<TickerInfo>, PolygonError> {
        let mut url = self.endpoint(&["v3", "reference", "tickers"]);
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in q.pairs() {
                pairs.append_pair(k, &v);
            }
        }
        let label = match &q.ticker_type {
            Some(t) => format!("reference tickers (type {t})"),
            None => "reference tickers".to_string(),
        };
        self.list_all(url, &label).await
    }

    /// One ticker's reference details; [`PolygonError::NotFound`] for an unknown ticker.
    pub async fn ticker_details(&self, ticker: &str) -> Result<TickerDetails, PolygonError> {
        let url = self.endpoint(&["v3", "reference", "tickers", ticker]);
        let what = format!("{ticker} details");
        let resp: DetailsResponse = self.get_json(&url, &what).await?;
        resp.results.ok_or_else(|| PolygonError::NotFound {
            message: format!("{what}: the answer has no results"),
        })
    }

    /// `base` + path segments (each percent-encoded as needed).
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Resolves a `next_url` against the configured base. It is used as sent when it
    /// points at the configured server; otherwise only its path and query are kept, so
    /// the key in the Authorization header only ever goes to the configured server. An
    /// `apiKey` parameter, if Polygon ever echoed one, is removed.
    pub(crate) fn follow(&self, next: &str, what: &str) -> Result<Url, PolygonError> {
        let base = &self.inner.base;
        let parsed = base.join(next.trim()).map_err(|e| PolygonError::Decode {
            message: format!("{what}: next_url is not a URL ({e})"),
        })?;
        let mut url = if parsed.scheme() == base.scheme()
            && parsed.host_str() == base.host_str()
            && parsed.port_or_known_default() == base.port_or_known_default()
        {
            parsed
        } else {
            tracing::debug!(
                what,
                "next_url points at another host; following its path on the configured server"
            );
            let mut u = base.clone();
            u.set_path(parsed.path());
            u.set_query(parsed.query());
            u
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        // Any pair that names the key (however oddly spelled: `?apiKey` after a stray
        // `?`) or carries its value is dropped.
        let key = self.inner.api_key.expose_secret().to_string();
        let is_key = |k: &str, v: &str| {
            k.to_ascii_lowercase().contains("apikey")
                || v.to_ascii_lowercase().contains("apikey")
                || (key.len() >= 4 && (k.contains(&key) || v.contains(&key)))
        };
        if url.query_pairs().any(|(k, v)| is_key(&k, &v)) {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, v)| !is_key(k, v))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                url.set_query(None);
            } else {
                url.query_pairs_mut().clear().extend_pairs(kept);
            }
        }
        url.set_fragment(None);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstock_protocol::timeframe::Timeframe;

    fn client(base: &str) -> PolygonClient {
        PolygonClient::new(PolygonConfig::new(base, SecretString::from("sekrit-key"))).unwrap()
    }

    #[test]
    fn rejects_unusable_base_urls_without_echoing_secrets() {
        for bad in [
            "api.polygon.io",
            "ftp://api.polygon.io",
            "https://user:pw@api.polygon.io",
            "https://api.polygon.io/?apiKey=abc",
            "mailto:x@y",
        ] {
            let err =
                PolygonClient::new(PolygonConfig::new(bad, SecretString::from("k"))).unwrap_err();
            assert_eq!(err.kind_name(), "invalid_config", "{bad}");
            let text = err.to_string();
            assert!(!text.contains("pw@"), "{text}");
            assert!(!text.contains("apiKey=abc"), "{text}");
        }
        let err = PolygonClient::new(PolygonConfig::new(
            "https://api.polygon.io",
            SecretString::from(" "),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("API key is empty"));
    }

    #[test]
    fn builds_aggregate_urls_without_the_key() {
        let c = client("http://127.0.0.1:9/");
        let p = c.aggregates(
            "BRK.B",
            Timeframe::Day,
            NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(),
        );
        let url = p.current_url().unwrap().to_string();
        assert_eq!(
            url,
            "http://127.0.0.1:9/v2/aggs/ticker/BRK.B/range/1/day/2024-01-02/2024-01-31?adjusted=true&sort=asc&limit=50000"
        );
        assert!(!url.contains("sekrit"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("sekrit"), "{dbg}");
    }

    #[test]
    fn next_url_stays_on_the_configured_server_and_drops_api_keys() {
        let c = client("http://127.0.0.1:9");
        let u = c
            .follow(
                "https://evil.example/v2/aggs/ticker/A/range/1/day/x/y?cursor=abc&apiKey=zzz",
                "A",
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/v2/aggs/ticker/A/range/1/day/x/y?cursor=abc"
        );
        let u = c.follow("/v3/reference/tickers?cursor=q1", "t").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/v3/reference/tickers?cursor=q1"
        );
        let u = c
            .follow(
                "http://127.0.0.1:9/v3/reference/tickers?cursor=YQ%3D%3D",
                "t",
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/v3/reference/tickers?cursor=YQ%3D%3D"
        );
    }
}
