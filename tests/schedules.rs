//! Schedules on real Redis and PostgreSQL: every due time fires exactly once however many
//! workers' schedulers run, a missed due time fires once on catch-up, disabled schedules do
//! not fire, and a failed scheduled job is alerted once through the webhook.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tickstock_data::store::Store;
use tickstock_jobs::schedule::Scheduler;
use tickstock_protocol::job::{JobRequest, SymbolsInput};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_testkit::pg::fresh_database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn request() -> serde_json::Value {
    serde_json::to_value(JobRequest {
        kind: "historical_load".into(),
        symbols: SymbolsInput::List(vec!["AAPL".into()]),
        timespan: Some("day".into()),
        years: Some(1.0),
        ..Default::default()
    })
    .unwrap()
}

/// The jobs on the bus, with who asked for them.
async fn jobs(bus: &tickstock_queue::bus::Bus) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in bus.list_jobs(1000).await.unwrap() {
        let st = e.status.expect("a status");
        out.push((e.job_id, st.message.unwrap_or_default()));
    }
    out
}

/// Minute `n` after `base`, a few seconds in (as a scheduler pass would see it).
fn minute(base: DateTime<Utc>, n: i64) -> DateTime<Utc> {
    let start = base.timestamp() - base.timestamp() % 60;
    DateTime::from_timestamp(start + n * 60 + 5, 0).unwrap()
}

#[tokio::test]
async fn each_due_time_fires_once_across_three_schedulers() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let bus = crate::support::bus().await;
    store
        .add_schedule("every-minute", "* * * * *", &request())
        .await
        .unwrap();
    let schedulers: Vec<Scheduler> = (0..3)
        .map(|i| {
            Scheduler::new(
                store.clone(),
                crate::support::service(&bus, &store),
                &format!("worker-{i}"),
                None,
            )
        })
        .collect();
    let base = Utc::now();
    let mut fired = Vec::new();
    for n in 1..=5 {
        let now = minute(base, n);
        // The three passes at once, as three workers would run them.
        let passes = schedulers.iter().map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.tick(now).await.unwrap() })
        });
        let mut this_minute = Vec::new();
        for p in passes {
            this_minute.extend(p.await.unwrap().fired);
        }
        assert_eq!(this_minute.len(), 1, "minute {n}: {this_minute:?}");
        assert_eq!(
            this_minute[0].due.timestamp(),
            now.timestamp() - 5,
            "the due time itself"
        );
        let job = bus
            .status(&this_minute[0].job_id)
            .await
            .unwrap()
            .expect("submitted");
        assert_eq!(job.state, JobState::Submitted);
        fired.extend(this_minute);
        // A later pass in the same minute fires nothing more.
        assert!(schedulers[1].tick(now).await.unwrap().fired.is_empty());
        // A worker runs it before the next minute (while it is active, an identical job
        // would not be submitted again).
        bus.put_status(
            &fired.last().unwrap().job_id,
            &JobStatus::new(JobState::Completed),
        )
        .await
        .unwrap();
    }
    let on_bus = jobs(&bus).await;
    assert_eq!(on_bus.len(), 5, "{on_bus:?}");
    let run = store.schedules().await.unwrap().remove(0);
    assert_eq!(
        run.last_due.map(|t| t.timestamp()),
        Some(minute(base, 5).timestamp() - 5)
    );
    assert_eq!(run.last_job_id.as_deref(), Some(fired[4].job_id.as_str()));
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_missed_due_time_fires_once_and_a_disabled_schedule_never() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let bus = crate::support::bus().await;
    store
        .add_schedule("catch-up", "* * * * *", &request())
        .await
        .unwrap();
    store
        .add_schedule("off", "* * * * *", &request())
        .await
        .unwrap();
    assert!(store.enable_schedule("off", false).await.unwrap());
    let s = Scheduler::new(
        store.clone(),
        crate::support::service(&bus, &store),
        "w",
        None,
    );
    // No worker ran for ten minutes: one job for the latest due time, not ten.
    let t = s.tick(minute(Utc::now(), 10)).await.unwrap();
    assert_eq!(t.fired.len(), 1, "{:?}", t.fired);
    assert_eq!(t.fired[0].name, "catch-up");
    assert!(s
        .tick(minute(Utc::now(), 10))
        .await
        .unwrap()
        .fired
        .is_empty());
    assert_eq!(jobs(&bus).await.len(), 1);
    // Its job says who asked for it.
    let job = bus.status(&t.fired[0].job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Submitted);
    let listed = s.list(Utc::now()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].last_status.as_deref(), Some("submitted"));
    assert!(listed[0].next_due.is_some());
    store.close().await;
    db.drop_db().await;
}

