//! The app's engine against real Redis and SQLite: stale-job cleanup and clearing by prefix.

use std::time::Duration;

use chrono::Utc;
use tickstock_app::engine::Engine;
use tickstock_app::settings::AppSettings;
use tickstock_core::bus::{iso_now, Bus};
use tickstock_core::job::{DateRange, Job, JobSpec};
use tickstock_core::settings::BusConfig;
use tickstock_core::status::{JobState, JobStatus};
use tickstock_core::Timeframe;
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
