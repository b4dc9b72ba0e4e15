//! Faults and hostile input: job messages that try to read files they should not, Redis
//! losing its data, ranges and sizes at the edges. Each test names the failure it guards
//! against; they run the release paths (the `tickstock` binary where the log matters).

use std::process::{Child, Stdio};
use std::time::Duration;

use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::redis_server::shared_redis_url;

use crate::support::{self, bin, wait_for};

mod disk_full;
mod operator_orders;
mod redis_full;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn csv_job(file: &str) -> Job {
    Job::new(
        JobSpec::CsvUniverse {
            csv_file: Some(file.into()),
            universe_key: None,
            symbols: None,
            timeframes: vec![Timeframe::Day],
            include_ohlcv: true,
            source: None,
            range: DateRange {
                years: Some(0.01),
                ..Default::default()
            },
        },
        "test",
    )
}

const SECRET: &str = "sk_live_0123456789abcdefSECRET";

/// Whether `text` holds the secret in any case (file contents are upper-cased as tickers).
fn leaks(text: &str) -> bool {
    text.to_ascii_uppercase()
        .contains(&SECRET.to_ascii_uppercase())
}

/// `csv_file` is read only inside the CSV folder, only as a regular file of bounded size,
/// and what it holds never reaches the status, the history or the log: an `.env` file, a
/// FIFO (which used to wedge the worker), `/dev/zero` (which used to eat all memory), paths
/// with `..` and absolute paths all end `failed` with a reason, quickly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_file_is_confined_to_the_csv_folder_and_never_echoed() {
    let bus = support::bus().await;
    let root = tempfile::tempdir().unwrap();
    let csv_dir = root.path().join("csv");
    std::fs::create_dir(&csv_dir).unwrap();
    let env_text = format!("POLYGON_API_KEY={SECRET}\nDATABASE_URL=postgres://u:{SECRET}@h/db\n");
    std::fs::write(root.path().join(".env"), &env_text).unwrap();
    std::fs::write(csv_dir.join(".env"), &env_text).unwrap();
    std::fs::write(
        csv_dir.join("big.csv"),
        "symbol\n".to_string() + &"AAPL\n".repeat(1_200_000),
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", csv_dir.join("zero.csv")).unwrap();
    std::os::unix::fs::symlink(root.path().join(".env"), csv_dir.join("link.csv")).unwrap();
    let fifo = csv_dir.join("fifo.csv");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let db = format!("sqlite://{}", root.path().join("ts.sqlite").display());
    let log = root.path().join("worker.log");

    let names = [
        ".env",
        "../.env",
        &root.path().join(".env").display().to_string(),
        "fifo.csv",
        "zero.csv",
        "link.csv",
        "big.csv",
        "/dev/zero",
        "sub/../../.env",
    ];
    let jobs: Vec<Job> = names.iter().map(|n| csv_job(n)).collect();
    for j in &jobs {
        bus.submit(j).await.unwrap();
    }
    let child = std::process::Command::new(bin("tickstock"))
        .arg("worker")
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", bus.keys().namespace())
        .env("DATABASE_URL", &db)
        .env("POLYGON_BASE_URL", "http://127.0.0.1:9")
        .env("POLYGON_API_KEY", "k")
        .env("TICKSTOCK_CSV_DIR", &csv_dir)
        .env("TICKSTOCK_LISTEN_LEGACY", "false")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start tickstock worker");
    let _child = KillOnDrop(child);
    let mut reasons = Vec::new();
    for (j, name) in jobs.iter().zip(names) {
        let st = wait_for(
            Duration::from_secs(20),
            &format!("the job naming {name} to end"),
            || async {
                bus.status(&j.id)
                    .await
                    .ok()
                    .flatten()
                    .filter(|s| s.state.is_terminal())
            },
        )
        .await;
        assert_eq!(st.state, JobState::Failed, "{name}: {st:?}");
        let text = serde_json::to_string(&st).unwrap();
        assert!(!leaks(&text), "{name}: the status echoes the file: {text}");
        assert!(!text.contains("AAPL"), "{name}: the status echoes the file");
        reasons.push((name, st.error_message.unwrap_or_default()));
    }
    let reason = |n: &str| &reasons.iter().find(|(name, _)| *name == n).unwrap().1;
    assert!(
        reason("../.env").contains("inside the CSV folder"),
        "{reasons:?}"
    );
    assert!(
        reason("/dev/zero").contains("inside the CSV folder"),
        "{reasons:?}"
    );
    assert!(
        reason("fifo.csv").contains("not a regular file"),
        "{reasons:?}"
    );
    assert!(
        reason("zero.csv").contains("outside the CSV folder"),
        "{reasons:?}"
    );
    assert!(
        reason("link.csv").contains("outside the CSV folder"),
        "{reasons:?}"
    );
    assert!(
        reason("big.csv").contains("larger than the limit"),
        "{reasons:?}"
    );
    assert!(reason(".env").contains("not valid tickers"), "{reasons:?}");

    // The history holds the same reasons, nothing of the files.
    let store = Store::connect(&db).await.unwrap();
    for j in &jobs {
        let run = store.job_run(&j.id).await.unwrap().expect("a job_runs row");
        assert_eq!(run.status, "failed");
        let text = format!("{run:?}");
        assert!(!leaks(&text), "history echoes the file: {text}");
    }
    store.close().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("job finished"), "{logged}");
    assert!(!leaks(&logged), "the log echoes the file: {logged}");
}

/// `tickstock load --csv PATH` reads the operator's own file (its folder is the CSV folder
/// of that run) and still never prints what a bad file holds.
#[test]
fn load_csv_reads_the_named_file_and_never_echoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("keys.env");
    std::fs::write(&env_file, format!("name\nAPI_KEY={SECRET}\n")).unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let o = std::process::Command::new(bin("tickstock"))
        .args([
            "load",
            "--csv",
            env_file.to_str().unwrap(),
            "--years",
            "0.01",
        ])
        .env("DATABASE_URL", &db)
        .env("POLYGON_BASE_URL", "http://127.0.0.1:9")
        .env("POLYGON_API_KEY", "k")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_ne!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("not valid tickers"), "{all}");
    assert!(!leaks(&all), "{all}");
}

