//! A full disk under the SQLite database: the job fails saying so, its history row ends
//! final, the bars it reports are the rows committed, and no connection goes back to the
//! pool inside a transaction. The disk is filled the way SQLite sees it, with a page cap
//! on every connection (`PRAGMA max_page_count`), which raises the same `SQLITE_FULL`
//! "database or disk is full" as a full file system and needs no privileges.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection as _;

use tickstock_data::exec::JobHistory;
use tickstock_data::history::StoreHistory;
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::store::{Store, StoreOptions};
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::Timeframe;
use tickstock_queue::worker::Worker;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tokio_util::sync::CancellationToken;

use crate::support;

const SYMBOLS: [&str; 6] = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA"];

/// Minute bars of six symbols over March 2024 (about 47,000 rows).
fn minute_job() -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
            timespan: Timeframe::Minute,
            range: DateRange {
                years: None,
                start_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 4),
                end_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 29),
            },
        },
        "test",
    )
}

async fn fake() -> FakePolygon {
    FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(5),
        page_size: 390,
        ..FakePolygonConfig::default()
    })
    .await
}

fn loader(fake: &FakePolygon, store: &Store) -> Loader {
    Loader::new(
        support::fast_polygon_client(fake),
        store.clone(),
        LoaderConfig {
            concurrency: 4,
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    )
}

/// Rows of `ohlcv_1min` in the file, read on a connection of its own.
async fn committed(url: &str) -> i64 {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM ohlcv_1min")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Runs the minute job on a worker whose store is `url` opened with `options` until the
/// database is full, calls `free_space`, and checks what a full disk must leave: the job
/// failed saying so, the bars it reports are the rows committed, its history row final
/// (at once, or settled by a cleanup once space is freed), and no pooled connection left
/// inside a transaction.
async fn run_until_full(url: &str, options: StoreOptions, free_space: impl FnOnce()) {
    let store = Store::connect_with(url, &options).await.unwrap();
    let bus = support::bus().await;
    let service = support::service(&bus, &store);
    let fake = fake().await;
    let job = service.submit(minute_job()).await.unwrap().job;
    let stop = CancellationToken::new();
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader(&fake, &store)),
        support::fast_worker_config(),
        stop.clone(),
        Some(Arc::new(StoreHistory(store.clone()))),
    );
    let h = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let st = support::wait_status(&bus, &job.id, Duration::from_secs(120), |s| {
        s.state.is_terminal()
    })
    .await;
    stop.cancel();
    h.await.unwrap().unwrap();

    assert_eq!(st.state, JobState::Failed, "{st:?}");
    let reason = st.error_message.clone().unwrap_or_default();
    assert!(reason.contains("disk is full"), "{reason}");
    let rows = committed(url).await;
    assert!(rows > 0, "nothing was written before the disk filled");
    assert_eq!(st.ohlcv_records_loaded, Some(rows as u64), "{st:?}");

    // Every pooled connection still starts a write: rewriting stored bars as they are
    // needs no new page, so only a connection left "in a transaction" refuses ("begin_with
    // at non-zero transaction depth").
    let stored = store.read_bars("AAPL", Timeframe::Minute).await.unwrap();
    let bars: Vec<tickstock_protocol::Bar> = stored
        .iter()
        .take(10)
        .map(|b| tickstock_protocol::Bar {
            t: chrono::DateTime::parse_from_rfc3339(&b.time)
                .unwrap()
                .timestamp_millis(),
            o: b.open,
            h: b.high,
            l: b.low,
            c: b.close,
            v: b.volume,
            vw: None,
            n: None,
        })
        .collect();
    assert!(!bars.is_empty(), "AAPL has bars");
    let writes = (0..24).map(|_| {
        let store = store.clone();
        let bars = bars.clone();
        async move { store.write_bars("AAPL", Timeframe::Minute, &bars).await }
    });
    for r in futures_util::future::join_all(writes).await {
        assert_eq!(r, Ok(0), "a pooled connection refused a write");
    }

    // The history row is final with the job's reason and count: at once, or, when the
    // full disk refused that write too, once space is freed and `tickstock cleanup` (a
    // store of its own) settles it from Redis.
    free_space();
    let mut run = store
        .job_run(&job.id)
        .await
        .unwrap()
        .expect("a history row");
    if run.status == "running" {
        let fresh = Store::connect(url).await.unwrap();
        let cleanup = support::service(&bus, &fresh);
        assert_eq!(cleanup.cleanup_stale().await.unwrap(), 1);
        run = fresh
            .job_run(&job.id)
            .await
            .unwrap()
            .expect("a history row");
    }
    assert_eq!(run.status, "failed", "{run:?}");
    assert!(
        run.error.as_deref().unwrap_or("").contains("disk is full"),
        "{run:?}"
    );
    assert_eq!(run.bars_loaded, rows, "{run:?}");
}

