//! The operations console against real services: the queue's pause and its view, worker
//! commands, dead letters, duplicate submits, history pages on PostgreSQL and SQLite,
//! the estimate, the metrics, and the CLI commands over them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Span, TimeZone, Utc};
use serde_json::json;
use tickstock_data::store::history_query::{HistoryPosition, HistoryQuery, HistorySort};
use tickstock_data::store::{JobRun, Store};
use tickstock_jobs::service::{JobService, SubmitOptions};
use tickstock_protocol::job::{Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_queue::bus::{Gate, WorkerCommand, WorkerState};
use tickstock_queue::worker::WorkerConfig;
use tickstock_testkit::pg::{fresh_database, TestDb};

use crate::support::{bus, fast_worker_config, job, sim_worker, wait_for, wait_state};

// ---- history ----

/// A store on a fresh PostgreSQL database or an SQLite file.
async fn stores() -> Vec<(Store, Option<TestDb>, Option<tempfile::TempDir>)> {
    let db = fresh_database().await;
    let pg = Store::connect(&db.url).await.expect("PostgreSQL store");
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::connect(&format!("sqlite://{}/h.db", dir.path().display()))
        .await
        .expect("SQLite store");
    vec![(pg, Some(db), None), (lite, None, Some(dir))]
}

/// 120 runs, one a minute from 2026-01-01 00:00 UTC: every 10th a DOW30 universe seed
/// (resolved symbols include IBM), every 7th failed, requested by ana or bob, bars = i.
pub(crate) fn runs() -> Vec<JobRun> {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..120)
        .map(|i: i64| {
            let (kind, params) = if i % 10 == 0 {
                (
                    "universe_seed",
                    json!({"job_type": "universe_seed", "universe_type": "DOW30",
                           "symbols": ["IBM", "MMM"], "requested_by": "ana"}),
                )
            } else if i % 10 == 5 {
                (
                    "csv_universe_load",
                    json!({"job_type": "csv_universe_load", "universe_key": "SPY:nasdaq100",
                           "symbols": ["QQQ"], "requested_by": "bob"}),
                )
            } else {
                (
                    "historical_load",
                    json!({"job_type": "historical_load", "symbols": [format!("S{i}")],
                           "requested_by": if i % 2 == 0 { "ana" } else { "bob" }}),
                )
            };
            let mut r = JobRun::new(format!("{i:04}-job"), kind, params);
            r.status = if i % 7 == 0 { "failed" } else { "completed" }.into();
            r.bars_loaded = i;
            r.submitted_at = Some(t0 + Span::minutes(i));
            r.started_at = r.submitted_at;
            r.completed_at = Some(t0 + Span::minutes(i) + Span::seconds(120 - i));
            r
        })
        .collect()
}