/// Redis restarting empty (no persistence, a failover, FLUSHALL) takes the stream and its
/// consumer group away. The worker used to log NOGROUP every 5 s forever while its
/// heartbeat kept every pill green; now it recreates both and takes the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_recreates_the_stream_and_group_redis_lost() {
    use redis::AsyncCommands;
    let bus = support::bus().await;
    let (w, stop) = support::sim_worker(
        &bus,
        Duration::from_millis(10),
        support::fast_worker_config(),
    );
    let handle = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let first = support::job(&["AAPL"]);
    bus.submit(&first).await.unwrap();
    support::wait_state(
        &bus,
        &first.id,
        JobState::Completed,
        Duration::from_secs(10),
    )
    .await;

    // Everything of ours in Redis is gone, as after FLUSHALL.
    let mut c = bus.conn();
    let _: () = c.del(bus.keys().stream()).await.unwrap();
    // The worker notices and creates both again (a submit adds no group).
    wait_for(
        Duration::from_secs(10),
        "the worker to recreate the stream and its group",
        || async {
            let mut c = bus.conn();
            let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(bus.keys().stream())
                .query_async(&mut c)
                .await
                .ok()?;
            (!groups.is_empty()).then_some(())
        },
    )
    .await;
    let second = support::job(&["MSFT"]);
    bus.submit(&second).await.unwrap();
    support::wait_state(
        &bus,
        &second.id,
        JobState::Completed,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(w.consume_error(), None);
    stop.cancel();
    handle.await.unwrap().unwrap();
}

/// A worker that heartbeats but cannot take jobs is not counted as alive: health names
/// the reason, and the legacy heartbeat is not refreshed meanwhile. Once the stream can
/// be read again the worker is alive again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_when_a_worker_cannot_consume() {
    use redis::AsyncCommands;
    let bus = support::bus().await;
    let (w, stop) = support::sim_worker(
        &bus,
        Duration::from_millis(10),
        support::fast_worker_config(),
    );
    let handle = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let stale = Duration::from_secs(60);
    wait_for(Duration::from_secs(10), "the worker alive", || async {
        let h = bus.health(stale).await;
        h.workers.iter().any(|x| x.alive).then_some(())
    })
    .await;

    // The stream key now holds something that is not a stream: every read fails.
    let mut c = bus.conn();
    let _: () = c.del(bus.keys().stream()).await.unwrap();
    let _: () = c.set(bus.keys().stream(), "not a stream").await.unwrap();
    let _: () = c.del(bus.keys().legacy_heartbeat()).await.unwrap();
    let info = wait_for(Duration::from_secs(10), "health to report it", || async {
        let h = bus.health(stale).await;
        h.workers.into_iter().find(|x| {
            x.id == w.id()
                && x.cannot_consume
                    .as_deref()
                    .is_some_and(|e| e.contains("WRONGTYPE"))
        })
    })
    .await;
    assert!(!info.alive, "{info:?}");
    assert!(
        info.cannot_consume
            .as_deref()
            .unwrap()
            .contains("WRONGTYPE"),
        "{info:?}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let h = bus.health(stale).await;
    assert!(
        !h.legacy_heartbeat.as_ref().is_some_and(|l| l.present),
        "the legacy heartbeat says nothing while no job can be taken"
    );
    assert!(!h.any_worker_alive());

    let _: () = c.del(bus.keys().stream()).await.unwrap();
    let job = support::job(&["AAPL"]);
    bus.submit(&job).await.unwrap();
    support::wait_state(&bus, &job.id, JobState::Completed, Duration::from_secs(15)).await;
    wait_for(
        Duration::from_secs(10),
        "the worker alive again",
        || async {
            let h = bus.health(stale).await;
            h.workers
                .iter()
                .any(|x| x.id == w.id() && x.alive)
                .then_some(())
        },
    )
    .await;
    stop.cancel();
    handle.await.unwrap().unwrap();
}

/// `--from D --to D` was accepted at submit and always failed on the worker (the
/// message said `years: 0`): a single day now runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_day_range_runs_on_the_worker() {
    let bus = support::bus().await;
    let request = tickstock_protocol::job::JobRequest {
        kind: "historical_load".into(),
        symbols: tickstock_protocol::job::SymbolsInput::Text("AAPL".into()),
        start_date: Some("2024-03-04".into()),
        end_date: Some("2024-03-04".into()),
        ..Default::default()
    };
    let job = request.build_builtin("test").unwrap();
    bus.submit(&job).await.unwrap();
    let (w, _stop) = support::sim_worker(
        &bus,
        Duration::from_millis(1),
        support::fast_worker_config(),
    );
    let outcome = w.try_execute_next().await.unwrap();
    assert_eq!(
        outcome,
        tickstock_queue::worker::Outcome::Executed {
            job_id: job.id.clone(),
            state: JobState::Completed
        }
    );
}

/// Adds a raw entry to the job stream, as any Redis client could.
async fn add_raw(bus: &tickstock_queue::bus::Bus, job_id: &str, message: &str) {
    let mut c = bus.conn();
    bus.ensure_group().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(bus.keys().stream())
        .arg("*")
        .arg("job")
        .arg(message)
        .arg("job_id")
        .arg(job_id)
        .query_async(&mut c)
        .await
        .unwrap();
}