/// The database at its size limit (`PRAGMA max_page_count` on every connection, room for
/// about a third of the bars after the schema). The job used to leave its history row
/// "running" forever (cleanup found "0 stale jobs") and report fewer bars than were
/// committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_fails_the_job_saying_so_with_true_counts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    let base: i64 = {
        let store = Store::connect(&url).await.unwrap();
        store.close().await;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    let options = StoreOptions {
        sqlite_max_pages: Some(base as u32 + 400),
        ..StoreOptions::default()
    };
    run_until_full(&url, options, || {}).await;
}

/// Unmounts a file system when dropped.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The real thing: the database on a 3 MB tmpfs, where the write-ahead log fills the
/// disk (a transaction SQLite rolls back itself, which used to leave pooled connections
/// "in a transaction"). Needs the right to mount: skipped with a message without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tmpfs_under_sqlite_fails_the_job_saying_so_with_true_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: this machine does not let the tests mount a tmpfs");
        return;
    }
    let _mount = Mounted(dir.path().to_path_buf());
    // Half a megabyte held back, to free once the job has failed.
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![0u8; 512 * 1024]).unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    run_until_full(&url, StoreOptions::default(), || {
        std::fs::remove_file(&filler).unwrap()
    })
    .await;
}

/// A history that refuses every final write, as a full disk does once a job has ended.
struct FullAtTheEnd(StoreHistory);

#[async_trait]
impl JobHistory for FullAtTheEnd {
    async fn record(&self, job: &Job, status: &JobStatus) -> Result<()> {
        if status.state.is_terminal() {
            return Err(Error::new(
                ErrorKind::Database,
                "SQLite at /x/ts.db: database or disk is full (code 13)",
            ));
        }
        self.0.record(job, status).await
    }

    async fn log(&self, _job_id: &str, _lines: &[tickstock_data::joblog::LogLine]) -> Result<()> {
        Err(Error::new(ErrorKind::Database, "database or disk is full"))
    }
}

/// When the history write of a job's end is refused, Redis still holds the final status;
/// the next cleanup (or a worker's start) settles the row from it, with the job's own
/// state and counts, instead of leaving it "running" or marking it failed for no reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_the_history_refused_is_settled_from_redis_by_cleanup_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    let bus = support::bus().await;
    let service = support::service(&bus, &store);
    let fake = fake().await;
    let history: Arc<dyn JobHistory> = Arc::new(FullAtTheEnd(StoreHistory(store.clone())));
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader(&fake, &store)),
        support::fast_worker_config(),
        CancellationToken::new(),
        Some(history),
    );
    let mut ends = Vec::new();
    for _ in 0..2 {
        let job = service
            .submit(support::job(&["AAPL", "MSFT"]))
            .await
            .unwrap()
            .job;
        loop {
            match w.try_execute_next().await.unwrap() {
                tickstock_queue::worker::Outcome::Executed { job_id, .. } if job_id == job.id => {
                    break
                }
                _ => continue,
            }
        }
        let st = bus.status(&job.id).await.unwrap().unwrap();
        assert_eq!(st.state, JobState::Completed, "{st:?}");
        let run = store.job_run(&job.id).await.unwrap().unwrap();
        assert_eq!(run.status, "running", "the end was refused: {run:?}");
        ends.push((job, st));
    }

    // A worker's start settles the rows (what `tickstock worker` and the app run first).
    assert_eq!(service.settle_history().await.unwrap(), 2);
    for (job, st) in &ends {
        let run = store.job_run(&job.id).await.unwrap().unwrap();
        assert_eq!(run.status, "completed", "{run:?}");
        assert_eq!(
            run.bars_loaded as u64,
            st.ohlcv_records_loaded.unwrap(),
            "{run:?}"
        );
        assert!(run.completed_at.is_some(), "{run:?}");
    }

    // Cleanup does the same, and counts it; a settled row is not touched again.
    let job = service.submit(support::job(&["NVDA"])).await.unwrap().job;
    loop {
        match w.try_execute_next().await.unwrap() {
            tickstock_queue::worker::Outcome::Executed { job_id, .. } if job_id == job.id => break,
            _ => continue,
        }
    }
    assert_eq!(service.cleanup_stale().await.unwrap(), 1);
    let run = store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed", "{run:?}");
    assert_eq!(service.cleanup_stale().await.unwrap(), 0);
}
