//! The app's engine against real Redis and SQLite: stale-job cleanup and clearing by
//! prefix, and every way a job gets in from the page going through the job service.

use std::time::Duration;

use chrono::Utc;
use tickstock_app::engine::Engine;
use tickstock_app::settings::AppSettings;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::{iso_now, Bus};
use tickstock_testkit::redis_server::{shared_redis_url, unique_namespace};

fn job(symbol: &str) -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: vec![symbol.into()],
            timespan: Timeframe::Day,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "test",
    )
}

fn running(worker: &str, last_update: String) -> JobStatus {
    let mut st = JobStatus::new(JobState::Running);
    st.worker_id = Some(worker.into());
    st.started_at = Some(last_update.clone());
    st.extra.insert("timestamp".into(), last_update.into());
    st
}

#[tokio::test]
async fn cleanup_fails_only_jobs_with_no_progress_for_ten_minutes_and_no_live_worker() {
    let ns = unique_namespace();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let settings = AppSettings {
        redis_url: shared_redis_url(),
        namespace: ns.clone(),
        worker_enabled: false,
        ..AppSettings::default()
    };
    let engine = Engine::start(settings, db, None).await;
    let bus = Bus::connect(BusConfig::new(shared_redis_url()).with_namespace(ns))
        .await
        .unwrap();
    let (stale, fresh, waiting) = (job("OLD"), job("NEW"), job("WAIT"));
    for j in [&stale, &fresh, &waiting] {
        engine.submit(j.clone()).await.unwrap();
    }
    let long_ago = (Utc::now() - chrono::Duration::minutes(11)).to_rfc3339();
    bus.put_status(&stale.id, &running("ghost-worker", long_ago))
        .await
        .unwrap();
    bus.put_status(&fresh.id, &running("ghost-worker", iso_now()))
        .await
        .unwrap();

    let marked = engine.cleanup_stale().await.unwrap();
    assert_eq!(marked, 1);
    let st = bus.status(&stale.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Failed);
    assert!(st
        .error_message
        .unwrap()
        .contains("no progress for 10 minutes"));
    assert_eq!(
        bus.status(&fresh.id).await.unwrap().unwrap().state,
        JobState::Running
    );
    assert_eq!(
        bus.status(&waiting.id).await.unwrap().unwrap().state,
        JobState::Submitted
    );
    let store = engine.store().unwrap();
    assert_eq!(
        store.job_run(&stale.id).await.unwrap().unwrap().status,
        "failed",
        "history follows"
    );

    // Clearing by prefix removes finished jobs only, and wants 4 characters.
    assert!(engine.clear_jobs("abc").await.is_err());
    let cleared = engine.clear_jobs(&stale.id[..8]).await.unwrap();
    assert_eq!(cleared, 1);
    assert!(bus.status(&stale.id).await.unwrap().is_none());
    assert!(store.job_run(&stale.id).await.unwrap().is_none());
    assert!(store.job_run(&fresh.id).await.unwrap().is_some());
    assert_eq!(
        engine.clear_jobs(&fresh.id[..8]).await.unwrap(),
        0,
        "a running job stays"
    );
    engine.stop(Duration::from_secs(5)).await;
}