/// Hostile messages are rejected by name without repeating them: a 5 MB symbol, more
/// symbols than the limit, a message over the size limit, a symbol with a line break
/// (which used to load as `AB`), a 1 MB job type. Each ends `failed` with a short reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_rejected_without_echoing_them() {
    use tickstock_protocol::job::{MAX_MESSAGE_BYTES, MAX_SYMBOLS};
    let bus = support::bus().await;
    let (w, _stop) = support::sim_worker(
        &bus,
        Duration::from_millis(1),
        support::fast_worker_config(),
    );
    let huge = "A".repeat(5 * 1024 * 1024);
    let many: Vec<String> = (0..MAX_SYMBOLS + 1).map(|i| format!("S{i}")).collect();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "huge-symbol",
            serde_json::json!({"job_type": "historical_load", "symbols": [huge.as_str()], "years": 1}),
            "more than the limit",
        ),
        (
            "small-huge-symbol",
            serde_json::json!({"job_type": "historical_load", "symbols": ["A".repeat(5000)], "years": 1}),
            "longer than 10 characters",
        ),
        (
            "many",
            serde_json::json!({"job_type": "historical_load", "symbols": many, "years": 1}),
            "more than the limit of 10000",
        ),
        (
            "newline",
            serde_json::json!({"job_type": "historical_load", "symbols": ["A\nB"], "years": 1}),
            "not a valid ticker",
        ),
        (
            "job-type",
            serde_json::json!({"job_type": "x".repeat(100_000), "symbols": ["AAPL"], "years": 1}),
            "unknown job_type",
        ),
    ];
    for (id, mut message, _) in cases.clone() {
        message["job_id"] = serde_json::Value::from(format!("{id}-{}", bus.keys().namespace()));
        add_raw(
            &bus,
            &format!("{id}-{}", bus.keys().namespace()),
            &message.to_string(),
        )
        .await;
    }
    for (id, _, why) in &cases {
        let id = format!("{id}-{}", bus.keys().namespace());
        let outcome = w.try_execute_next().await.unwrap();
        assert!(
            matches!(&outcome, tickstock_queue::worker::Outcome::Rejected { .. }),
            "{id}: {outcome:?}"
        );
        let st = bus.status(&id).await.unwrap();
        if *why == "more than the limit" {
            // Too big to read, so its id is unknown: only the dead letter tells.
            assert!(st.is_none() || st.as_ref().unwrap().state == JobState::Failed);
            continue;
        }
        let st = st.expect("a status");
        assert_eq!(st.state, JobState::Failed, "{id}");
        let e = st.error_message.unwrap_or_default();
        assert!(e.contains(why), "{id}: {e}");
        assert!(
            e.len() < 300,
            "{id}: the error repeats the input: {} bytes",
            e.len()
        );
        assert!(
            !e.contains("AAAAAAAAAAAAAAAAAAAA") && !e.contains("xxxxxxxxxxxxxxxxxxxx"),
            "{id}: {e}"
        );
    }
    // Nothing over the limit is copied into the dead letters either.
    let mut c = bus.conn();
    let dead: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut c, bus.keys().dead_letters())
            .await
            .unwrap();
    for entry in dead.ids {
        let job: String = entry.get("job").unwrap_or_default();
        assert!(job.len() <= MAX_MESSAGE_BYTES, "{} bytes kept", job.len());
    }
    // And nothing over the limit can be submitted.
    let mut big = support::job(&["AAPL"]);
    big = Job::from_value({
        let mut v = big.to_value();
        v["note"] = serde_json::Value::from("n".repeat(MAX_MESSAGE_BYTES));
        v
    })
    .unwrap();
    let e = bus.submit(&big).await.unwrap_err();
    assert!(e.message().contains("more than the limit"), "{e}");
}

// ----- Polygon down, a refused key, every symbol failing -----

/// A loader on an SQLite file, run through a worker that records history.
struct LoadEnv {
    bus: tickstock_queue::bus::Bus,
    store: Store,
    _dir: tempfile::TempDir,
}

impl LoadEnv {
    async fn new() -> LoadEnv {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
            .await
            .unwrap();
        LoadEnv {
            bus: support::bus().await,
            store,
            _dir: dir,
        }
    }

    fn client(base: &str, key: &str) -> tickstock_data::polygon::PolygonClient {
        tickstock_data::polygon::PolygonClient::new(
            tickstock_data::polygon::PolygonConfig::new(
                base,
                secrecy::SecretString::from(key.to_string()),
            )
            .with_requests_per_minute(0)
            .with_max_retries(5)
            .with_request_timeout(Duration::from_secs(5))
            .with_max_backoff(Duration::from_millis(300)),
        )
        .unwrap()
    }

    /// Runs `job` to its end on a worker around `client`; the final status.
    async fn run(
        &self,
        client: tickstock_data::polygon::PolygonClient,
        job: &Job,
    ) -> tickstock_protocol::status::JobStatus {
        use tickstock_data::loader::{Loader, LoaderConfig};
        let loader = Loader::new(
            client,
            self.store.clone(),
            LoaderConfig {
                concurrency: 4,
                symbol_refresh: None,
                ..LoaderConfig::default()
            },
        );
        self.bus.submit(job).await.unwrap();
        let w = tickstock_queue::worker::Worker::with_history(
            self.bus.clone(),
            std::sync::Arc::new(loader),
            support::fast_worker_config(),
            tokio_util::sync::CancellationToken::new(),
            Some(std::sync::Arc::new(tickstock_data::history::StoreHistory(
                self.store.clone(),
            ))),
        );
        loop {
            match w.try_execute_next().await.unwrap() {
                tickstock_queue::worker::Outcome::Idle => continue,
                tickstock_queue::worker::Outcome::Executed { job_id, .. } if job_id == job.id => {
                    break
                }
                other => panic!("unexpected step: {other:?}"),
            }
        }
        self.bus.status(&job.id).await.unwrap().unwrap()
    }

    async fn history_error(&self, id: &str) -> (String, Option<String>) {
        let run = self
            .store
            .job_run(id)
            .await
            .unwrap()
            .expect("a job_runs row");
        (run.status.clone(), run.error.clone())
    }
}

fn day_job(symbols: &[&str]) -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timespan: Timeframe::Day,
            range: DateRange {
                years: None,
                start_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 4),
                end_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 8),
            },
        },
        "test",
    )
}

const EIGHT: [&str; 8] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "GOOG", "AMD",
];

/// Polygon down: the job used to retry each symbol six times for minutes and end
/// "completed with errors" with one long error per symbol. It now stops after a few
/// connection failures with one reason, in the status and the history alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polygon_unreachable_fails_the_job_fast_with_one_reason() {
    let env = LoadEnv::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = LoadEnv::client(&base, "key-1234");
    let job = day_job(&EIGHT);
    let started = std::time::Instant::now();
    let st = env.run(client.clone(), &job).await;
    assert_eq!(st.state, JobState::Failed, "{st:?}");
    let e = st.error_message.clone().unwrap();
    assert!(e.starts_with("Polygon unreachable since "), "{e}");
    assert!(e.ends_with("(connection refused)"), "{e}");
    assert_eq!(e.matches("unreachable").count(), 1, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        client.requests_sent() <= 8,
        "{} requests for a Polygon that is down",
        client.requests_sent()
    );
    assert_eq!(env.history_error(&job.id).await, ("failed".into(), Some(e)));
}