/// Scheduled jobs go through the job service: each submit writes the job's one history
/// row; a due time whose identical job is still active submits nothing and says which job
/// does the work, and the pass goes on with the other schedules; "run now" is refused
/// with the active job's id.
#[tokio::test]
async fn a_scheduled_job_is_recorded_at_submit_and_not_queued_again_while_active() {
    use crate::support::{history_ids, sorted};
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let bus = crate::support::bus().await;
    store
        .add_schedule("aapl", "* * * * *", &request())
        .await
        .unwrap();
    let mut other: JobRequest = serde_json::from_value(request()).unwrap();
    other.symbols = SymbolsInput::List(vec!["MSFT".into()]);
    store
        .add_schedule("msft", "* * * * *", &serde_json::to_value(other).unwrap())
        .await
        .unwrap();
    let s = Scheduler::new(
        store.clone(),
        crate::support::service(&bus, &store),
        "w",
        None,
    );
    let base = Utc::now();
    let first = s.tick(minute(base, 1)).await.unwrap().fired;
    assert_eq!(first.len(), 2, "{first:?}");
    let id = |fired: &[tickstock_jobs::schedule::Fired], name: &str| {
        fired
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} fired: {fired:?}"))
            .clone()
    };
    let (aapl, msft) = (id(&first, "aapl").job_id, id(&first, "msft").job_id);
    assert_eq!(history_ids(&store).await, sorted(&[&aapl, &msft]));
    let row = store.job_run(&aapl).await.unwrap().unwrap();
    assert_eq!(row.status, "submitted");
    assert_eq!(row.params["requested_by"], "scheduler:aapl");

    // MSFT's job ran; AAPL's still waits.
    bus.put_status(&msft, &JobStatus::new(JobState::Completed))
        .await
        .unwrap();
    let second = s.tick(minute(base, 2)).await.unwrap().fired;
    assert_eq!(second.len(), 2, "both due times are claimed: {second:?}");
    let refused = id(&second, "aapl");
    assert_eq!(refused.job_id, "", "nothing submitted");
    assert_eq!(refused.already_active, vec![aapl.clone()]);
    let msft2 = id(&second, "msft").job_id;
    assert!(!msft2.is_empty() && msft2 != msft);
    assert_eq!(jobs(&bus).await.len(), 3);
    assert_eq!(history_ids(&store).await, sorted(&[&aapl, &msft, &msft2]));
    assert_eq!(
        store.schedules().await.unwrap()[0].last_job_id.as_deref(),
        Some(aapl.as_str()),
        "the schedule's last job is still the one that does the work"
    );

    // The operator's "run now" is refused, naming the active job.
    let e = s.run_now("aapl").await.unwrap_err();
    assert!(e.message().contains(&aapl), "{}", e.message());
    assert_eq!(history_ids(&store).await.len(), 3);
    store.close().await;
    db.drop_db().await;
}

/// A one-request HTTP server on loopback that hands back the body it received.
async fn webhook() -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/T000/secret-token",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(async move {
        let mut bodies = Vec::new();
        while let Ok(Ok((mut sock, _))) =
            tokio::time::timeout(Duration::from_secs(3), listener.accept()).await
        {
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            loop {
                let n = sock.read(&mut buf[got..]).await.unwrap();
                got += n;
                let text = String::from_utf8_lossy(&buf[..got]).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        bodies.push(body.to_string());
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
        bodies
    });
    (url, task)
}

#[tokio::test]
async fn a_failed_scheduled_job_is_alerted_once() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let bus = crate::support::bus().await;
    store
        .add_schedule("nightly", "trading-days 16:30", &request())
        .await
        .unwrap();
    let (url, received) = webhook().await;
    let s = Scheduler::new(
        store.clone(),
        crate::support::service(&bus, &store),
        "w",
        Some(url),
    );
    let id = s.run_now("nightly").await.unwrap();
    // Running: nothing to say yet.
    assert!(s.tick(Utc::now()).await.unwrap().failures.is_empty());
    let mut st = JobStatus::new(JobState::Failed);
    st.error_message = Some("Polygon refused the API key".into());
    bus.put_status(&id, &st).await.unwrap();
    let t = s.tick(Utc::now()).await.unwrap();
    assert_eq!(t.failures.len(), 1, "{:?}", t.failures);
    assert_eq!(t.failures[0].job_id, id);
    assert_eq!(t.failures[0].state, "failed");
    assert!(
        s.tick(Utc::now()).await.unwrap().failures.is_empty(),
        "once"
    );
    let bodies = received.await.unwrap();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let v: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.contains("nightly") && text.contains(&id) && text.contains("failed"),
        "{text}"
    );
    assert!(text.contains("Polygon refused the API key"), "{text}");
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn schedules_are_kept_in_sqlite_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    store
        .add_schedule("a", "trading-days 16:30", &request())
        .await
        .unwrap();
    let err = store
        .add_schedule("a", "trading-days 16:30", &request())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");
    let due = Utc::now();
    assert!(store.claim_schedule_due("a", due).await.unwrap());
    assert!(
        !store.claim_schedule_due("a", due).await.unwrap(),
        "claimed once"
    );
    store.set_schedule_job("a", "job-1").await.unwrap();
    let rows = store.schedules().await.unwrap();
    assert_eq!(rows[0].last_job_id.as_deref(), Some("job-1"));
    assert_eq!(
        rows[0].last_due.map(|t| t.timestamp_micros()),
        Some(due.timestamp_micros())
    );
    assert_eq!(rows[0].request, request());
    assert!(store.enable_schedule("a", false).await.unwrap());
    assert!(
        !store
            .claim_schedule_due("a", due + chrono::Duration::minutes(1))
            .await
            .unwrap(),
        "a disabled schedule is not claimed"
    );
    assert!(store.remove_schedule("a").await.unwrap());
    assert!(!store.remove_schedule("a").await.unwrap());
    store.close().await;
}