/// The job ids in the engine's history, sorted.
async fn history_ids(engine: &Engine) -> Vec<String> {
    let mut ids: Vec<String> = engine
        .store()
        .unwrap()
        .list_job_runs(&tickstock_data::store::JobRunFilter {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Every way in from the page goes through the engine's job service: the submit form, a
/// retry, a schedule's "run now" and a dead letter's requeue each write their job's one
/// history row at submit, and each is refused while an identical job is active.
#[tokio::test]
async fn each_way_in_from_the_page_records_one_history_row_and_refuses_an_active_duplicate() {
    use tickstock_jobs::retry::RetryPart;
    use tickstock_jobs::schedule::Scheduler;

    let ns = unique_namespace();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let settings = AppSettings {
        redis_url: shared_redis_url(),
        namespace: ns.clone(),
        worker_enabled: false,
        ..AppSettings::default()
    };
    let engine = Engine::start(settings, db, None).await;
    let bus = Bus::connect(BusConfig::new(shared_redis_url()).with_namespace(ns))
        .await
        .unwrap();

    // The submit form.
    let first = engine.submit_with(job("AAPL"), false).await.unwrap().job;
    let e = engine.submit_with(job("AAPL"), false).await.unwrap_err();
    assert!(e.message.contains(&first.id), "{}", e.message);
    assert_eq!(history_ids(&engine).await, vec![first.id.clone()]);
    assert_eq!(
        engine
            .store()
            .unwrap()
            .job_run(&first.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "submitted"
    );

    // A retry repeats the same work: refused until the first ended.
    let e = engine
        .retry(&first.id, "ana", RetryPart::All)
        .await
        .unwrap_err();
    assert!(e.message.contains(&first.id), "{}", e.message);
    engine.cancel(&first.id, "ana").await.unwrap();
    let retry = engine
        .retry(&first.id, "ana", RetryPart::All)
        .await
        .unwrap()
        .job;
    assert_eq!(history_ids(&engine).await, sorted(&[&first.id, &retry.id]));

    // A schedule's "run now", as the Coverage view's button asks it.
    let store = engine.store().unwrap().clone();
    let request = serde_json::json!({
        "kind": "historical_load", "symbols": ["MSFT"], "timespan": "day", "years": 1
    });
    store
        .add_schedule("nightly", "trading-days 16:30", &request)
        .await
        .unwrap();
    let scheduler = Scheduler::new(
        store.clone(),
        engine.service().unwrap().clone(),
        "app",
        None,
    );
    let scheduled = scheduler.run_now("nightly").await.unwrap();
    let e = scheduler.run_now("nightly").await.unwrap_err();
    assert!(e.message().contains(&scheduled), "{}", e.message());
    assert_eq!(
        history_ids(&engine).await,
        sorted(&[&first.id, &retry.id, &scheduled])
    );

    // A dead letter of the retry's work waits until the retry ended.
    let dead_job = job("AAPL");
    let entry = tickstock_queue::bus::StreamEntry {
        id: "1-0".into(),
        fields: [("job".to_string(), dead_job.to_json())].into(),
        deliveries: 6,
    };
    bus.dead_letter(&entry, "delivered 6 times", "w1")
        .await
        .unwrap();
    let dead_id = bus.dead_letters(10).await.unwrap()[0].id.clone();
    let e = engine
        .console_requeue_dead(&dead_id, "ana")
        .await
        .unwrap_err();
    assert!(e.message.contains(&retry.id), "{}", e.message);
    engine.cancel(&retry.id, "ana").await.unwrap();
    let requeued = engine.console_requeue_dead(&dead_id, "ana").await.unwrap();
    assert_eq!(requeued.job_id.as_deref(), Some(dead_job.id.as_str()));
    assert_eq!(
        history_ids(&engine).await,
        sorted(&[&first.id, &retry.id, &scheduled, &dead_job.id])
    );
    assert_eq!(
        store.job_run(&dead_job.id).await.unwrap().unwrap().status,
        "queued"
    );
    engine.stop(Duration::from_secs(5)).await;
}

mod settings_mid_job {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use chrono::NaiveDate;
    use tickstock_app::secrets::KeyStore;
    use tickstock_app::settings::{AppSettings, SettingsInput};
    use tickstock_app::state::AppState;
    use tickstock_protocol::job::{DateRange, Job, JobSpec};
    use tickstock_protocol::Timeframe;
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};

    const SYMBOLS: [&str; 10] = [
        "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "AMD", "INTC", "ORCL", "IBM",
    ];

    fn input(settings: AppSettings) -> SettingsInput {
        SettingsInput {
            settings,
            api_key: None,
            remove_api_key: false,
        }
    }

    async fn wait_run(
        state: &AppState,
        id: &str,
        what: &str,
        pred: impl Fn(&tickstock_data::store::JobRun) -> bool,
    ) -> tickstock_data::store::JobRun {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let engine = state.engine().await;
            let last = engine.store().unwrap().job_run(id).await;
            if let Ok(Some(run)) = &last {
                if pred(run) {
                    return run.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A live setting changes nothing of a running job; a setting that needs a restart
    /// stops it after its chunk and it resumes with its submit time and totals intact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settings_saved_mid_job_keep_the_jobs_totals() {
        let fake = FakePolygon::start(FakePolygonConfig {
            latency: Duration::from_millis(700),
            ..FakePolygonConfig::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(&dir.path().join("config"));
        keys.save(fake.api_key()).unwrap();
        let settings = AppSettings {
            polygon_base_url: fake.base_url(),
            requests_per_minute: 0,
            ..AppSettings::default()
        };
        let state = AppState::start(
            settings.clone(),
            dir.path(),
            keys,
            dir.path().join("logs"),
            Box::new(|_| Ok(())),
        )
        .await;
        let (from, to) = (
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
        );
        let job = Job::new(
            JobSpec::Historical {
                symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
                timespan: Timeframe::Day,
                range: DateRange {
                    years: None,
                    start_date: Some(from),
                    end_date: Some(to),
                },
            },
            "test",
        );
        let id = job.id.clone();
        state.engine().await.submit(job).await.unwrap();
        let first = wait_run(&state, &id, "the job to be running", |r| {
            r.status == "running"
        })
        .await;

        // The rate limit changes live: same engine, the job goes on.
        let before = state.engine().await;
        let live = AppSettings {
            requests_per_minute: 600,
            ..settings.clone()
        };
        let impact = state.settings_impact(&input(live.clone())).await.unwrap();
        assert!(impact.restart.is_empty(), "{:?}", impact.restart);
        state.save_settings(input(live.clone())).await.unwrap();
        assert!(Arc::ptr_eq(&before, &state.engine().await), "no restart");
        assert_eq!(state.engine().await.settings().requests_per_minute, 600);
        drop(before);

        // Concurrency needs a restart, and says so while a job is active.
        wait_run(&state, &id, "some symbols loaded", |r| r.bars_loaded > 40).await;
        let restart = AppSettings {
            worker_concurrency: 2,
            ..live
        };
        let impact = state
            .settings_impact(&input(restart.clone()))
            .await
            .unwrap();
        assert_eq!(impact.restart, vec!["workerConcurrency"]);
        assert_eq!(impact.active_jobs, 1);
        state.save_settings(input(restart)).await.unwrap();

        let run = wait_run(&state, &id, "the resumed job to finish", |r| {
            r.status != "running" && r.status != "queued" && r.status != "submitted"
        })
        .await;
        let sessions = FakePolygon::expected_bars("AAPL", Timeframe::Day, from, to).len() as i64;
        assert_eq!(run.status, "completed", "{run:?}");
        assert_eq!(run.bars_loaded, SYMBOLS.len() as i64 * sessions, "{run:?}");
        assert_eq!(run.symbols_ok, SYMBOLS.len() as i64, "{run:?}");
        assert_eq!(run.submitted_at, first.submitted_at, "submit time kept");
        assert_eq!(run.started_at, first.started_at, "start time kept");
        // Bars of each symbol downloaded once, apart from those in flight at the restart
        // (the loader runs a few symbols at once).
        let bar_requests = fake
            .requests()
            .iter()
            .filter(|r| r.path.contains("/v2/aggs/"))
            .count();
        assert!(
            (SYMBOLS.len()..=SYMBOLS.len() + 4).contains(&bar_requests),
            "{bar_requests} bar requests"
        );
        state.shutdown().await;
    }
}
