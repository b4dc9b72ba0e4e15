//! The one job lifecycle, tested once through the `JobQueue` seam on both queues: the
//! app's embedded queue (SQLite history) and the Redis bus with a headless worker
//! (PostgreSQL history, no app anywhere). The same scenario runs on each: the history row
//! exists from the submit, is current while the job runs (bars counted before it ends),
//! and ends with the same counts as the job's status and the rows stored; the service
//! tells of the finish exactly once; a cancel ends a running job as cancelled in both the
//! queue and the history.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use tickstock_data::exec::{Checkpoints, JobHistory};
use tickstock_data::history::{StoreCheckpoints, StoreHistory};
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::store::Store;
use tickstock_jobs::queue::QueueKind;
use tickstock_jobs::service::JobService;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_queue::local::LocalQueue;
use tickstock_queue::worker::Worker;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::pg::{fresh_database, TestDb};
use tokio_util::sync::CancellationToken;

use crate::support;

struct Rig {
    service: JobService,
    store: Store,
    stop: CancellationToken,
    _db: Option<TestDb>,
    _dir: Option<tempfile::TempDir>,
}

fn loader(fake: &FakePolygon, store: &Store) -> Loader {
    Loader::new(
        support::fast_polygon_client(fake),
        store.clone(),
        LoaderConfig {
            concurrency: 1,
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    )
}

async fn rig(kind: QueueKind, fake: &FakePolygon) -> Rig {
    let stop = CancellationToken::new();
    match kind {
        QueueKind::Embedded => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.sqlite").display());
            let store = Store::connect(&url).await.unwrap();
            let q = LocalQueue::start(
                Arc::new(loader(fake, &store)),
                Some(Arc::new(StoreHistory(store.clone())) as Arc<dyn JobHistory>),
                Some(Arc::new(StoreCheckpoints(store.clone())) as Arc<dyn Checkpoints>),
                1,
                stop.clone(),
            );
            Rig {
                service: JobService::new(Arc::new(q), Some(store.clone())),
                store,
                stop,
                _db: None,
                _dir: Some(dir),
            }
        }
        QueueKind::Redis => {
            let db = fresh_database().await;
            let store = Store::connect(&db.url).await.unwrap();
            let bus = support::bus().await;
            let worker = Worker::with_history(
                bus.clone(),
                Arc::new(loader(fake, &store)),
                support::fast_worker_config(),
                stop.clone(),
                Some(Arc::new(StoreHistory(store.clone())) as Arc<dyn JobHistory>),
            );
            tokio::spawn(async move { worker.run().await });
            Rig {
                service: JobService::new(Arc::new(bus), Some(store.clone())),
                store,
                stop,
                _db: Some(db),
                _dir: None,
            }
        }
    }
}

fn month_job(symbols: &[&str]) -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timespan: Timeframe::Day,
            range: DateRange {
                years: None,
                start_date: NaiveDate::from_ymd_opt(2024, 3, 1),
                end_date: NaiveDate::from_ymd_opt(2024, 3, 31),
            },
        },
        "test",
    )
}

/// Job logs are captured by the layer the CLI and the app install; so does this test.
fn capture_job_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::prelude::*;
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(tickstock_data::joblog::layer()),
        );
    });
}

async fn the_lifecycle_on(kind: QueueKind) {
    capture_job_logs();
    // Each request takes a while: the job runs for seconds, long enough to watch.
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(500),
        ..FakePolygonConfig::default()
    })
    .await;
    let rig = rig(kind, &fake).await;
    let symbols = [
        "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "AMD", "INTC",
    ];
    let job = month_job(&symbols);
    let id = job.id.clone();
    rig.service.submit(job).await.unwrap();

    // In history from the submit on.
    let run = rig
        .store
        .job_run(&id)
        .await
        .unwrap()
        .expect("recorded at submit");
    assert!(
        matches!(run.status.as_str(), "submitted" | "queued" | "running"),
        "{run:?}"
    );

    // Current while it runs: bars counted in history before the job ends.
    let running = support::wait_for(
        Duration::from_secs(30),
        "history showing progress",
        || async {
            let run = rig.store.job_run(&id).await.ok().flatten()?;
            (run.status == "running" && run.bars_loaded > 0).then_some(run)
        },
    )
    .await;
    let live = rig.service.queue().status(&id).await.unwrap().unwrap();
    assert!(live.state.is_active(), "{kind:?}: {live:?}");
    assert!(
        running.bars_loaded < symbols.len() as i64 * 21,
        "{running:?}"
    );

    // The service tells of the finish once, with the final state recorded.
    let mut finishes = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while finishes.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{kind:?}: the job never finished"
        );
        let changes = rig.service.changes().await.unwrap();
        finishes.extend(changes.into_iter().filter(|c| c.finished));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rig.service.changes().await.unwrap().is_empty());
    assert_eq!(finishes.len(), 1, "{finishes:?}");
    let fin = &finishes[0].status;
    assert_eq!(fin.state, JobState::Completed, "{kind:?}: {fin:?}");
    let run = rig.store.job_run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(run.progress, 100);
    let mut stored = 0;
    for s in symbols {
        stored += rig.store.read_bars(s, Timeframe::Day).await.unwrap().len() as i64;
    }
    let (from, to) = (
        NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
    );
    let sessions = FakePolygon::expected_bars("AAPL", Timeframe::Day, from, to).len() as i64;
    assert_eq!(sessions, 20, "March 2024: 21 weekdays, Good Friday closed");
    assert_eq!(stored, 8 * sessions);
    assert_eq!(run.bars_loaded, stored, "{run:?}");
    assert_eq!(fin.ohlcv_records_loaded, Some(stored as u64));
    assert_eq!(run.symbols_ok, 8);
    // The job's own log is kept with it: its start, its end, nothing of other jobs.
    let log = rig.store.job_log(&id).await.unwrap();
    let text: Vec<&str> = log.iter().map(|l| l.message.as_str()).collect();
    assert!(
        text.iter().any(|m| m.starts_with("job started")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|m| m.starts_with("job finished") && m.contains("completed")),
        "{text:?}"
    );
    assert!(log.iter().all(|l| l.level != "DEBUG"), "{text:?}");

    // A cancel ends a running job as cancelled, in the queue and in history.
    let job = month_job(&["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA"]);
    let id = job.id.clone();
    rig.service.submit(job).await.unwrap();
    support::wait_for(Duration::from_secs(30), "the second job to run", || async {
        let st = rig.service.queue().status(&id).await.ok().flatten()?;
        (st.state == JobState::Running && st.ohlcv_records_loaded.unwrap_or(0) > 0).then_some(())
    })
    .await;
    rig.service.cancel(&id, "test").await.unwrap();
    let st = support::wait_for(Duration::from_secs(30), "the cancel", || async {
        let st = rig.service.queue().status(&id).await.ok().flatten()?;
        st.state.is_terminal().then_some(st)
    })
    .await;
    assert_eq!(st.state, JobState::Cancelled, "{kind:?}: {st:?}");
    let run = support::wait_for(Duration::from_secs(10), "history of the cancel", || async {
        let run = rig.store.job_run(&id).await.ok().flatten()?;
        (run.status == "cancelled").then_some(run)
    })
    .await;
    assert!(run.symbols_ok < 6, "{run:?}");
    rig.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_the_embedded_queue() {
    the_lifecycle_on(QueueKind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_the_bus_with_a_headless_worker() {
    the_lifecycle_on(QueueKind::Redis).await;
}