/// A refused key stops the job at the first answer: `failed`, not "completed with
/// errors", and no request per remaining symbol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_api_key_fails_the_job_at_once() {
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
    let env = LoadEnv::new().await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let client = LoadEnv::client(&fake.base_url(), "wrong-key");
    let job = day_job(&EIGHT);
    let st = env.run(client, &job).await;
    assert_eq!(st.state, JobState::Failed, "{st:?}");
    let e = st.error_message.clone().unwrap();
    assert!(e.contains("rejected the API key"), "{e}");
    assert!(!e.contains("wrong-key"), "{e}");
    assert!(
        fake.request_count() <= 4,
        "{} requests",
        fake.request_count()
    );
    assert_eq!(env.history_error(&job.id).await.0, "failed");
}

/// Every symbol failing is `failed`; failures are grouped by reason, not repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_symbol_failing_is_failed_and_reasons_are_grouped() {
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, Fault};
    let env = LoadEnv::new().await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    for s in ["AAPL", "MSFT", "NVDA"] {
        fake.inject_always(s, Fault::NotFound);
    }
    let client = LoadEnv::client(&fake.base_url(), fake.api_key());
    let job = day_job(&["AAPL", "MSFT", "NVDA"]);
    let st = env.run(client.clone(), &job).await;
    assert_eq!(st.state, JobState::Failed, "{st:?}");
    let e = st.error_message.clone().unwrap();
    assert!(e.starts_with("every symbol failed: 3 symbols ("), "{e}");
    assert_eq!(e.matches("HTTP 404").count(), 1, "{e}");
    assert_eq!(env.history_error(&job.id).await, ("failed".into(), Some(e)));

    // Some failing: completed with errors, the reason said once for both.
    let job = day_job(&["AAPL", "MSFT", "AMD"]);
    let st = env.run(client, &job).await;
    assert_eq!(st.state, JobState::CompletedWithErrors, "{st:?}");
    let e = st.error_message.unwrap();
    assert!(
        e.starts_with("2 symbols (AAPL, MSFT): ") || e.starts_with("2 symbols (MSFT, AAPL): "),
        "{e}"
    );
    assert_eq!(e.matches("HTTP 404").count(), 1, "{e}");
}

// ----- worker lifecycle -----

/// SIGTERM (what systemd and containers send) used to kill the worker without
/// deregistering, and our own legacy heartbeat then counted as a TickStockPL worker for a
/// minute. Now SIGTERM stops it like Ctrl-C, and health shows no live worker at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_worker_cleanly_and_it_deregisters_at_once() {
    use redis::AsyncCommands;
    let bus = support::bus().await;
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(bin("tickstock"))
        .arg("worker")
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", bus.keys().namespace())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/t.sqlite", dir.path().display()),
        )
        .env("POLYGON_BASE_URL", "http://127.0.0.1:9")
        .env("POLYGON_API_KEY", "k")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stale = Duration::from_secs(60);
    // Alive, and its first legacy heartbeat written (the two are written one after the
    // other: a look between them saw the worker without the legacy key).
    let h = wait_for(Duration::from_secs(20), "the worker alive", || async {
        let h = bus.health(stale).await;
        let legacy_ours = h
            .legacy_heartbeat
            .as_ref()
            .is_some_and(|l| l.present && l.ours);
        (h.workers.iter().any(|w| w.alive) && legacy_ours).then_some(h)
    })
    .await;
    assert!(h.any_worker_alive(), "our worker counts");
    let legacy = h.legacy_heartbeat.expect("the legacy heartbeat");
    assert!(legacy.present && legacy.ours, "{legacy:?}");

    // A TickStockPL worker writing the legacy key is told apart from ours.
    let mut c = bus.conn();
    let now = tickstock_queue::bus::unix_now();
    let _: () = c
        .set(bus.keys().legacy_heartbeat(), format!("{:.6}", now + 0.5))
        .await
        .unwrap();
    let h = bus.health(stale).await;
    assert!(!h.legacy_heartbeat.unwrap().ours);
    let _: () = c.del(bus.keys().legacy_heartbeat()).await.unwrap();
    wait_for(Duration::from_secs(10), "our heartbeat again", || async {
        let h = bus.health(stale).await;
        h.legacy_heartbeat.filter(|l| l.ours).map(|_| ())
    })
    .await;

    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_for(Duration::from_secs(10), "the worker to exit", || {
        let s = child.0.try_wait().unwrap();
        async move { s }
    })
    .await;
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let h = bus.health(stale).await;
    assert!(!h.any_worker_alive(), "{h:?}");
    assert!(h.workers.iter().all(|w| w.stopped), "{:?}", h.workers);
    assert!(
        !h.legacy_heartbeat.unwrap().present,
        "our legacy heartbeat is gone"
    );
}

// ----- statuses that lie -----

/// `cancel --all` reported 0 while 3 jobs were cancelled: the workers heard the message
/// and cancelled them first, and those were counted as "already final".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_all_counts_jobs_their_workers_cancelled_first() {
    let bus = support::bus().await;
    let cfg = tickstock_queue::worker::WorkerConfig {
        concurrency: 3,
        ..support::fast_worker_config()
    };
    let (w, stop) = support::sim_worker(&bus, Duration::from_millis(500), cfg);
    let handle = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let jobs: Vec<Job> = (0..3)
        .map(|_| {
            let symbols = support::symbols(100);
            let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
            support::job(&refs)
        })
        .collect();
    for j in &jobs {
        bus.submit(j).await.unwrap();
    }
    for j in &jobs {
        support::wait_state(&bus, &j.id, JobState::Running, Duration::from_secs(10)).await;
    }
    let n = bus.cancel_all("test", "test").await.unwrap();
    for j in &jobs {
        support::wait_state(&bus, &j.id, JobState::Cancelled, Duration::from_secs(10)).await;
    }
    assert_eq!(n, 3);
    stop.cancel();
    handle.await.unwrap().unwrap();
}

