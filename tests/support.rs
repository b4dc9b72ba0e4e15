//! Shared helpers: a bus in a fresh namespace, waiting, and the workspace's binaries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickstock_jobs::service::JobService;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::Bus;
use tickstock_queue::worker::{Worker, WorkerConfig};
use tickstock_testkit::redis_server::{shared_redis_url, unique_namespace};
use tickstock_testkit::sim::SimRunner;
use tokio_util::sync::CancellationToken;

/// A bus on the shared Redis in a namespace of its own.
pub async fn bus() -> Bus {
    bus_at(&shared_redis_url(), &unique_namespace()).await
}

pub async fn bus_at(url: &str, namespace: &str) -> Bus {
    Bus::connect(BusConfig::new(url).with_namespace(namespace))
        .await
        .expect("Redis must be running for the integration tests")
}

/// The job service over `bus`, recording in `store`'s history: the one way in for jobs.
pub fn service(bus: &Bus, store: &tickstock_data::store::Store) -> Arc<JobService> {
    Arc::new(JobService::new(Arc::new(bus.clone()), Some(store.clone())))
}

/// The job ids in `store`'s history (`job_runs`), sorted: one row per job, written by its
/// submit.
pub async fn history_ids(store: &tickstock_data::store::Store) -> Vec<String> {
    let mut ids: Vec<String> = store
        .list_job_runs(&tickstock_data::store::JobRunFilter {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("the history reads")
        .items
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

/// `ids`, sorted (to compare with [`history_ids`]).
pub fn sorted<S: AsRef<str>>(ids: &[S]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v
}

/// A historical_load job for `symbols` (day bars, 1 year).
pub fn job(symbols: &[&str]) -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timespan: Timeframe::Day,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "test",
    )
}

/// `n` distinct symbols.
pub fn symbols(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("S{i}")).collect()
}

/// Worker settings for fast tests.
pub fn fast_worker_config() -> WorkerConfig {
    WorkerConfig {
        claim_idle: Duration::from_secs(60),
        heartbeat_every: Duration::from_millis(200),
        block: Duration::from_millis(200),
        cancel_poll: Duration::from_millis(100),
        progress_every: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

/// An in-process worker running the simulated loader, logging executions.
pub fn sim_worker(
    bus: &Bus,
    per_symbol: Duration,
    cfg: WorkerConfig,
) -> (Worker, CancellationToken) {
    let shutdown = CancellationToken::new();
    let runner = SimRunner::new(per_symbol).with_log(bus.conn(), bus.keys().namespace());
    let w = Worker::new(bus.clone(), Arc::new(runner), cfg, shutdown.clone());
    (w, shutdown)
}

/// Polls `f` until it returns Some or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until something (a worker's legacy listener) is subscribed to both legacy
/// channels of `bus`'s namespace, so a message published next is heard.
pub async fn wait_subscribed(bus: &Bus) {
    let channels = [bus.keys().channel_data_load(), bus.keys().channel_control()];
    wait_for(
        Duration::from_secs(10),
        "the legacy channels to be subscribed",
        || async {
            let mut c = bus.conn();
            let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channels)
                .query_async(&mut c)
                .await
                .ok()?;
            (counts.len() == channels.len() && counts.iter().all(|(_, n)| *n > 0)).then_some(())
        },
    )
    .await
}

/// Waits for a job to reach a state matching `pred`.
pub async fn wait_status(
    bus: &Bus,
    id: &str,
    timeout: Duration,
    pred: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    wait_for(timeout, &format!("status of {id}"), || async {
        bus.status(id).await.ok().flatten().filter(|s| pred(s))
    })
    .await
}

pub async fn wait_state(bus: &Bus, id: &str, state: JobState, timeout: Duration) -> JobStatus {
    wait_status(bus, id, timeout, |s| s.state == state).await
}

/// A binary of the workspace, from the same target directory as this test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// The compatibility vectors: messages and values as the existing TickStock services
/// write them (`tests/vectors/`).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Reads a JSON-lines vectors file.
pub fn read_vectors(name: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(vectors_dir().join(name)).expect("vectors file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vector line is JSON"))
        .collect()
}

/// Reads a status key the way TickStock's page does: `TYPE` first, then `GET` (a JSON
/// string) or `HGETALL` (a hash of strings). Returns the type and the fields, or `None`
/// when the key is missing. A key whose type changed between the two commands (our worker
/// replacing TickStock's hash with its string) is read again, as a reader polling it would
/// on its next poll.
pub async fn read_like_tickstock(
    bus: &Bus,
    key: &str,
) -> Option<(String, serde_json::Map<String, serde_json::Value>)> {
    use redis::AsyncCommands;
    let mut c = bus.conn();
    for _ in 0..5 {
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut c)
            .await
            .expect("TYPE");
        match kind.as_str() {
            "string" => {
                let Ok(text) = c.get::<_, String>(key).await else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&text).expect("status is JSON");
                return Some((kind, v.as_object().expect("a JSON object").clone()));
            }
            "hash" => {
                let Ok(h) = c
                    .hgetall::<_, std::collections::HashMap<String, String>>(key)
                    .await
                else {
                    continue;
                };
                return Some((
                    kind,
                    h.into_iter()
                        .map(|(k, v)| (k, serde_json::Value::from(v)))
                        .collect(),
                ));
            }
            "none" => return None,
            other => panic!("{key} holds a {other}"),
        }
    }
    panic!("{key} kept changing type between TYPE and the read")
}

/// `tickstock.jobs.status:{id}` of a job, read the way TickStock's page reads it.
pub async fn tickstock_view(
    bus: &Bus,
    id: &str,
) -> Option<(String, serde_json::Map<String, serde_json::Value>)> {
    read_like_tickstock(bus, &bus.keys().status_alt(id)).await
}

/// Whether a time is written as TickStock writes it: naive ISO 8601, no offset.
pub fn is_naive_iso(s: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

/// A Polygon client for the fake: unlimited requests, quick retries.
pub fn fast_polygon_client(
    fake: &tickstock_testkit::fake_polygon::FakePolygon,
) -> tickstock_data::polygon::PolygonClient {
    tickstock_data::polygon::PolygonClient::new(
        tickstock_data::polygon::PolygonConfig::new(
            fake.base_url(),
            secrecy::SecretString::from(fake.api_key().to_string()),
        )
        .with_requests_per_minute(0)
        .with_max_retries(2)
        .with_request_timeout(Duration::from_secs(5))
        .with_max_backoff(Duration::from_millis(20)),
    )
    .expect("a client for the fake")
}

/// Runs a job in this process (as `tickstock load` does) and returns its final status.
pub async fn run_in_process(loader: &tickstock_data::loader::Loader, job: &Job) -> JobStatus {
    use tickstock_queue::lifecycle::{run_job, ForegroundHost, RunEnv};
    let env = RunEnv::new(
        Arc::new(tickstock_data::exec::MemoryCheckpoints::default()),
        None,
    );
    let host = Arc::new(ForegroundHost::new(Arc::new(tickstock_data::exec::NoSink)));
    let mut start = JobStatus::new(JobState::Running);
    start.worker_id = Some("tests".into());
    run_job(job, start, Arc::new(loader.clone()), host, env)
        .await
        .expect("a foreground run cannot fail to write")
        .status()
        .clone()
}
