//! Prometheus metrics of this process, in the OpenMetrics text format (which Prometheus
//! scrapes), written with `prometheus-client`, the Prometheus project's own Rust client:
//! - `tickstock_jobs_total{state}`: jobs that ended here, by final state, counted where
//!   every job ends ([`crate::lifecycle::run_job`]);
//! - `tickstock_bars_loaded_total`: bars those jobs loaded (as each reports at its end;
//!   a job resumed from another worker's checkpoints counts the bars of earlier runs too);
//! - `tickstock_polygon_requests_total`: HTTP requests sent to Polygon (retries
//!   included), read from the client's own counter at each scrape;
//! - `tickstock_queue_waiting`: jobs waiting in the stream, read at each scrape.
//!
//! [`serve`] answers `GET /metrics` on a TCP address until its token is cancelled.

use std::sync::OnceLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::bus::Bus;
use tickstock_data::polygon::PolygonClient;
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::status::JobStatus;

/// The label of `tickstock_jobs_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// The process's metrics.
struct Metrics {
    registry: Registry,
    jobs: Family<StateLabel, Counter>,
    bars: Counter,
    polygon: Counter,
    waiting: Gauge,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let jobs = Family::<StateLabel, Counter>::default();
        let bars = Counter::default();
        let polygon = Counter::default();
        let waiting = Gauge::default();
        registry.register(
            "tickstock_jobs",
            "Jobs that ended in this process, by final state",
            jobs.clone(),
        );
        registry.register(
            "tickstock_bars_loaded",
            "Bars loaded by the jobs that ended in this process",
            bars.clone(),
        );
        registry.register(
            "tickstock_polygon_requests",
            "HTTP requests sent to Polygon, retries included",
            polygon.clone(),
        );
        registry.register(
            "tickstock_queue_waiting",
            "Jobs waiting in the queue, not yet taken by any worker",
            waiting.clone(),
        );
        Metrics {
            registry,
            jobs,
            bars,
            polygon,
            waiting,
        }
    })
}

/// Counts a job that ended with `status` (called by the lifecycle, once per end).
pub fn job_ended(status: &JobStatus) {
    let m = metrics();
    m.jobs
        .get_or_create(&StateLabel {
            state: status.state.as_str().to_string(),
        })
        .inc();
    m.bars.inc_by(status.ohlcv_records_loaded.unwrap_or(0));
}

/// Where the gauges and the Polygon count are read at each scrape.
#[derive(Clone, Default)]
pub struct Sources {
    pub polygon: Option<PolygonClient>,
    pub bus: Option<Bus>,
}

/// The metrics as OpenMetrics text, after reading `sources`.
pub async fn render(sources: &Sources) -> String {
    let m = metrics();
    if let Some(p) = &sources.polygon {
        let sent = p.requests_sent();
        let seen = m.polygon.get();
        if sent > seen {
            m.polygon.inc_by(sent - seen);
        }
    }
    if let Some(bus) = &sources.bus {
        match bus.queue_depth().await {
            Ok(d) => {
                m.waiting.set(i64::try_from(d.waiting).unwrap_or(i64::MAX));
            }
            Err(e) => debug!("queue depth for metrics: {e}"),
        }
    }
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &m.registry) {
        warn!("could not encode metrics: {e}");
    }
    out
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` (`HOST:PORT`) for [`serve`]; the error names the address.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!(
                "Cannot serve metrics on {}: {e}",
                tickstock_protocol::error::quote_input(addr)
            ),
        )
    })
}

/// Connections answered at once; more wait in the kernel's backlog (they hold no file
/// descriptor of this process), so the endpoint can never starve the loader of them.
pub const MAX_CONNECTIONS: usize = 16;

/// The longest a connection may take to send its request head, whatever it trickles.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers `GET /metrics` (and `/`) on `listener` until `stop` is cancelled; anything
/// else gets 404, a request that is not HTTP 400. At most [`MAX_CONNECTIONS`] are open
/// at once, each for at most [`REQUEST_DEADLINE`] before it is answered or dropped; a
/// failing `accept` (out of file descriptors) backs off instead of spinning, and is
/// logged once per run of failures.
pub async fn serve(listener: TcpListener, sources: Sources, stop: CancellationToken) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = std::time::Duration::from_millis(50);
    let mut failing = 0u64;
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (mut sock, _) = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => {
                    if failing > 0 {
                        warn!("metrics endpoint: accepting again after {failing} failed accepts");
                        failing = 0;
                    }
                    backoff = std::time::Duration::from_millis(50);
                    a
                }
                Err(e) => {
                    if failing == 0 {
                        warn!("metrics endpoint: cannot accept connections ({e}); backing off");
                    }
                    failing += 1;
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                    continue;
                }
            },
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            // Read the request head (the body, if any, is not needed), within one deadline
            // for the whole head: a client that trickles bytes cannot hold the slot.
            let deadline = tokio::time::Instant::now() + REQUEST_DEADLINE;
            while len < buf.len() {
                match tokio::time::timeout_at(deadline, sock.read(&mut buf[len..])).await {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let mut parts = head.lines().next().unwrap_or("").split_whitespace();
            let (status, ctype, body) = match (parts.next(), parts.next()) {
                (Some("GET"), Some("/metrics" | "/")) => {
                    ("200 OK", CONTENT_TYPE, render(&sources).await)
                }
                (Some(_), Some(_)) => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "Not found: the metrics are at /metrics\n".to_string(),
                ),
                _ => (
                    "400 Bad Request",
                    "text/plain; charset=utf-8",
                    "Bad request\n".to_string(),
                ),
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tokio::time::timeout(REQUEST_DEADLINE, async {
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            })
            .await;
        });
    }
}