/// After a resume the bar count used to cover only the resumed part: the checkpoints now
/// keep each finished unit's rows and the count is cumulative.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bar_counts_are_cumulative_across_a_resume() {
    use tickstock_data::loader::{Loader, LoaderConfig};
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
    let env = LoadEnv::new().await;
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(150),
        ..FakePolygonConfig::default()
    })
    .await;
    let loader = || {
        Loader::new(
            LoadEnv::client(&fake.base_url(), fake.api_key()),
            env.store.clone(),
            LoaderConfig {
                concurrency: 1,
                symbol_refresh: None,
                ..LoaderConfig::default()
            },
        )
    };
    let job = day_job(&EIGHT);
    env.bus.submit(&job).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let first = tickstock_queue::worker::Worker::new(
        env.bus.clone(),
        std::sync::Arc::new(loader()),
        support::fast_worker_config(),
        stop.clone(),
    );
    let handle = tokio::spawn({
        let w = first.clone();
        async move { w.run().await }
    });
    let key = env.bus.keys().checkpoint(&job.id);
    wait_for(Duration::from_secs(20), "three finished units", || async {
        let mut c = env.bus.conn();
        let n: usize = redis::AsyncCommands::scard(&mut c, &key).await.unwrap();
        (n >= 3).then_some(())
    })
    .await;
    stop.cancel();
    handle.await.unwrap().unwrap();
    let st = env.bus.status(&job.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Queued, "released: {st:?}");

    let cfg = tickstock_queue::worker::WorkerConfig {
        claim_idle: Duration::from_millis(100),
        ..support::fast_worker_config()
    };
    let second = tickstock_queue::worker::Worker::new(
        env.bus.clone(),
        std::sync::Arc::new(loader()),
        cfg,
        tokio_util::sync::CancellationToken::new(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcome = second.try_execute_next().await.unwrap();
    assert!(
        matches!(
            outcome,
            tickstock_queue::worker::Outcome::Executed {
                state: JobState::Completed,
                ..
            }
        ),
        "{outcome:?}"
    );
    let (from, to) = (
        chrono::NaiveDate::from_ymd_opt(2024, 3, 4).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2024, 3, 8).unwrap(),
    );
    let total: usize = EIGHT
        .iter()
        .map(|s| FakePolygon::expected_bars(s, Timeframe::Day, from, to).len())
        .sum();
    let st = env.bus.status(&job.id).await.unwrap().unwrap();
    assert_eq!(st.ohlcv_records_loaded, Some(total as u64), "{st:?}");
    assert_eq!(st.successful_symbols.len(), 8);
}

/// A stream entry carrying another job's id (junk, or a message under a re-used id)
/// used to fail that job: a running job was stopped by it. Now only the entry a job is
/// run from, for a job not final, changes its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_entry_never_changes_another_jobs_status() {
    let bus = support::bus().await;
    let (w1, stop1) = support::sim_worker(
        &bus,
        Duration::from_millis(10),
        support::fast_worker_config(),
    );
    // A finished job, and junk under its id.
    let done = support::job(&["AAPL"]);
    bus.submit(&done).await.unwrap();
    w1.try_execute_next().await.unwrap();
    let before = bus.status(&done.id).await.unwrap().unwrap();
    assert_eq!(before.state, JobState::Completed);
    add_raw(
        &bus,
        &done.id,
        &format!(r#"{{"job_id":"{}","job_type":"bogus"}}"#, done.id),
    )
    .await;
    let out = w1.try_execute_next().await.unwrap();
    assert!(
        matches!(out, tickstock_queue::worker::Outcome::Rejected { .. }),
        "{out:?}"
    );
    assert_eq!(bus.status(&done.id).await.unwrap().unwrap(), before);

    // A running job, and junk under its id taken by another worker.
    let symbols = support::symbols(20);
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let running = support::job(&refs);
    bus.submit(&running).await.unwrap();
    let (slow, stop2) = support::sim_worker(
        &bus,
        Duration::from_millis(100),
        support::fast_worker_config(),
    );
    let h = tokio::spawn({
        let w = slow.clone();
        async move { w.run().await }
    });
    support::wait_state(
        &bus,
        &running.id,
        JobState::Running,
        Duration::from_secs(10),
    )
    .await;
    add_raw(&bus, &running.id, "{not json").await;
    let out = w1.try_execute_next().await.unwrap();
    assert!(
        matches!(out, tickstock_queue::worker::Outcome::Rejected { .. }),
        "{out:?}"
    );
    let st = support::wait_status(&bus, &running.id, Duration::from_secs(20), |s| {
        s.state.is_terminal()
    })
    .await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    stop1.cancel();
    stop2.cancel();
    h.await.unwrap().unwrap();
}

/// A re-used `job_id` ran beside the first and took over its checkpoints ("completed,
/// 0 bars" for a range never loaded). Submit refuses it; an entry re-using a running id
/// is not run; after the first job's status expired, a new message under the id starts
/// from nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_job_id_never_runs_twice_or_shares_checkpoints() {
    use redis::AsyncCommands;
    use tickstock_testkit::sim::executions_key;
    let bus = support::bus().await;
    let first = support::job(&["AAPL", "MSFT", "NVDA"]);
    bus.submit(&first).await.unwrap();
    let e = bus.submit(&first).await.unwrap_err();
    assert!(e.message().contains("already in use"), "{e}");

    let (w, stop) = support::sim_worker(
        &bus,
        Duration::from_millis(300),
        support::fast_worker_config(),
    );
    let h = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    support::wait_state(&bus, &first.id, JobState::Running, Duration::from_secs(10)).await;
    let mut other = support::job(&["TSLA"]).to_value();
    other["job_id"] = first.id.clone().into();
    add_raw(&bus, &first.id, &other.to_string()).await;
    let (w2, _stop2) = support::sim_worker(
        &bus,
        Duration::from_millis(10),
        support::fast_worker_config(),
    );
    let out = w2.try_execute_next().await.unwrap();
    assert!(
        matches!(&out, tickstock_queue::worker::Outcome::Rejected { reason, .. } if reason.contains("already running")),
        "{out:?}"
    );
    let st = support::wait_status(&bus, &first.id, Duration::from_secs(20), |s| {
        s.state.is_terminal()
    })
    .await;
    assert_eq!(st.state, JobState::Completed);
    assert_eq!(st.successful_symbols.len(), 3);
    stop.cancel();
    h.await.unwrap().unwrap();
    let mut c = bus.conn();
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(runs, vec![first.id.clone()], "run once");

    // Its status expired; the id comes back with other symbols: they are all loaded.
    let _: () = c.del(bus.keys().status(&first.id)).await.unwrap();
    let _: () = c.del(bus.keys().status_alt(&first.id)).await.unwrap();
    let mut again = support::job(&["AAPL", "AMD"]).to_value();
    again["job_id"] = first.id.clone().into();
    add_raw(&bus, &first.id, &again.to_string()).await;
    let out = w2.try_execute_next().await.unwrap();
    assert!(
        matches!(
            out,
            tickstock_queue::worker::Outcome::Executed {
                state: JobState::Completed,
                ..
            }
        ),
        "{out:?}"
    );
    let st = bus.status(&first.id).await.unwrap().unwrap();
    assert_eq!(
        st.ohlcv_records_loaded,
        Some(2 * tickstock_testkit::sim::SIM_ROWS_PER_SYMBOL)
    );
}

