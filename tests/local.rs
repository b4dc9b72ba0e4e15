//! The app's embedded mode in the core: the in-process queue running the real loader on
//! SQLite; a job interrupted by the app closing resumes on the next start from its
//! checkpoint, downloading no finished (symbol, timeframe) again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use secrecy::SecretString;
use tickstock_data::exec::{Checkpoints, JobHistory};
use tickstock_data::history::{StoreCheckpoints, StoreHistory};
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::polygon::{PolygonClient, PolygonConfig};
use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::Timeframe;
use tickstock_queue::local::LocalQueue;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tokio_util::sync::CancellationToken;

fn start_queue(fake: &FakePolygon, store: &Store, shutdown: CancellationToken) -> LocalQueue {
    let polygon = PolygonClient::new(
        PolygonConfig::new(
            fake.base_url(),
            SecretString::from(fake.api_key().to_string()),
        )
        .with_requests_per_minute(0),
    )
    .unwrap();
    let loader = Loader::new(
        polygon,
        store.clone(),
        LoaderConfig {
            concurrency: 1,
            // Counts bar requests; registration is tested in `tickstock.rs`.
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    LocalQueue::start(
        Arc::new(loader),
        Some(Arc::new(StoreHistory(store.clone())) as Arc<dyn JobHistory>),
        Some(Arc::new(StoreCheckpoints(store.clone())) as Arc<dyn Checkpoints>),
        1,
        shutdown,
    )
}

async fn wait(q: &LocalQueue, id: &str, pred: impl Fn(&JobStatus) -> bool) -> JobStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = q.status(id).filter(|s| pred(s)) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out: {:?}", q.status(id));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_interrupted_by_closing_resumes_from_its_checkpoint() {
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(150),
        ..FakePolygonConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let store = Store::connect(&url).await.unwrap();
    let symbols: Vec<String> = [
        "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "AMD", "INTC",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2024, 3, 4).unwrap(),
        NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
    );
    let job = Job::new(
        JobSpec::Historical {
            symbols: symbols.clone(),
            timespan: Timeframe::Day,
            range: DateRange {
                years: None,
                start_date: Some(from),
                end_date: Some(to),
            },
        },
        "test",
    );

    // First run: close the app once three symbols are in.
    let shutdown = CancellationToken::new();
    let q = start_queue(&fake, &store, shutdown.clone());
    q.submit(job.clone()).await.unwrap();
    wait(&q, &job.id, |s| s.successful_symbols.len() >= 3).await;
    shutdown.cancel();
    q.stopped().await;
    let st = q.status(&job.id).unwrap();
    assert_eq!(st.state, JobState::Queued, "{st:?}");
    let run = store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "queued");
    let first: Vec<usize> = symbols.iter().map(|s| fake.requests_for(s)).collect();
    let done_before: Vec<String> = store
        .done_pairs(&job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    assert!((3..8).contains(&done_before.len()), "{done_before:?}");

    // Next start: the job is submitted again and finishes.
    let q2 = start_queue(&fake, &store, CancellationToken::new());
    q2.submit(Job::from_value(run.params).unwrap())
        .await
        .unwrap();
    let st = wait(&q2, &job.id, |s| s.state == JobState::Completed).await;
    assert_eq!(st.progress, 100);
    for (s, before) in symbols.iter().zip(first) {
        let after = fake.requests_for(s);
        if done_before.contains(s) {
            assert_eq!(
                after, before,
                "{s} was finished and must not be downloaded again"
            );
        } else {
            assert_eq!(after, before + 1, "{s} is loaded once more, in one page");
        }
    }
    for s in &symbols {
        let rows = store.read_bars(s, Timeframe::Day).await.unwrap();
        let want = FakePolygon::expected_bars(s, Timeframe::Day, from, to);
        assert_eq!(rows.len(), want.len(), "{s}");
    }
    assert_eq!(
        store.job_run(&job.id).await.unwrap().unwrap().status,
        "completed"
    );
}

/// A runner that counts its spare requests and runs each job for `job_time`.
struct SpareCounter {
    spare: std::sync::atomic::AtomicUsize,
    running: std::sync::atomic::AtomicBool,
    during_job: std::sync::atomic::AtomicUsize,
    job_time: Duration,
}

#[async_trait::async_trait]
impl tickstock_data::exec::JobRunner for SpareCounter {
    async fn run(
        &self,
        _job: &Job,
        _ctx: &tickstock_data::exec::JobContext,
    ) -> tickstock_protocol::Result<()> {
        use std::sync::atomic::Ordering;
        self.running.store(true, Ordering::SeqCst);
        tokio::time::sleep(self.job_time).await;
        self.running.store(false, Ordering::SeqCst);
        Ok(())
    }

    async fn spare_request(&self) -> tickstock_protocol::Result<bool> {
        use std::sync::atomic::Ordering;
        self.spare.fetch_add(1, Ordering::SeqCst);
        if self.running.load(Ordering::SeqCst) {
            self.during_job.fetch_add(1, Ordering::SeqCst);
        }
        Ok(true)
    }
}

/// The app's embedded queue describes symbols from spare budget as a Redis worker does
/// (the status promises it): a spare request while nothing waits or runs, none while a
/// job runs.
#[tokio::test]
async fn the_embedded_queue_makes_spare_requests_only_while_idle() {
    use std::sync::atomic::Ordering;
    let runner = Arc::new(SpareCounter {
        spare: Default::default(),
        running: Default::default(),
        during_job: Default::default(),
        job_time: Duration::from_secs(2),
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let q = LocalQueue::start(runner.clone(), None, None, 2, shutdown.clone());
    crate::support::wait_for(Duration::from_secs(5), "a spare request", || async {
        (runner.spare.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    q.submit(crate::support::job(&["AAPL"])).await.unwrap();
    crate::support::wait_for(Duration::from_secs(10), "the job to end", || async {
        q.active().is_empty().then_some(())
    })
    .await;
    assert_eq!(
        runner.during_job.load(Ordering::SeqCst),
        0,
        "spare requests while a job ran"
    );
    shutdown.cancel();
    q.stopped().await;
}