fn ids(p: &tickstock_data::store::history_query::HistoryPage) -> Vec<String> {
    p.items.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn history_pages_by_keyset_jump_sort_filter_and_search_on_both_databases() {
    for (store, _db, _dir) in stores().await {
        let which = format!("{:?}", store.backend());
        for r in runs() {
            store.upsert_job_run(&r).await.unwrap();
        }
        let q = HistoryQuery {
            page_size: 50,
            ..HistoryQuery::default()
        };
        let first = store.history_page(&q).await.unwrap();
        assert_eq!(first.total, 120, "{which}");
        assert_eq!(first.items[0].id, "0119-job", "{which}: newest first");
        assert_eq!(first.offset, 0);
        assert_eq!(first.counts["failed"], 18, "{which}: 0,7,..,119");
        assert_eq!(first.counts["completed"], 102, "{which}");
        assert!(first.prev.is_none());

        // A job arriving while the operator reads does not shift the next page.
        let mut newer = runs()[1].clone();
        newer.id = "9999-new".into();
        newer.submitted_at = Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap());
        store.upsert_job_run(&newer).await.unwrap();
        let second = store
            .history_page(&HistoryQuery {
                at: HistoryPosition::After(first.next.clone().unwrap()),
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            second.items[0].id, "0069-job",
            "{which}: keyset, not offset"
        );
        assert_eq!(second.offset, 51, "{which}: one newer row now before it");
        let back = store
            .history_page(&HistoryQuery {
                at: HistoryPosition::Before(second.prev.clone().unwrap()),
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(back.items.last().unwrap().id, "0070-job", "{which}");
        assert_eq!(back.items.len(), 50);

        // Jumps: a page number, a date.
        let far = store
            .history_page(&HistoryQuery {
                at: HistoryPosition::Page(2),
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(far.offset, 100);
        assert_eq!(far.items.len(), 21, "{which}: 121 rows, third page");
        assert!(far.next.is_none());
        assert_eq!(far.page_of(), (2, 3));
        assert_eq!(far.past_end, None);
        // A page past the end is the last page, and says which was asked for.
        let beyond = store
            .history_page(&HistoryQuery {
                at: HistoryPosition::Page(9998),
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(beyond.page_of(), (2, 3), "{which}");
        assert_eq!(beyond.items.len(), 21, "{which}: the last page's rows");
        assert_eq!(beyond.past_end, Some(9998));
        assert!(beyond.prev.is_some() && beyond.next.is_none(), "{which}");
        let just_after = store
            .history_page(&HistoryQuery {
                at: HistoryPosition::Page(3),
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(just_after.page_of(), (2, 3), "{which}");
        let dated = store
            .history_page(&HistoryQuery {
                at: HistoryPosition::Date(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(dated.items[0].id, "0119-job", "{which}: newest of that day");
        assert_eq!(dated.offset, 1, "{which}");
        let bad = store
            .history_page(&HistoryQuery {
                sort: HistorySort::Bars,
                at: HistoryPosition::Date(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
                ..q.clone()
            })
            .await
            .unwrap_err();
        assert!(bad.to_string().contains("submit time"), "{bad}");

        // Sorts: fewest bars first; longest first (duration = 120 - i seconds).
        let by_bars = store
            .history_page(&HistoryQuery {
                sort: HistorySort::Bars,
                ascending: true,
                page_size: 3,
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            ids(&by_bars),
            ["0000-job", "0001-job", "9999-new"],
            "{which}"
        );
        let longest = store
            .history_page(&HistoryQuery {
                sort: HistorySort::Duration,
                page_size: 2,
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(ids(&longest)[0], "0000-job", "{which}");
        let next = store
            .history_page(&HistoryQuery {
                sort: HistorySort::Duration,
                page_size: 2,
                at: HistoryPosition::After(longest.next.clone().unwrap()),
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(next.offset, 2, "{which}");
        assert!(!ids(&next).contains(&"0000-job".to_string()));

        // Search: universe key, symbol inside a universe, one key of a joined key, a
        // status word, a kind word, an id prefix.
        let search = |s: &str| HistoryQuery {
            search: Some(s.into()),
            page_size: 200,
            ..HistoryQuery::default()
        };
        assert_eq!(
            store.history_page(&search("dow30")).await.unwrap().total,
            12
        );
        assert_eq!(store.history_page(&search("IBM")).await.unwrap().total, 12);
        assert_eq!(
            store
                .history_page(&search("Nasdaq100"))
                .await
                .unwrap()
                .total,
            12
        );
        assert_eq!(
            store.history_page(&search("failed")).await.unwrap().total,
            18
        );
        assert_eq!(
            store.history_page(&search("universe")).await.unwrap().total,
            24
        );
        assert_eq!(
            ids(&store.history_page(&search("0042")).await.unwrap()),
            ["0042-job"]
        );
        assert_eq!(store.history_page(&search("50%")).await.unwrap().total, 0);

        // Filters: status with the other statuses still counted, requester, dates, kind.
        let failed_by_ana = store
            .history_page(&HistoryQuery {
                status: Some("failed".into()),
                requested_by: Some("ana".into()),
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            failed_by_ana.total, 9,
            "{which}: even multiples of 7, 0..=112"
        );
        assert!(failed_by_ana.counts["completed"] > 0);
        let window = store
            .history_page(&HistoryQuery {
                since: Some(Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap()),
                until: Some(Utc.with_ymd_and_hms(2026, 1, 1, 1, 10, 0).unwrap()),
                kind: Some("historical_load".into()),
                ..HistoryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(window.total, 8, "{which}: 60..69 less 60 and 65");
    }
}

// ---- queue, workers, dead letters, duplicates ----

#[tokio::test]
async fn a_paused_queue_starts_nothing_and_resumes_and_the_view_shows_ages() {
    let bus = bus().await;
    assert!(bus.pause_queue("ana").await.unwrap());
    assert!(!bus.pause_queue("bob").await.unwrap(), "already paused");
    assert_eq!(
        bus.queue_paused().await.unwrap().unwrap().requested_by,
        "ana"
    );
    let (w, stop) = sim_worker(&bus, Duration::from_millis(10), fast_worker_config());
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    assert_eq!(bus.worker_gate(w.id()).await.unwrap(), Gate::Hold);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let view = bus.queue_view().await.unwrap();
    assert!(view.paused.is_some());
    assert_eq!(view.waiting.len(), 1, "the paused worker took nothing");
    assert_eq!(view.waiting[0].job_id.as_deref(), Some(j.id.as_str()));
    assert_eq!(view.waiting[0].kind.as_deref(), Some("historical_load"));
    assert!(view.waiting[0].age_seconds >= 0.5, "{:?}", view.waiting[0]);
    assert!(bus.resume_queue().await.unwrap());
    wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(10)).await;
    let view = bus.queue_view().await.unwrap();
    assert!(view.paused.is_none() && view.waiting.is_empty() && view.in_flight.is_empty());
    stop.cancel();
    run.await.unwrap().unwrap();
}

/// A worker already waiting on the stream when the pause lands does not start the job the
/// wait returns: it hands it back, and a worker takes it once the queue runs again.
#[tokio::test]
async fn a_pause_reaches_a_worker_already_waiting_for_a_job() {
    let bus = bus().await;
    let cfg = WorkerConfig {
        block: Duration::from_secs(5),
        ..fast_worker_config()
    };
    let (w, stop) = sim_worker(&bus, Duration::from_millis(10), cfg);
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    // Started and waiting in its (5 s) read.
    wait_for(
        Duration::from_secs(10),
        "the worker's heartbeat",
        || async {
            bus.workers(Duration::from_secs(60))
                .await
                .ok()
                .filter(|ws| ws.iter().any(|x| x.id == w.id()))
                .map(|_| ())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bus.pause_queue("ana").await.unwrap());
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(
        st.state,
        JobState::Submitted,
        "nothing starts while paused: {st:?}"
    );
    // The operator sees it waiting, not in flight (it was handed back).
    let view = bus.queue_view().await.unwrap();
    assert_eq!(view.waiting.len(), 1, "{view:?}");
    assert!(view.in_flight.is_empty(), "{view:?}");
    assert!(bus.resume_queue().await.unwrap());
    wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(20)).await;
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_quiet_worker_finishes_its_job_and_takes_no_more_and_stop_stops_it() {
    let bus = bus().await;
    let (w, _stop) = sim_worker(&bus, Duration::from_millis(300), fast_worker_config());
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let first = job(&["AAPL", "MSFT"]);
    bus.submit(&first).await.unwrap();
    wait_state(&bus, &first.id, JobState::Running, Duration::from_secs(10)).await;
    let view = bus.queue_view().await.unwrap();
    assert_eq!(view.in_flight.len(), 1);
    assert_eq!(view.in_flight[0].worker, w.id());
    bus.send_worker_command(w.id(), WorkerCommand::Quiet, "ana")
        .await
        .unwrap();
    let second = job(&["IBM"]);
    bus.submit(&second).await.unwrap();
    wait_state(
        &bus,
        &first.id,
        JobState::Completed,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        bus.status(&second.id).await.unwrap().unwrap().state,
        JobState::Submitted,
        "a quiet worker takes no new job"
    );
    let rows = bus.worker_rows().await.unwrap();
    let me = rows.iter().find(|r| r.info.id == w.id()).unwrap();
    assert_eq!(me.state, WorkerState::Quiet);
    assert_eq!(me.info.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(me.info.pid, Some(std::process::id()));

    bus.send_worker_command(w.id(), WorkerCommand::Stop, "ana")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("a stopped worker ends its run")
        .unwrap()
        .unwrap();
    let rows = bus.worker_rows().await.unwrap();
    let me = rows.iter().find(|r| r.info.id == w.id()).unwrap();
    assert_eq!(me.state, WorkerState::Stopped);
    let unknown = bus
        .send_worker_command("nobody-0", WorkerCommand::Stop, "ana")
        .await
        .unwrap_err();
    assert!(
        unknown.message().contains("\"nobody-0\""),
        "{}",
        unknown.message()
    );
}

/// Odd operator input and odd keys: a command to a name that is only the start of a
/// worker's control key is refused; a pause key that is not text still pauses, for the
/// workers and for `queue` alike (it used to fail with WRONGTYPE while workers ignored it).
#[tokio::test]
async fn a_control_key_is_not_a_worker_and_any_pause_key_pauses() {
    let bus = bus().await;
    let (w, stop) = sim_worker(&bus, Duration::from_millis(10), fast_worker_config());
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    wait_for(Duration::from_secs(5), "the worker's heartbeat", || async {
        bus.worker_rows()
            .await
            .ok()
            .filter(|r| r.iter().any(|r| r.info.id == w.id()))
    })
    .await;
    bus.send_worker_command(w.id(), WorkerCommand::Quiet, "ana")
        .await
        .unwrap();
    let control = format!("{}:control", w.id());
    let err = bus
        .send_worker_command(&control, WorkerCommand::Stop, "ana")
        .await
        .unwrap_err();
    assert!(err.message().contains("No worker"), "{}", err.message());
    assert!(bus.clear_worker_command(w.id()).await.unwrap());

    // A pause written as a hash by some other tool.
    let mut c = bus.conn();
    let _: () = redis::AsyncCommands::hset(&mut c, bus.keys().queue_paused(), "by", "someone")
        .await
        .unwrap();
    let paused = bus.queue_paused().await.unwrap().expect("paused");
    assert_eq!(paused.requested_by, "unknown");
    assert!(bus.queue_view().await.unwrap().paused.is_some());
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        bus.status(&j.id).await.unwrap().unwrap().state,
        JobState::Submitted,
        "a paused queue starts nothing"
    );
    assert!(bus.resume_queue().await.unwrap());
    wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(10)).await;
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn dead_letters_list_requeue_delete_and_purge() {
    let bus = bus().await;
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let mut cfg = fast_worker_config();
    cfg.max_deliveries = 1;
    cfg.claim_idle = Duration::from_millis(200);
    // A job delivered more often than allowed is dead-lettered on its next take-over.
    let j = job(&["AAPL"]);
    let service = JobService::new(Arc::new(bus.clone()), Some(store.clone()));
    service.submit(j.clone()).await.unwrap();
    let mut c = bus.conn();
    bus.ensure_group().await.unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(bus.keys().group())
        .arg("gone-worker")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(bus.keys().stream())
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    let (w, stop) = sim_worker(&bus, Duration::from_millis(10), cfg);
    let run = tokio::spawn({
        let w = w.clone();
        async move { w.run().await }
    });
    let dead = wait_for(Duration::from_secs(10), "a dead letter", || async {
        bus.dead_letters(10).await.unwrap().into_iter().next()
    })
    .await;
    assert_eq!(dead.job_id.as_deref(), Some(j.id.as_str()));
    assert!(dead.requeueable);
    assert!(dead.deliveries >= 2, "{dead:?}");
    assert!(!dead.reason.is_empty());
    wait_state(&bus, &j.id, JobState::Failed, Duration::from_secs(5)).await;

    // Requeue: the same job runs again, and its history row follows.
    service
        .requeue_dead(&dead.id, "ana", SubmitOptions::default())
        .await
        .unwrap();
    assert_eq!(
        store.job_run(&j.id).await.unwrap().unwrap().status,
        "queued",
        "history reopened"
    );
    assert!(bus.dead_letters(10).await.unwrap().is_empty());
    wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(10)).await;
    let again = service
        .requeue_dead(&dead.id, "ana", SubmitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), tickstock_protocol::ErrorKind::NotFound);
    stop.cancel();
    run.await.unwrap().unwrap();

    // Delete and purge (entries written as a worker writes them).
    let entry = tickstock_queue::bus::StreamEntry {
        id: "1-0".into(),
        fields: [("job".to_string(), "not json".to_string())].into(),
        deliveries: 6,
    };
    for _ in 0..3 {
        bus.dead_letter(&entry, "unreadable", "w1").await.unwrap();
    }
    let list = bus.dead_letters(10).await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(!list[0].requeueable);
    let refused = bus
        .requeue_dead_letter(&list[0].id, "ana")
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("not a job"),
        "{}",
        refused.message()
    );
    assert!(bus.delete_dead_letter(&list[0].id).await.unwrap());
    assert!(!bus.delete_dead_letter(&list[0].id).await.unwrap());
    assert_eq!(bus.purge_dead_letters().await.unwrap(), 2);
    assert_eq!(bus.queue_depth().await.unwrap().dead, 0);
}

#[tokio::test]
async fn an_identical_active_job_is_refused_unless_allowed() {
    let bus = bus().await;
    let service = JobService::new(Arc::new(bus.clone()), None);
    let first = service.submit(job(&["AAPL"])).await.unwrap().job;
    // Another operator, another moment, same work.
    let mut same = job(&["AAPL"]);
    same.requested_by = Some("bob".into());
    let e = service.submit(same.clone()).await.unwrap_err();
    assert!(e.message().contains(&first.id), "{}", e.message());
    assert_eq!(e.kind(), tickstock_protocol::ErrorKind::InvalidInput);
    // Different parameters are not a duplicate; allow_duplicate queues it anyway.
    service.submit(job(&["MSFT"])).await.unwrap();
    let forced = service
        .submit_with(
            same,
            SubmitOptions {
                allow_duplicate: true,
            },
        )
        .await
        .unwrap();
    assert_ne!(forced.job.id, first.id);
    // Once the first has ended, an identical job is welcome again.
    service.cancel(&first.id, "ana").await.unwrap();
    service.cancel(&forced.job.id, "ana").await.unwrap();
    service.submit(job(&["AAPL"])).await.unwrap();
}

/// A retry goes through the job service: refused while the job it repeats (identical
/// work) is active; once that ended, the retry's submit writes its one history row; a
/// second retry is refused while the first waits.
#[tokio::test]
async fn a_retry_is_recorded_at_submit_and_refused_while_an_identical_job_is_active() {
    use crate::support::{history_ids, sorted};
    let bus = bus().await;
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let service = crate::support::service(&bus, &store);
    let known = |_: &str| true;
    let original = service.submit(job(&["AAPL"])).await.unwrap().job;
    let e = service
        .retry(&original.id, "ana", &known)
        .await
        .unwrap_err();
    assert!(e.message().contains(&original.id), "{}", e.message());
    assert_eq!(history_ids(&store).await, vec![original.id.clone()]);

    service.cancel(&original.id, "ana").await.unwrap();
    let retry = service
        .retry(&original.id, "ana", &known)
        .await
        .unwrap()
        .job;
    assert_ne!(retry.id, original.id);
    assert_eq!(
        history_ids(&store).await,
        sorted(&[&original.id, &retry.id])
    );
    let row = store.job_run(&retry.id).await.unwrap().unwrap();
    assert_eq!(row.status, "submitted");
    assert_eq!(row.params["requested_by"], "ana");
    let e = service
        .retry(&original.id, "bob", &known)
        .await
        .unwrap_err();
    assert!(e.message().contains(&retry.id), "{}", e.message());
    assert_eq!(history_ids(&store).await.len(), 2);
    store.close().await;
    db.drop_db().await;
}

/// A dead letter's requeue goes through the job service: refused while an identical job
/// is active (the dead letter stays), else its job's one history row says `queued`.
#[tokio::test]
async fn a_dead_letter_requeue_is_recorded_once_and_refused_while_an_identical_job_is_active() {
    use crate::support::{history_ids, sorted};
    let bus = bus().await;
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let service = crate::support::service(&bus, &store);
    let dead_job = job(&["AAPL"]);
    let entry = tickstock_queue::bus::StreamEntry {
        id: "1-0".into(),
        fields: [("job".to_string(), dead_job.to_json())].into(),
        deliveries: 6,
    };
    bus.dead_letter(&entry, "delivered 6 times", "w1")
        .await
        .unwrap();
    let dead_id = bus.dead_letters(10).await.unwrap()[0].id.clone();
    let active = service.submit(job(&["AAPL"])).await.unwrap().job;

    let e = service
        .requeue_dead(&dead_id, "ana", SubmitOptions::default())
        .await
        .unwrap_err();
    assert!(e.message().contains(&active.id), "{}", e.message());
    assert_eq!(bus.dead_letters(10).await.unwrap().len(), 1, "still dead");
    assert_eq!(history_ids(&store).await, vec![active.id.clone()]);

    service.cancel(&active.id, "ana").await.unwrap();
    let requeued = service
        .requeue_dead(&dead_id, "ana", SubmitOptions::default())
        .await
        .unwrap();
    assert_eq!(requeued.id, dead_job.id, "the same job, resumed");
    assert!(bus.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(
        history_ids(&store).await,
        sorted(&[&active.id, &dead_job.id])
    );
    assert_eq!(
        store.job_run(&dead_job.id).await.unwrap().unwrap().status,
        "queued"
    );
    // Allowed explicitly, a duplicate is requeued all the same.
    let again = job(&["AAPL"]);
    let entry = tickstock_queue::bus::StreamEntry {
        id: "2-0".into(),
        fields: [("job".to_string(), again.to_json())].into(),
        deliveries: 6,
    };
    bus.dead_letter(&entry, "delivered 6 times", "w1")
        .await
        .unwrap();
    let dead_id = bus.dead_letters(10).await.unwrap()[0].id.clone();
    assert!(service
        .requeue_dead(&dead_id, "ana", SubmitOptions::default())
        .await
        .is_err());
    service
        .requeue_dead(
            &dead_id,
            "ana",
            SubmitOptions {
                allow_duplicate: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(history_ids(&store).await.len(), 3);
    store.close().await;
    db.drop_db().await;
}

#[test]
fn same_work_ignores_who_when_and_the_id() {
    let a = job(&["AAPL"]);
    let mut b = job(&["AAPL"]);
    b.requested_by = Some("someone".into());
    b.timestamp = Some("2020-01-01T00:00:00".into());
    assert!(tickstock_jobs::service::same_work(&a, &b));
    assert!(!tickstock_jobs::service::same_work(
        &a,
        &job(&["AAPL", "MSFT"])
    ));
    let seed = |syms: &[&str]| {
        Job::new(
            JobSpec::UniverseSeed {
                universe_type: "DOW30".into(),
                refresh: false,
                range: Default::default(),
            },
            "x",
        )
        .with_resolved_symbols(syms.iter().map(|s| s.to_string()).collect())
    };
    assert!(tickstock_jobs::service::same_work(
        &seed(&["IBM"]),
        &seed(&["IBM", "MMM"])
    ));
}

// ---- the command line ----

mod cli {
    use std::io::{Read, Write};
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use tickstock_data::store::Store;
    use tickstock_queue::bus::WorkerBeat;
    use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
    use tickstock_testkit::pg::fresh_database;
    use tickstock_testkit::redis_server::{shared_redis_url, unique_namespace};

    use crate::support::{bin, bus_at};

    fn run_env(ns: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(bin("tickstock"));
        c.args(args)
            .env("REDIS_URL", shared_redis_url())
            .env("TICKSTOCK_NAMESPACE", ns)
            .env_remove("RUST_LOG")
            .env_remove("DATABASE_URL")
            .env_remove("TICKSTOCK_USER");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run tickstock")
    }

    fn run(ns: &str, args: &[&str]) -> Output {
        run_env(ns, args, &[])
    }

    fn out(o: &Output) -> String {
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn err(o: &Output) -> String {
        String::from_utf8_lossy(&o.stderr).trim().to_string()
    }

    fn json(o: &Output) -> Value {
        assert!(o.status.success(), "{}", err(o));
        serde_json::from_str(&out(o)).unwrap_or_else(|e| panic!("{e}: {}", out(o)))
    }

    const AAPL: &[&str] = &[
        "submit",
        "historical-load",
        "--symbols",
        "AAPL",
        "--years",
        "1",
    ];

    #[test]
    fn queue_shows_waiting_jobs_with_ages_and_pauses_and_resumes() {
        let ns = unique_namespace();
        let id = out(&run(&ns, AAPL));
        let q = json(&run(&ns, &["queue", "--json"]));
        assert_eq!(q["waiting"][0]["job_id"], id.as_str());
        assert!(q["waiting"][0]["age_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(q["waiting_total"], 1);
        assert_eq!(q["in_flight_total"], 0);
        assert_eq!(q["dead"], 0);
        assert!(q["paused"].is_null());
        let text = out(&run(&ns, &["queue"]));
        assert!(text.contains(&id) && text.contains("1 waiting"), "{text}");

        let o = run_env(&ns, &["queue", "pause"], &[("TICKSTOCK_USER", "ana")]);
        assert!(o.status.success(), "{}", err(&o));
        let q = json(&run(&ns, &["queue", "--json"]));
        assert_eq!(q["paused"]["requested_by"], "ana");
        assert!(out(&run(&ns, &["queue"])).starts_with("PAUSED by ana"));
        assert!(run(&ns, &["queue", "resume"]).status.success());
        assert!(json(&run(&ns, &["queue", "--json"]))["paused"].is_null());
    }

    #[test]
    fn a_duplicate_submit_is_refused_with_the_active_id_unless_allowed() {
        let ns = unique_namespace();
        let first = out(&run(&ns, AAPL));
        let o = run(&ns, AAPL);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        let e = err(&o);
        assert!(e.contains(&first) && e.contains("--allow-duplicate"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let mut forced = AAPL.to_vec();
        forced.push("--allow-duplicate");
        let o = run(&ns, &forced);
        assert!(o.status.success(), "{}", err(&o));
        assert_ne!(out(&o), first);
    }

    #[test]
    fn an_estimate_prints_requests_and_time_and_submits_nothing() {
        let ns = unique_namespace();
        let o = run(
            &ns,
            &[
                "submit",
                "universe-seed",
                "--universe",
                "DOW30",
                "--from",
                "2024-01-01",
                "--to",
                "2024-12-31",
                "--estimate",
                "--requests-per-minute",
                "5",
            ],
        );
        assert!(o.status.success(), "{}", err(&o));
        let text = out(&o);
        // 30 members, 252 sessions: one request per symbol beats grouped daily.
        assert!(
            text.starts_with("30 Polygon requests for 30 symbols x 1 timeframe over 252 trading days: about 6 min 0 s at 5 requests a minute"),
            "{text}"
        );
        let o = run(
            &ns,
            &[
                "submit",
                "multi-timeframe",
                "--symbols",
                "AAPL",
                "--timeframes",
                "1min,day",
                "--from",
                "2024-01-01",
                "--to",
                "2024-12-31",
                "--estimate",
                "--json",
                "--requests-per-minute",
                "0",
            ],
        );
        let e = json(&o);
        assert_eq!(e["requests"], 6, "5 pages of minutes, 1 of days: {e}");
        assert!(e["seconds"].is_null());
        assert_eq!(json(&run(&ns, &["queue", "--json"]))["waiting_total"], 0);
    }

    #[test]
    fn an_estimate_counts_registration_only_for_symbols_not_yet_registered() {
        let ns = unique_namespace();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/ts.db", dir.path().display());
        let estimate = |env: &[(&str, &str)]| {
            json(&run_env(
                &ns,
                &[
                    "submit",
                    "historical-load",
                    "--symbols",
                    "AAPL,MSFT,NVDA",
                    "--years",
                    "1",
                    "--timespan",
                    "day",
                    "--estimate",
                    "--json",
                    "--requests-per-minute",
                    "5",
                ],
                env,
            ))
        };
        let register = |symbols: &[&str]| {
            let url = url.clone();
            let records: Vec<tickstock_data::store::SymbolRecord> = symbols
                .iter()
                .map(|s| tickstock_data::store::SymbolRecord {
                    symbol: s.to_string(),
                    name: format!("{s} Inc."),
                    market: "stocks".into(),
                    active: true,
                    refreshed_at: Some(chrono::Utc::now()),
                    ..Default::default()
                })
                .collect();
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    let store = tickstock_data::store::Store::connect(&url).await.unwrap();
                    store.upsert_symbols(&records).await.unwrap();
                    store.close().await;
                });
        };
        // No database to ask: each of the three may need its `ticker=` request.
        assert_eq!(estimate(&[])["registration_requests_max"], 3);
        register(&["AAPL", "MSFT"]);
        let e = estimate(&[("DATABASE_URL", url.as_str())]);
        assert_eq!(e["registration_requests_max"], 1, "NVDA only: {e}");
        assert_eq!(e["requests"], 3, "{e}");
        register(&["NVDA"]);
        let o = run_env(
            &ns,
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL,MSFT,NVDA",
                "--years",
                "1",
                "--timespan",
                "day",
                "--estimate",
                "--requests-per-minute",
                "5",
            ],
            &[("DATABASE_URL", url.as_str())],
        );
        assert!(o.status.success(), "{}", err(&o));
        let text = out(&o);
        assert!(
            text.starts_with("3 Polygon requests for 3 symbols")
                && !text.contains("reference-list"),
            "all registered, nothing more to say: {text}"
        );
        assert_eq!(json(&run(&ns, &["queue", "--json"]))["waiting_total"], 0);
    }

    #[tokio::test]
    async fn dead_letters_list_rm_requeue_and_purge() {
        let ns = unique_namespace();
        let bus = bus_at(&shared_redis_url(), &ns).await;
        let job = crate::support::job(&["AAPL"]);
        let good = tickstock_queue::bus::StreamEntry {
            id: "1-0".into(),
            fields: [("job".to_string(), job.to_json())].into(),
            deliveries: 6,
        };
        let bad = tickstock_queue::bus::StreamEntry {
            id: "2-0".into(),
            fields: [("job".to_string(), "{".to_string())].into(),
            deliveries: 1,
        };
        bus.dead_letter(&good, "delivered 6 times", "w1")
            .await
            .unwrap();
        for _ in 0..2 {
            bus.dead_letter(&bad, "unreadable", "w1").await.unwrap();
        }
        let list = json(&run(&ns, &["dead", "list", "--json"]));
        let list = list.as_array().unwrap().clone();
        assert_eq!(list.len(), 3);
        let good_id = list
            .iter()
            .find(|d| d["job_id"] == job.id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(out(&run(&ns, &["dead", "list"])).contains("delivered 6 times"));
        let o = run(&ns, &["dead", "requeue", &good_id]);
        assert_eq!(out(&o), job.id, "{}", err(&o));
        let q = json(&run(&ns, &["queue", "--json"]));
        assert_eq!(q["waiting"][0]["job_id"], job.id.as_str());
        assert_eq!(q["waiting"][0]["state"], "queued");
        let o = run(&ns, &["dead", "rm", &good_id]);
        assert_eq!(o.status.code(), Some(1));
        assert!(err(&o).contains("No dead letter"), "{}", err(&o));
        let rest = json(&run(&ns, &["dead", "list", "--json"]));
        let one = rest[0]["id"].as_str().unwrap().to_string();
        assert!(run(&ns, &["dead", "rm", &one]).status.success());
        assert_eq!(out(&run(&ns, &["dead", "purge"])), "1 dead letter deleted");
        assert_eq!(out(&run(&ns, &["dead", "purge"])), "0 dead letters deleted");
    }

    #[tokio::test]
    async fn workers_are_listed_and_told_to_be_quiet_or_stop() {
        let ns = unique_namespace();
        let bus = bus_at(&shared_redis_url(), &ns).await;
        bus.write_worker_heartbeat(&WorkerBeat {
            id: "w-cli".into(),
            host: "box".into(),
            pid: 42,
            started_at: "2026-01-01T00:00:00Z".into(),
            current_jobs: vec!["j1".into()],
            concurrency: 2,
            stopped: false,
            consume_error: None,
            legacy_ttl: Duration::from_secs(15),
        })
        .await
        .unwrap();
        let ws = json(&run(&ns, &["workers", "--json"]));
        let w = &ws[0];
        assert_eq!(
            (
                &w["id"],
                &w["host"],
                &w["pid"],
                &w["concurrency"],
                &w["state"]
            ),
            (
                &Value::from("w-cli"),
                &Value::from("box"),
                &Value::from(42),
                &Value::from(2),
                &Value::from("running")
            )
        );
        assert_eq!(w["current_jobs"][0], "j1");
        assert_eq!(w["version"], env!("CARGO_PKG_VERSION"));
        assert!(run(&ns, &["workers", "quiet", "w-cli"]).status.success());
        assert_eq!(json(&run(&ns, &["workers", "--json"]))[0]["state"], "quiet");
        assert!(run(&ns, &["workers", "stop", "w-cli"]).status.success());
        assert_eq!(
            json(&run(&ns, &["workers", "--json"]))[0]["state"],
            "stopping"
        );
        assert_eq!(
            bus.worker_gate("w-cli").await.unwrap(),
            tickstock_queue::bus::Gate::Stop
        );
        assert!(run(&ns, &["workers", "resume", "w-cli"]).status.success());
        assert_eq!(
            json(&run(&ns, &["workers", "--json"]))[0]["state"],
            "running"
        );
        let o = run(&ns, &["workers", "stop", "ghost"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(err(&o).contains("No worker \"ghost\""), "{}", err(&o));
    }

    /// A worker that missed three beats is silent, not running; after a minute, dead.
    #[tokio::test]
    async fn a_worker_that_stops_beating_is_silent_then_dead() {
        use redis::AsyncCommands;
        let ns = unique_namespace();
        let bus = bus_at(&shared_redis_url(), &ns).await;
        bus.write_worker_heartbeat(&WorkerBeat {
            id: "w-gone".into(),
            host: "box".into(),
            pid: 43,
            started_at: "2026-01-01T00:00:00Z".into(),
            current_jobs: vec!["j1".into()],
            concurrency: 1,
            stopped: false,
            consume_error: None,
            legacy_ttl: Duration::from_secs(15),
        })
        .await
        .unwrap();
        let state = || json(&run(&ns, &["workers", "--json"]))[0]["state"].clone();
        assert_eq!(state(), "running");
        let mut c = bus.conn();
        for (age, want) in [(20.0, "silent"), (90.0, "dead")] {
            let last = tickstock_protocol::status::unix_now() - age;
            let _: () = c
                .hset(
                    bus.keys().worker("w-gone"),
                    "last_seen",
                    format!("{last:.3}"),
                )
                .await
                .unwrap();
            assert_eq!(state(), want, "{age} s after its last beat");
        }
    }

    #[tokio::test]
    async fn history_searches_pages_and_records_the_operator() {
        let ns = unique_namespace();
        let db = fresh_database().await;
        let store = Store::connect(&db.url).await.unwrap();
        for r in super::runs() {
            store.upsert_job_run(&r).await.unwrap();
        }
        let env = [("DATABASE_URL", db.url.as_str())];
        let page = json(&run_env(
            &ns,
            &["history", "--search", "DOW30", "--page-size", "5", "--json"],
            &env,
        ));
        assert_eq!(page["total"], 12);
        assert_eq!(page["items"].as_array().unwrap().len(), 5);
        assert_eq!(page["items"][0]["id"], "0110-job");
        let page2 = json(&run_env(
            &ns,
            &[
                "history",
                "--search",
                "DOW30",
                "--page-size",
                "5",
                "--page",
                "3",
                "--json",
            ],
            &env,
        ));
        assert_eq!(page2["offset"], 10);
        assert_eq!(page2["items"].as_array().unwrap().len(), 2);
        let failed = json(&run_env(
            &ns,
            &[
                "history",
                "--status",
                "failed",
                "--since",
                "2026-01-01",
                "--json",
            ],
            &env,
        ));
        assert_eq!(failed["total"], 18);
        let text = out(&run_env(
            &ns,
            &[
                "history",
                "--search",
                "DOW30",
                "--page-size",
                "5",
                "--page",
                "9999",
            ],
            &env,
        ));
        assert!(
            text.starts_with(
                "Page 9999 is past the end: showing the last page, 3.\n12 jobs (page 3 of 3)"
            ),
            "{text}"
        );
        let text = out(&run_env(&ns, &["history", "--search", "0042"], &env));
        assert!(text.starts_with("1 job (page 1 of 1)"), "{text}");
        assert!(text.contains("0042-job") && text.contains("S42"), "{text}");
        let o = run_env(&ns, &["history", "--since", "yesterday"], &env);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            err(&o).contains("--since \"yesterday\" is not a date"),
            "{}",
            err(&o)
        );
        let o = run(&ns, &["history"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(err(&o).contains("DATABASE_URL"), "{}", err(&o));

        // The operator is the OS user unless told otherwise.
        let id = out(&run_env(
            &ns,
            AAPL,
            &[("DATABASE_URL", db.url.as_str()), ("USER", "ana")],
        ));
        let run1 = store.job_run(&id).await.unwrap().unwrap();
        assert_eq!(run1.params["requested_by"], "ana");
        let id = out(&run_env(
            &ns,
            &[
                "submit",
                "historical-load",
                "--symbols",
                "MSFT",
                "--years",
                "1",
            ],
            &[
                ("DATABASE_URL", db.url.as_str()),
                ("USER", "ana"),
                ("TICKSTOCK_USER", "ops-bot"),
            ],
        ));
        let run2 = store.job_run(&id).await.unwrap().unwrap();
        assert_eq!(run2.params["requested_by"], "ops-bot");
        let mine = json(&run_env(
            &ns,
            &[
                "history",
                "--by",
                "ana",
                "--kind",
                "historical_load",
                "--json",
            ],
            &env,
        ));
        assert!(!mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str()));
        assert!(mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == run1.id.as_str()));
    }

    fn scrape(addr: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    }

    fn metric(text: &str, name: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_worker_serves_prometheus_metrics_of_jobs_bars_requests_and_queue() {
        let ns = unique_namespace();
        let fake = FakePolygon::start(FakePolygonConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut worker = Command::new(bin("tickstock"))
            .args([
                "worker",
                "--worker-id",
                "metrics-test",
                "--metrics-addr",
                &addr,
            ])
            .env("REDIS_URL", shared_redis_url())
            .env("TICKSTOCK_NAMESPACE", &ns)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("m.sqlite").display()),
            )
            .env("POLYGON_API_KEY", fake.api_key())
            .env("POLYGON_BASE_URL", fake.base_url())
            .env("POLYGON_RPM", "0")
            .env("TICKSTOCK_SYMBOL_REFRESH_DAYS", "0")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "no metrics endpoint");
            std::thread::sleep(Duration::from_millis(100));
        }
        let before = scrape(&addr);
        assert!(before.starts_with("HTTP/1.1 200 OK"), "{before}");
        assert!(before.contains("application/openmetrics-text"));
        assert_eq!(metric(&before, "tickstock_queue_waiting"), 0.0, "{before}");
        assert_eq!(
            metric(&before, "tickstock_polygon_requests_total"),
            0.0,
            "{before}"
        );
        assert_eq!(
            metric(&before, "tickstock_bars_loaded_total"),
            0.0,
            "{before}"
        );

        let id = out(&run(
            &ns,
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL,MSFT",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-31",
            ],
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        let after = loop {
            let m = scrape(&addr);
            if metric(&m, "tickstock_jobs_total{state=\"completed\"}") == 1.0 {
                break m;
            }
            assert!(Instant::now() < deadline, "job {id} never counted: {m}");
            std::thread::sleep(Duration::from_millis(200));
        };
        // 21 sessions in January 2024, two symbols; one request each.
        assert_eq!(
            metric(&after, "tickstock_bars_loaded_total"),
            42.0,
            "{after}"
        );
        assert_eq!(
            metric(&after, "tickstock_polygon_requests_total"),
            2.0,
            "{after}"
        );
        assert!(scrape(&addr).contains("tickstock_queue_waiting 0"));
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 404"), "{body}");
        let _ = Command::new("kill")
            .args(["-TERM", &worker.id().to_string()])
            .status();
        let _ = worker.wait();
    }

    /// Under systemd's default soft limit of file descriptors (here `ulimit -n 256`),
    /// 300 idle connections held to the metrics endpoint used to take every descriptor:
    /// jobs failed "Polygon unreachable (could not connect)" and the accept loop logged
    /// "Too many open files" millions of times. The endpoint now holds at most a few
    /// connections for a few seconds each and backs off: the job completes, the log
    /// stays small, and the endpoint answers again once the idle connections are gone.
    #[tokio::test(flavor = "multi_thread")]
    async fn idle_connections_to_the_metrics_endpoint_never_starve_the_loader() {
        let ns = unique_namespace();
        let fake = FakePolygon::start(FakePolygonConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.path().join("worker.log");
        let mut worker = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
            .arg(bin("tickstock"))
            .args(["worker", "--worker-id", "fd-test", "--metrics-addr", &addr])
            .env("REDIS_URL", shared_redis_url())
            .env("TICKSTOCK_NAMESPACE", &ns)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("m.sqlite").display()),
            )
            .env("POLYGON_API_KEY", fake.api_key())
            .env("POLYGON_BASE_URL", fake.base_url())
            .env("POLYGON_RPM", "0")
            .env("TICKSTOCK_SYMBOL_REFRESH_DAYS", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "no metrics endpoint");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Connected, never a byte sent.
        let idle: Vec<std::net::TcpStream> = (0..300)
            .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
            .collect();
        assert!(idle.len() >= 250, "only {} connections opened", idle.len());
        let id = out(&run(
            &ns,
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL,MSFT,NVDA",
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-31",
            ],
        ));
        let status = loop {
            let v: Value = serde_json::from_str(&out(&run(&ns, &["status", &id, "--json"])))
                .unwrap_or(Value::Null);
            let state = v["status"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if ["completed", "completed_with_errors", "failed"].contains(&state.as_str()) {
                break v;
            }
            assert!(
                Instant::now() < deadline + Duration::from_secs(40),
                "job {id}: {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(status["status"]["status"], "completed", "{status}");
        drop(idle);
        // The endpoint answers again.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let m = scrape(&addr);
            if m.starts_with("HTTP/1.1 200 OK") {
                break;
            }
            assert!(Instant::now() < deadline, "{m}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &worker.id().to_string()])
            .status();
        let _ = worker.wait();
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(size < 64 * 1024, "the worker logged {size} bytes");
    }
}