/// A dead-lettered job stayed "running" in the history; now it ends there as in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_job_is_failed_in_the_history_too() {
    let env = LoadEnv::new().await;
    let bus = &env.bus;
    let job = support::job(&["AAPL"]);
    bus.submit(&job).await.unwrap();
    // A worker takes it and dies.
    let mut c = bus.conn();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(bus.keys().group())
        .arg("ghost")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(bus.keys().stream())
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    let history = tickstock_data::history::StoreHistory(env.store.clone());
    let mut running = tickstock_protocol::status::JobStatus::new(JobState::Running);
    running.job_type = Some("historical_load".into());
    tickstock_data::exec::JobHistory::record(&history, &job, &running)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cfg = tickstock_queue::worker::WorkerConfig {
        claim_idle: Duration::from_millis(100),
        max_deliveries: 1,
        ..support::fast_worker_config()
    };
    let w = tickstock_queue::worker::Worker::with_history(
        bus.clone(),
        std::sync::Arc::new(tickstock_testkit::sim::SimRunner::new(
            Duration::from_millis(1),
        )),
        cfg,
        tokio_util::sync::CancellationToken::new(),
        Some(std::sync::Arc::new(history)),
    );
    let out = w.try_execute_next().await.unwrap();
    assert!(
        matches!(out, tickstock_queue::worker::Outcome::DeadLettered { .. }),
        "{out:?}"
    );
    assert_eq!(
        bus.status(&job.id).await.unwrap().unwrap().state,
        JobState::Failed
    );
    let (status, error) = env.history_error(&job.id).await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("dead-letter"));
}

/// A message on the legacy channel that is not valid JSON (TickStock's Python writes
/// `NaN`) left its "submitted" status for two hours; its id is now found and it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_legacy_message_fails_its_submitted_status() {
    use redis::AsyncCommands;
    let bus = support::bus().await;
    let id = format!("legacy-{}", bus.keys().namespace());
    let mut st = tickstock_protocol::status::JobStatus::new(JobState::Submitted);
    st.job_type = Some("historical_load".into());
    bus.put_status(&id, &st).await.unwrap();
    let (w, stop) = support::sim_worker(
        &bus,
        Duration::from_millis(1),
        support::fast_worker_config(),
    );
    let h = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    support::wait_subscribed(&bus).await;
    let mut c = bus.conn();
    let message = format!(
        r#"{{"job_id": "{id}", "job_type": "historical_load", "symbols": ["AAPL"], "years": NaN}}"#
    );
    let _: i64 = c
        .publish(bus.keys().channel_data_load(), message)
        .await
        .unwrap();
    let st = support::wait_state(&bus, &id, JobState::Failed, Duration::from_secs(10)).await;
    assert!(
        st.error_message.unwrap().contains("not valid JSON"),
        "the reason names the problem"
    );
    stop.cancel();
    h.await.unwrap().unwrap();
}

// ----- the database -----

/// A PostgreSQL server that accepts the connection and never answers used to hang the
/// connect forever; it is now reported after the connect time-out.
#[tokio::test]
async fn a_database_that_never_answers_times_out() {
    use tickstock_data::store::StoreOptions;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        }
    });
    let started = std::time::Instant::now();
    let r = Store::connect_with(
        &format!("postgres://u:pw-secret@127.0.0.1:{port}/db"),
        &StoreOptions {
            connect_timeout: Duration::from_secs(1),
            ..StoreOptions::default()
        },
    )
    .await;
    let Err(e) = r else {
        panic!("no store from a silent server")
    };
    let e = e.to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(e.contains("no answer within 1 s"), "{e}");
    assert!(!e.contains("pw-secret"), "{e}");
    hold.abort();
}

/// `postgres://` without a database created our tables in a database named after the OS
/// user; such a URL is refused.
#[tokio::test]
async fn a_postgres_url_without_a_database_is_refused() {
    for url in [
        "postgres://",
        "postgres://postgres@127.0.0.1:5432",
        "postgresql://h/",
    ] {
        let Err(e) = Store::connect(url).await else {
            panic!("{url} was accepted")
        };
        let e = e.to_string();
        assert!(e.contains("names no database"), "{url}: {e}");
    }
}

/// Read-only commands (coverage, universe list/show, submit's universe check) ran the
/// migrations: they now change nothing in the database. `universe show ""` exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_run_no_migrations() {
    let db = tickstock_testkit::pg::fresh_database().await;
    let run = |args: &[&str]| {
        std::process::Command::new(bin("tickstock"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    for args in [&["coverage", "--json"][..], &["universe", "list"]] {
        let _ = run(args);
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0, "a read-only command created tables");
    // Once the schema exists they read it as it is.
    Store::connect(&db.url).await.unwrap().close().await;
    let o = run(&["coverage", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["universe", "show", "dow30", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["universe", "show", ""]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    drop(conn);
    db.drop_db().await;
}

/// A read command on a mistyped SQLite path (`sqlite:///typo/dir/x.db`) used to create the
/// folders and an empty database silently; it now says there is no such folder.
#[test]
fn a_read_command_on_a_mistyped_sqlite_path_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/typo/dir/x.db", dir.path().display());
    for args in [
        &["coverage"][..],
        &["gaps", "--symbols", "AAPL"],
        &["history"],
    ] {
        let o = std::process::Command::new(bin("tickstock"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains("there is no folder"), "{args:?}: {err}");
        assert!(!dir.path().join("typo").exists(), "{args:?} made folders");
    }
}

/// `--claim-idle-secs` huge made every step fail, so no job ever ran: the CLI refuses it
/// and a worker built with it clamps it to a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_claim_idle_still_runs_jobs() {
    let bus = support::bus().await;
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(bin("tickstock"))
        .args(["worker", "--claim-idle-secs", "99999999999"])
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", bus.keys().namespace())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/t.sqlite", dir.path().display()),
        )
        .env("POLYGON_API_KEY", "k")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let status = wait_for(Duration::from_secs(10), "the worker to refuse", || {
        let s = child.0.try_wait().unwrap();
        async move { s }
    })
    .await;
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("--claim-idle-secs"), "{err}");
    let cfg = tickstock_queue::worker::WorkerConfig {
        claim_idle: Duration::from_secs(u64::MAX / 4),
        ..support::fast_worker_config()
    };
    let (w, _stop) = support::sim_worker(&bus, Duration::from_millis(1), cfg);
    let job = support::job(&["AAPL"]);
    bus.submit(&job).await.unwrap();
    let out = w.try_execute_next().await.unwrap();
    assert!(
        matches!(
            out,
            tickstock_queue::worker::Outcome::Executed {
                state: JobState::Completed,
                ..
            }
        ),
        "{out:?}"
    );
}

// ----- the rate limit -----

/// At the free plan's rate a job showed 0 %, "0.0 bars/s" and no ETA, then an ETA that
/// swung: nothing said it was waiting. The status now says so, with the plan's rate and
/// the seconds to the next request, an ETA from the requests left, and a recent rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_rate_limit_is_shown_with_a_steady_eta() {
    use tickstock_data::loader::{Loader, LoaderConfig};
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
    let env = LoadEnv::new().await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let mut cfg = tickstock_data::polygon::PolygonConfig::new(
        fake.base_url(),
        secrecy::SecretString::from(fake.api_key().to_string()),
    )
    .with_requests_per_minute(1);
    cfg.rate_window = Duration::from_secs(4);
    let loader = Loader::new(
        tickstock_data::polygon::PolygonClient::new(cfg).unwrap(),
        env.store.clone(),
        LoaderConfig {
            concurrency: 1,
            symbol_refresh: None,
            grouped_daily: false,
            ..LoaderConfig::default()
        },
    );
    let job = day_job(&["AAPL", "MSFT", "NVDA"]);
    env.bus.submit(&job).await.unwrap();
    let (w, stop) = {
        let stop = tokio_util::sync::CancellationToken::new();
        (
            tickstock_queue::worker::Worker::new(
                env.bus.clone(),
                std::sync::Arc::new(loader),
                support::fast_worker_config(),
                stop.clone(),
            ),
            stop,
        )
    };
    let h = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let st = support::wait_status(&env.bus, &job.id, Duration::from_secs(15), |s| {
        s.message.as_deref().is_some_and(|m| {
            m.starts_with("waiting for the Polygon rate limit (1 per 4 s), next request in ")
        })
    })
    .await;
    let eta = st.extra["eta_seconds"]
        .as_f64()
        .expect("an ETA while waiting");
    // Two requests left at 4 s each, the next one at most 4 s away.
    assert!((4.0..=9.0).contains(&eta), "{eta}: {st:?}");
    assert_eq!(st.extra["rate_limited"], true);
    let fin = support::wait_status(&env.bus, &job.id, Duration::from_secs(20), |s| {
        s.state.is_terminal()
    })
    .await;
    assert_eq!(fin.state, JobState::Completed, "{fin:?}");
    stop.cancel();
    h.await.unwrap().unwrap();
}

/// Submit in Redis mode with no live worker said "queued" and nothing warned.
#[test]
fn submit_warns_when_no_live_worker_will_take_the_job() {
    let ns = tickstock_testkit::redis_server::unique_namespace();
    let o = std::process::Command::new(bin("tickstock"))
        .args([
            "submit",
            "historical-load",
            "--symbols",
            "AAPL",
            "--years",
            "1",
        ])
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", &ns)
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: no live worker is listening"),
        "{err}"
    );
}

/// Redis frozen for 20 s mid-job (SIGSTOP: a stalled host, a long fork, a paused VM)
/// used to end the job "Failed: Redis: timed out" with part of its symbols loaded. Now
/// the job waits for Redis (or is released and resumed from its checkpoint) and ends
/// completed with every bar, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_frozen_for_20_seconds_mid_job_is_waited_for_and_the_job_completes() {
    use tickstock_data::loader::{Loader, LoaderConfig};
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
    use tickstock_testkit::redis_server::RedisServer;
    let server = RedisServer::start();
    let bus = support::bus_at(&server.url(), "stall").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(700),
        ..FakePolygonConfig::default()
    })
    .await;
    let loader = Loader::new(
        LoadEnv::client(&fake.base_url(), fake.api_key()),
        store.clone(),
        LoaderConfig {
            concurrency: 1,
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let job = day_job(&EIGHT);
    bus.submit(&job).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let w = tickstock_queue::worker::Worker::with_history(
        bus.clone(),
        std::sync::Arc::new(loader),
        support::fast_worker_config(),
        stop.clone(),
        Some(std::sync::Arc::new(tickstock_data::history::StoreHistory(
            store.clone(),
        ))),
    );
    let h = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    support::wait_status(&bus, &job.id, Duration::from_secs(30), |s| {
        s.state == JobState::Running && s.processed_symbols.unwrap_or(0) >= 2
    })
    .await;
    server.freeze();
    tokio::time::sleep(Duration::from_secs(20)).await;
    server.thaw();
    let st = support::wait_status(&bus, &job.id, Duration::from_secs(120), |s| {
        s.state.is_terminal()
    })
    .await;
    stop.cancel();
    h.await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    assert_eq!(st.successful_symbols.len(), 8, "{st:?}");
    let (from, to) = (
        chrono::NaiveDate::from_ymd_opt(2024, 3, 4).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2024, 3, 8).unwrap(),
    );
    let total: usize = EIGHT
        .iter()
        .map(|s| FakePolygon::expected_bars(s, Timeframe::Day, from, to).len())
        .sum();
    assert_eq!(st.ohlcv_records_loaded, Some(total as u64), "{st:?}");
    let run = store.job_run(&job.id).await.unwrap().expect("history row");
    assert_eq!(run.status, "completed");
}

/// Six symbols of minute bars over `from..=to`, loaded on a worker of its own from a fake
/// Polygon (one day a page, 30 ms a request) into a fresh PostgreSQL database; returned
/// once the job is running with bars stored.
struct MinuteLoad {
    db: tickstock_testkit::pg::TestDb,
    store: Store,
    bus: tickstock_queue::bus::Bus,
    job: Job,
    range: (chrono::NaiveDate, chrono::NaiveDate),
    stop: tokio_util::sync::CancellationToken,
    worker: tokio::task::JoinHandle<tickstock_protocol::error::Result<()>>,
    _fake: tickstock_testkit::fake_polygon::FakePolygon,
}

const MINUTE_LOAD_SYMBOLS: [&str; 6] = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA"];

impl MinuteLoad {
    async fn start(from: chrono::NaiveDate, to: chrono::NaiveDate) -> MinuteLoad {
        use tickstock_data::loader::{Loader, LoaderConfig};
        use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
        let db = tickstock_testkit::pg::fresh_database().await;
        let store = Store::connect(&db.url).await.unwrap();
        let bus = support::bus().await;
        let fake = FakePolygon::start(FakePolygonConfig {
            latency: Duration::from_millis(30),
            page_size: 390,
            ..FakePolygonConfig::default()
        })
        .await;
        let loader = Loader::new(
            LoadEnv::client(&fake.base_url(), fake.api_key()),
            store.clone(),
            LoaderConfig {
                concurrency: 4,
                symbol_refresh: None,
                ..LoaderConfig::default()
            },
        );
        let job = Job::new(
            JobSpec::Historical {
                symbols: MINUTE_LOAD_SYMBOLS.iter().map(|s| s.to_string()).collect(),
                timespan: Timeframe::Minute,
                range: DateRange {
                    years: None,
                    start_date: Some(from),
                    end_date: Some(to),
                },
            },
            "test",
        );
        bus.submit(&job).await.unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let w = tickstock_queue::worker::Worker::new(
            bus.clone(),
            std::sync::Arc::new(loader),
            support::fast_worker_config(),
            stop.clone(),
        );
        let worker = tokio::spawn({
            let w = w.clone();
            async move { w.run().await }
        });
        support::wait_status(&bus, &job.id, Duration::from_secs(30), |s| {
            s.state == JobState::Running && s.ohlcv_records_loaded.unwrap_or(0) > 0
        })
        .await;
        MinuteLoad {
            db,
            store,
            bus,
            job,
            range: (from, to),
            stop,
            worker,
            _fake: fake,
        }
    }

    /// The job's final status, once it has one; the worker is stopped.
    async fn finish(&mut self, timeout: Duration) -> tickstock_protocol::status::JobStatus {
        let st =
            support::wait_status(&self.bus, &self.job.id, timeout, |s| s.state.is_terminal()).await;
        self.stop.cancel();
        (&mut self.worker).await.unwrap().unwrap();
        st
    }

    /// Rows committed to `ohlcv_1min`, and the minute rows the coverage view reads.
    async fn committed(&self) -> (i64, i64) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
        let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM ohlcv_1min")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let rows: i64 = self
            .store
            .coverage()
            .await
            .unwrap()
            .iter()
            .filter(|c| c.timeframe == Timeframe::Minute)
            .map(|c| c.rows)
            .sum();
        (committed, rows)
    }

    /// Every bar of the job's range.
    fn all_bars(&self) -> usize {
        use tickstock_testkit::fake_polygon::FakePolygon;
        let (from, to) = self.range;
        MINUTE_LOAD_SYMBOLS
            .iter()
            .map(|s| FakePolygon::expected_bars(s, Timeframe::Minute, from, to).len())
            .sum()
    }
}

/// Every connection of the job's database killed mid-job (`pg_terminate_backend`, as a
/// failover or an idle-timeout proxy does), several times over: the page being written
/// is written again on a new connection and the job completes, its bar count the rows
/// committed. It used to fail with "cannot reach PostgreSQL ... EOF" while the database
/// was up, never retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_postgres_connections_mid_job_are_reopened_and_the_count_is_what_was_committed() {
    use sqlx::Connection;
    let mut load = MinuteLoad::start(
        chrono::NaiveDate::from_ymd_opt(2024, 3, 4).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2024, 3, 29).unwrap(),
    )
    .await;
    let mut admin = sqlx::PgConnection::connect(&tickstock_testkit::pg::admin_url())
        .await
        .unwrap();
    let mut killed = 0i64;
    for _ in 0..5 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) t",
        )
        .bind(&load.db.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        killed += n;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(killed > 0, "no connection of the job's database was killed");
    let st = load.finish(Duration::from_secs(120)).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    assert_eq!(
        st.successful_symbols.len(),
        MINUTE_LOAD_SYMBOLS.len(),
        "{st:?}"
    );
    // What the coverage view reads (the per-day counts) follows the rows too.
    let (committed, rows) = load.committed().await;
    assert_eq!(committed, load.all_bars() as i64);
    assert_eq!(rows, committed, "coverage");
    assert_eq!(st.ohlcv_records_loaded, Some(committed as u64), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_bars_table_is_locked_reports_the_rows_committed() {
    use sqlx::Connection;
    let mut load = MinuteLoad::start(
        chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2024, 3, 28).unwrap(),
    )
    .await;
    // Another session holds the bars table; the job is cancelled while its writes wait.
    let mut admin = sqlx::PgConnection::connect(&load.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut admin).await.unwrap();
    sqlx::query("LOCK TABLE ohlcv_1min IN ACCESS EXCLUSIVE MODE")
        .execute(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.bus.cancel(&load.job.id, "ops").await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    sqlx::query("COMMIT").execute(&mut admin).await.unwrap();
    let st = load.finish(Duration::from_secs(60)).await;
    assert_eq!(st.state, JobState::Cancelled, "{st:?}");
    let (committed, rows) = load.committed().await;
    let all = load.all_bars();
    assert!(
        committed > 0 && (committed as usize) < all,
        "{committed} of {all} rows committed: the cancel came mid-job"
    );
    assert_eq!(
        st.ohlcv_records_loaded,
        Some(committed as u64),
        "the cancelled job's bars against the rows committed: {st:?}"
    );
    assert_eq!(rows, committed, "coverage");
}
