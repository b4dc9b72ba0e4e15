//! The worker runtime against real Redis: durability, exactly-once across workers,
//! take-over after SIGKILL, cancel, heartbeats, Redis restarts, bad input, dead letters,
//! and the status where TickStock's page reads it (`tickstock.jobs.status:{id}`): written
//! by our worker, taken over from TickStockAppV2's submit hash, and a cancel or stale-job
//! mark written there by TickStock stopping the job.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use secrecy::SecretString;
use serde_json::Value;
use tickstock_data::history::StoreHistory;
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::polygon::{PolygonClient, PolygonConfig};
use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::{JobState, Stamp};
use tickstock_protocol::Timeframe;
use tickstock_queue::worker::{Outcome, Worker, WorkerConfig};
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::redis_server::RedisServer;
use tickstock_testkit::sim::{executions_key, units_key};
use tokio_util::sync::CancellationToken;

use crate::support::{
    self, bin, fast_worker_config, is_naive_iso, job, sim_worker, symbols, tickstock_view,
    wait_for, wait_state, wait_status,
};

#[tokio::test]
async fn a_job_submitted_while_no_worker_runs_is_executed_when_one_starts() {
    let bus = support::bus().await;
    let j = job(&["AAPL", "MSFT"]);
    bus.submit(&j).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bus.status(&j.id).await.unwrap().unwrap().state,
        JobState::Submitted
    );
    // The worker starts later and takes it from the stream.
    let (w, _stop) = sim_worker(&bus, Duration::from_millis(5), fast_worker_config());
    let out = w.try_execute_next().await.unwrap();
    assert_eq!(
        out,
        Outcome::Executed {
            job_id: j.id.clone(),
            state: JobState::Completed
        }
    );
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(st.progress, 100);
    assert_eq!(st.successful_symbols, ["AAPL", "MSFT"]);
    assert_eq!(st.ohlcv_records_loaded, Some(20));
    assert!(st.completed_at.is_some() && st.duration_seconds.is_some());
    assert_eq!(w.try_execute_next().await.unwrap(), Outcome::Idle);
    let depth = bus.queue_depth().await.unwrap();
    assert_eq!((depth.waiting, depth.in_flight), (0, 0));
}

#[tokio::test]
async fn three_workers_run_each_of_100_jobs_exactly_once() {
    let bus = support::bus().await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let j = job(&[&format!("S{i}")]);
        bus.submit(&j).await.unwrap();
        ids.push(j.id);
    }
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (w, stop) = sim_worker(&bus, Duration::from_millis(2), fast_worker_config());
        stops.push(stop);
        handles.push(tokio::spawn(async move { w.run().await }));
    }
    wait_for(Duration::from_secs(60), "100 jobs to finish", || async {
        let st = bus.statuses(&ids).await.ok()?;
        st.iter()
            .all(|s| s.as_ref().is_some_and(|s| s.state == JobState::Completed))
            .then_some(())
    })
    .await;
    for s in &stops {
        s.cancel();
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let mut c = bus.conn();
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(runs.len(), 100, "every job ran once, no more");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in &runs {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    assert!(ids.iter().all(|id| counts.get(id.as_str()) == Some(&1)));
    // The work was shared.
    let workers = bus.workers(Duration::from_secs(60)).await.unwrap();
    assert_eq!(workers.len(), 3);
}

#[tokio::test]
async fn a_long_job_keeps_its_claim_and_is_not_taken_over() {
    let bus = support::bus().await;
    let cfg = WorkerConfig {
        claim_idle: Duration::from_millis(600),
        ..fast_worker_config()
    };
    let j = job(&symbols(8).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w1, s1) = sim_worker(&bus, Duration::from_millis(300), cfg.clone());
    let h1 = tokio::spawn(async move { w1.run().await });
    wait_state(&bus, &j.id, JobState::Running, Duration::from_secs(5)).await;
    // A second worker, eager to take over anything idle for 600 ms, for the whole 2.4 s job.
    let (w2, s2) = sim_worker(&bus, Duration::from_millis(300), cfg);
    let h2 = tokio::spawn(async move { w2.run().await });
    wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(20)).await;
    s1.cancel();
    s2.cancel();
    h1.await.unwrap().unwrap();
    h2.await.unwrap().unwrap();
    let mut c = bus.conn();
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(runs, vec![j.id.clone()]);
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_is_finished_by_another_from_its_checkpoint() {
    let bus = support::bus().await;
    let ns = bus.keys().namespace().to_string();
    let syms = symbols(10);
    let j = job(&syms.iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let mut child = Command::new(bin("sim-worker"))
        .args([
            "--redis-url",
            &tickstock_testkit::redis_server::shared_redis_url(),
        ])
        .args([
            "--namespace",
            &ns,
            "--ms-per-symbol",
            "300",
            "--claim-idle-ms",
            "1500",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_status(&bus, &j.id, Duration::from_secs(15), |s| {
        s.state == JobState::Running && s.processed_symbols.unwrap_or(0) >= 3
    })
    .await;
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Instant::now();
    let cfg = WorkerConfig {
        claim_idle: Duration::from_millis(1500),
        ..fast_worker_config()
    };
    let (w, stop) = sim_worker(&bus, Duration::from_millis(50), cfg);
    let h = tokio::spawn(async move { w.run().await });
    let st = wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(30)).await;
    assert!(
        killed_at.elapsed() >= Duration::from_millis(1000),
        "taken over only once idle"
    );
    stop.cancel();
    h.await.unwrap().unwrap();
    assert_eq!(st.successful_symbols.len(), 10);
    assert_eq!(st.progress, 100);
    let mut c = bus.conn();
    let runs: Vec<String> = c.lrange(executions_key(&ns), 0, -1).await.unwrap();
    assert_eq!(runs.len(), 2, "started once, resumed once");
    let units: Vec<String> = c.lrange(units_key(&ns), 0, -1).await.unwrap();
    let unique: std::collections::HashSet<&String> = units.iter().collect();
    assert_eq!(units.len(), 10, "no symbol was done twice: {units:?}");
    assert_eq!(unique.len(), 10);
}

#[tokio::test]
async fn cancelling_a_running_job_stops_it_within_two_seconds() {
    let bus = support::bus().await;
    let syms = symbols(50);
    let j = job(&syms.iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w, stop) = sim_worker(&bus, Duration::from_millis(200), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    wait_status(&bus, &j.id, Duration::from_secs(5), |s| {
        s.state == JobState::Running && s.progress > 0
    })
    .await;
    let asked = Instant::now();
    let out = bus.cancel(&j.id, "ops").await.unwrap();
    assert!(out.changed);
    // A live worker holds it: `cancelling` until the worker stops it (or already stopped).
    assert!(
        matches!(out.state, JobState::Cancelling | JobState::Cancelled),
        "{out:?}"
    );
    let st = wait_state(&bus, &j.id, JobState::Cancelled, Duration::from_secs(2)).await;
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert!(st.successful_symbols.len() < 50);
    stop.cancel();
    h.await.unwrap().unwrap();
    assert_eq!(
        bus.queue_depth().await.unwrap().in_flight,
        0,
        "acknowledged"
    );
}

#[tokio::test]
async fn a_legacy_cancel_message_stops_the_job_it_names() {
    let bus = support::bus().await;
    let j = job(&symbols(50).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w, stop) = sim_worker(&bus, Duration::from_millis(200), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    wait_status(&bus, &j.id, Duration::from_secs(5), |s| {
        s.state == JobState::Running
    })
    .await;
    support::wait_subscribed(&bus).await;
    // Exactly what an old admin page publishes (vectors/control.jsonl).
    let msg = serde_json::json!({"job_id": j.id, "action": "cancel", "requested_by": "admin", "timestamp": "2025-12-27T18:05:00.000001"});
    let mut c = bus.conn();
    let _: i64 = c
        .publish(bus.keys().channel_control(), msg.to_string())
        .await
        .unwrap();
    wait_state(&bus, &j.id, JobState::Cancelled, Duration::from_secs(2)).await;
    stop.cancel();
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn heartbeats_show_alive_while_running_and_dead_with_age_after() {
    let bus = support::bus().await;
    let (w, stop) = sim_worker(&bus, Duration::from_millis(5), fast_worker_config());
    let id = w.id().to_string();
    let h = tokio::spawn(async move { w.run().await });
    let health = wait_for(Duration::from_secs(5), "worker heartbeat", || async {
        let h = bus.health(Duration::from_secs(60)).await;
        h.workers.iter().any(|w| w.alive).then_some(h)
    })
    .await;
    let me = health.workers.iter().find(|w| w.id == id).unwrap();
    assert!(me.age_seconds < 2.0);
    assert!(health.legacy_heartbeat.as_ref().unwrap().alive);
    assert!(health.any_worker_alive());
    stop.cancel();
    h.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let health = bus.health(Duration::from_secs(60)).await;
    let me = health.workers.iter().find(|w| w.id == id).unwrap();
    assert!(!me.alive && me.stopped);
    assert!(
        me.age_seconds >= 1.0,
        "age keeps growing: {}",
        me.age_seconds
    );
}

#[tokio::test]
async fn a_crashed_worker_is_reported_dead_once_its_heartbeat_is_stale() {
    let bus = support::bus().await;
    let ns = bus.keys().namespace().to_string();
    let mut child = Command::new(bin("sim-worker"))
        .args([
            "--redis-url",
            &tickstock_testkit::redis_server::shared_redis_url(),
            "--namespace",
            &ns,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), "worker alive", || async {
        let ws = bus.workers(Duration::from_secs(2)).await.ok()?;
        ws.iter().any(|w| w.alive).then_some(())
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let ws = wait_for(Duration::from_secs(10), "worker dead", || async {
        let ws = bus.workers(Duration::from_secs(2)).await.ok()?;
        ws.iter().all(|w| !w.alive).then_some(ws)
    })
    .await;
    assert!(!ws[0].stopped, "crashed, not stopped");
    assert!(ws[0].age_seconds >= 2.0);
}

#[tokio::test]
async fn worker_and_cli_watcher_ride_out_a_redis_restart() {
    let mut server = RedisServer::start();
    let url = server.url();
    let ns = "restart";
    let bus = support::bus_at(&url, ns).await;
    let j = job(&symbols(15).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w, stop) = sim_worker(&bus, Duration::from_millis(200), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    let watcher = Command::new(bin("tickstock"))
        .args([
            "status",
            &j.id,
            "--watch",
            "--redis-url",
            &url,
            "--namespace",
            ns,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_status(&bus, &j.id, Duration::from_secs(10), |s| s.progress >= 10).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    let st = wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(40)).await;
    assert_eq!(st.successful_symbols.len(), 15);
    // A job submitted after the restart runs too.
    let j2 = job(&["AFTER"]);
    wait_for(Duration::from_secs(10), "submit after restart", || async {
        bus.submit(&j2).await.ok()
    })
    .await;
    wait_state(&bus, &j2.id, JobState::Completed, Duration::from_secs(20)).await;
    let out = tokio::task::spawn_blocking(move || watcher.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "watcher exit {:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().last().unwrap().starts_with("completed 100%"),
        "{stdout}"
    );
    stop.cancel();
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_messages_on_the_channel_and_the_stream_are_failed_and_the_worker_goes_on() {
    let bus = support::bus().await;
    let (w, stop) = sim_worker(&bus, Duration::from_millis(5), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    support::wait_subscribed(&bus).await;
    let mut c = bus.conn();
    let chan = bus.keys().channel_data_load();
    let raw = [
        ("{not json".to_string(), None),
        (r#"{"job_id":"bad-type-1","job_type":"historical_load","symbols":["AAPL"],"years":"one"}"#.to_string(), Some(("bad-type-1", "`years` must be a number"))),
        (r#"{"job_id":"bad-kind-1","job_type":"mystery_load","symbols":["AAPL"]}"#.to_string(), Some(("bad-kind-1", "unknown job_type"))),
        (r#"{"job_id":"bad-sym-1","job_type":"historical_load","symbols":["AAPL","aapl"],"years":1,"timespan":"day"}"#.to_string(), Some(("bad-sym-1", "listed twice"))),
    ];
    for (payload, _) in &raw {
        let _: i64 = c.publish(&chan, payload).await.unwrap();
    }
    // The same kinds of trouble straight on the stream.
    let stream = bus.keys().stream();
    let _: String = c.xadd(&stream, "*", &[("job", "[1,2")]).await.unwrap();
    let _: String = c
        .xadd(&stream, "*", &[("job", r#"{"job_id":"bad-type-2","job_type":"multi_timeframe_load","symbols":["AAPL"],"timeframes":"day","years":1}"#)])
        .await
        .unwrap();
    let _: String = c
        .xadd(&stream, "*", &[("job", r#"{"job_id":"bad-tf-2","job_type":"historical_load","symbols":["AAPL"],"timespan":"5min","years":1}"#)])
        .await
        .unwrap();
    for (_, expect) in &raw {
        if let Some((id, text)) = expect {
            let st = wait_state(&bus, id, JobState::Failed, Duration::from_secs(5)).await;
            assert!(
                st.error_message.as_deref().unwrap_or("").contains(text),
                "{id}: {st:?}"
            );
        }
    }
    let st = wait_state(&bus, "bad-type-2", JobState::Failed, Duration::from_secs(5)).await;
    assert!(st
        .error_message
        .unwrap()
        .contains("`timeframes` must be a list of strings"));
    let st = wait_state(&bus, "bad-tf-2", JobState::Failed, Duration::from_secs(5)).await;
    assert!(st
        .error_message
        .unwrap()
        .contains("unknown timeframe \"5min\""));
    // Still working.
    let good = job(&["AAPL"]);
    bus.submit(&good).await.unwrap();
    wait_state(&bus, &good.id, JobState::Completed, Duration::from_secs(5)).await;
    let depth = bus.queue_depth().await.unwrap();
    assert_eq!(
        depth.dead, 4,
        "unreadable stream entries are kept as dead letters"
    );
    assert_eq!(depth.in_flight, 0);
    stop.cancel();
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_job_delivered_too_many_times_goes_to_the_dead_letters_as_failed() {
    let bus = support::bus().await;
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    let keys = bus.keys().clone();
    let mut c = bus.conn();
    // A "worker" that claims it and dies, five times over.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(keys.group())
        .arg("ghost")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(keys.stream())
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    let entry: Vec<(String, String)> = redis::cmd("XRANGE")
        .arg(keys.stream())
        .arg("-")
        .arg("+")
        .query_async::<redis::Value>(&mut c)
        .await
        .map(|v| {
            let r: redis::streams::StreamRangeReply = redis::from_redis_value(&v).unwrap();
            r.ids.into_iter().map(|i| (i.id, String::new())).collect()
        })
        .unwrap();
    for _ in 0..5 {
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg(keys.stream())
            .arg(keys.group())
            .arg("ghost")
            .arg(0)
            .arg(&entry[0].0)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let cfg = WorkerConfig {
        claim_idle: Duration::from_millis(1),
        ..fast_worker_config()
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (w, _stop) = sim_worker(&bus, Duration::from_millis(5), cfg);
    let out = w.try_execute_next().await.unwrap();
    assert!(
        matches!(out, Outcome::DeadLettered { deliveries: 7, .. }),
        "{out:?}"
    );
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Failed);
    assert!(st.error_message.unwrap().contains("delivered 7 times"));
    let depth = bus.queue_depth().await.unwrap();
    assert_eq!((depth.in_flight, depth.dead), (0, 1));
}

/// The fields of the stream's entries, oldest first.
async fn stream_fields(bus: &tickstock_queue::bus::Bus) -> Vec<(String, Vec<(String, String)>)> {
    let mut c = bus.conn();
    let r: redis::streams::StreamRangeReply = c.xrange_all(bus.keys().stream()).await.unwrap();
    r.ids
        .into_iter()
        .map(|sid| {
            let f = sid
                .map
                .iter()
                .map(|(k, v)| (k.clone(), redis::from_redis_value::<String>(v).unwrap()))
                .collect();
            (sid.id, f)
        })
        .collect()
}

/// Adds `n` copies of an entry with these fields in one `MULTI`.
async fn add_copies(bus: &tickstock_queue::bus::Bus, fields: &[(String, String)], n: usize) {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for _ in 0..n {
        pipe.xadd(bus.keys().stream(), "*", fields).ignore();
    }
    let mut c = bus.conn();
    pipe.query_async::<()>(&mut c).await.unwrap();
}

/// Four identical entries of one job (added in one `MULTI`) and four idle workers: the
/// job runs once, on one worker; the copies are refused for the job id in use, and such
/// a refusal cannot be requeued to run the job beside itself.
#[tokio::test]
async fn four_copies_of_an_entry_with_four_idle_workers_run_the_job_once() {
    let bus = support::bus().await;
    bus.ensure_group().await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (w, stop) = sim_worker(&bus, Duration::from_millis(100), fast_worker_config());
        let h = tokio::spawn({
            let w = w.clone();
            async move { w.run().await }
        });
        workers.push((w, stop, h));
    }
    // All four are waiting on the stream when the copies arrive at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let j = job(&symbols(6).iter().map(String::as_str).collect::<Vec<_>>());
    let fields = vec![
        ("job".to_string(), j.to_json()),
        ("job_id".to_string(), j.id.clone()),
    ];
    add_copies(&bus, &fields, 4).await;
    let st = wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(20)).await;
    // Let any copy still in a worker's hands be decided.
    wait_for(
        Duration::from_secs(10),
        "every copy to be decided",
        || async {
            let d = bus.queue_depth().await.ok()?;
            (d.waiting == 0 && d.in_flight == 0).then_some(())
        },
    )
    .await;
    for (_, stop, h) in workers {
        stop.cancel();
        h.await.unwrap().unwrap();
    }
    let mut c = bus.conn();
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(runs, vec![j.id.clone()], "the job started once");
    let units: Vec<String> = c
        .lrange(units_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(units.len(), 6, "each symbol loaded once: {units:?}");
    assert_eq!(st.successful_symbols.len(), 6);
    let dead = bus.dead_letters(10).await.unwrap();
    assert!(!dead.is_empty(), "the copies were refused");
    for d in &dead {
        assert!(d.reason.starts_with("job id "), "{d:?}");
        assert!(!d.requeueable, "{d:?}");
        let err = bus.requeue_dead_letter(&d.id, "ops").await.unwrap_err();
        assert!(
            err.message().contains("cannot be requeued"),
            "{}",
            err.message()
        );
    }
    let after = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(after.state, JobState::Completed);
    assert_eq!(after.successful_symbols.len(), 6);
}

/// A copy added while the job runs is refused by the second worker that reads it (the
/// job's lease is held), and requeueing that refusal is refused too: the job runs on its
/// first worker only and ends with its own counts.
#[tokio::test]
async fn a_copy_added_while_the_job_runs_is_refused_and_cannot_be_requeued() {
    let bus = support::bus().await;
    let j = job(&symbols(10).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w1, s1) = sim_worker(&bus, Duration::from_millis(150), fast_worker_config());
    let h1 = tokio::spawn(async move { w1.run().await });
    wait_state(&bus, &j.id, JobState::Running, Duration::from_secs(5)).await;
    let fields = stream_fields(&bus).await.remove(0).1;
    add_copies(&bus, &fields, 1).await;
    let (w2, s2) = sim_worker(&bus, Duration::from_millis(150), fast_worker_config());
    let out = w2.try_execute_next().await.unwrap();
    assert!(
        matches!(&out, Outcome::Rejected { reason, .. } if reason.starts_with("job id ")),
        "{out:?}"
    );
    let dead = bus.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let err = bus
        .requeue_dead_letter(&dead[0].id, "ops")
        .await
        .unwrap_err();
    assert!(
        err.message().contains("cannot be requeued"),
        "{}",
        err.message()
    );
    let st = wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(20)).await;
    s1.cancel();
    s2.cancel();
    h1.await.unwrap().unwrap();
    assert_eq!(st.successful_symbols.len(), 10);
    let mut c = bus.conn();
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(runs, vec![j.id.clone()]);
}

/// After job K completed, a forged entry with K's id and another message is refused,
/// and requeueing it is refused: K's status keeps its own symbols and requester.
#[tokio::test]
async fn a_requeue_never_rewrites_a_completed_job() {
    let bus = support::bus().await;
    let k = job(&["AAPL", "MSFT"]);
    bus.submit(&k).await.unwrap();
    let (w, _stop) = sim_worker(&bus, Duration::from_millis(5), fast_worker_config());
    assert!(matches!(
        w.try_execute_next().await.unwrap(),
        Outcome::Executed {
            state: JobState::Completed,
            ..
        }
    ));
    let mut forged = tickstock_protocol::job::Job::new(
        tickstock_protocol::job::JobSpec::Historical {
            symbols: vec!["TSLA".into()],
            timespan: tickstock_protocol::Timeframe::Day,
            range: tickstock_protocol::job::DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "intruder",
    );
    forged.id = k.id.clone();
    let fields = vec![
        ("job".to_string(), forged.to_json()),
        ("job_id".to_string(), k.id.clone()),
    ];
    add_copies(&bus, &fields, 1).await;
    let out = w.try_execute_next().await.unwrap();
    assert!(matches!(out, Outcome::Rejected { .. }), "{out:?}");
    let dead = bus.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let err = bus
        .requeue_dead_letter(&dead[0].id, "ops")
        .await
        .unwrap_err();
    assert!(
        err.message().contains("cannot be requeued"),
        "{}",
        err.message()
    );
    let st = bus.status(&k.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Completed);
    assert_eq!(st.successful_symbols, ["AAPL", "MSFT"]);
    assert_eq!(w.try_execute_next().await.unwrap(), Outcome::Idle);
}

#[tokio::test]
async fn a_job_cancelled_while_waiting_is_skipped_by_the_worker() {
    let bus = support::bus().await;
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    bus.cancel(&j.id, "ops").await.unwrap();
    let (w, _stop) = sim_worker(&bus, Duration::from_millis(5), fast_worker_config());
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Outcome::Skipped {
            job_id: j.id.clone()
        }
    );
    assert_eq!(
        bus.status(&j.id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    let mut c = bus.conn();
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert!(runs.is_empty());
}

#[tokio::test]
async fn a_worker_shutdown_releases_its_job_for_the_next_worker() {
    let bus = support::bus().await;
    let j = job(&symbols(20).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w1, s1) = sim_worker(&bus, Duration::from_millis(100), fast_worker_config());
    let h1 = tokio::spawn(async move { w1.run().await });
    wait_status(&bus, &j.id, Duration::from_secs(5), |s| {
        s.processed_symbols.unwrap_or(0) >= 3
    })
    .await;
    s1.cancel();
    h1.await.unwrap().unwrap();
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Queued, "{st:?}");
    // The next worker resumes at once, not after the idle timeout.
    let (w2, s2) = sim_worker(&bus, Duration::from_millis(10), fast_worker_config());
    let h2 = tokio::spawn(async move { w2.run().await });
    let st = wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(10)).await;
    assert_eq!(st.successful_symbols.len(), 20);
    s2.cancel();
    h2.await.unwrap().unwrap();
    let mut c = bus.conn();
    let units: Vec<String> = c
        .lrange(units_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(units.len(), 20, "nothing done twice");
}

/// One reading of `tickstock.jobs.status:{id}` as TickStock's page takes it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: String,
    status: String,
    progress: i64,
}

/// Reads TickStock's status key of `id` every 10 ms until `done` returns true for a
/// reading (or `timeout` passes); returns every distinct reading in order.
async fn watch_tickstock_view(
    bus: &tickstock_queue::bus::Bus,
    id: &str,
    timeout: Duration,
    done: impl Fn(&Seen) -> bool,
) -> Vec<Seen> {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        if let Some((kind, v)) = tickstock_view(bus, id).await {
            let progress = match &v["progress"] {
                Value::String(s) => s.parse().unwrap_or(-1),
                n => n.as_i64().unwrap_or(-1),
            };
            let now = Seen {
                kind,
                status: v["status"].as_str().unwrap_or_default().to_string(),
                progress,
            };
            if seen.last() != Some(&now) {
                seen.push(now.clone());
            }
            if done(&now) {
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "timed out; seen {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn tickstocks_page_sees_our_worker_run_a_job_to_completed_100() {
    // The real loader against the fake Polygon (slowed so the run can be watched) and an
    // SQLite database, as `tickstock worker` runs it.
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(80),
        ..FakePolygonConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    let polygon = PolygonConfig::new(
        fake.base_url(),
        SecretString::from(fake.api_key().to_string()),
    )
    .with_requests_per_minute(0)
    .with_max_retries(3)
    .with_request_timeout(Duration::from_secs(5))
    .with_max_backoff(Duration::from_millis(50));
    let loader = Loader::new(
        PolygonClient::new(polygon).unwrap(),
        store.clone(),
        LoaderConfig {
            concurrency: 1,
            ..LoaderConfig::default()
        },
    );
    let bus = support::bus().await;
    let syms = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META"];
    let j = Job::new(
        JobSpec::Historical {
            symbols: syms.iter().map(|s| s.to_string()).collect(),
            timespan: Timeframe::Day,
            range: DateRange {
                years: None,
                start_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 2),
                end_date: chrono::NaiveDate::from_ymd_opt(2024, 6, 28),
            },
        },
        "admin_ui",
    );
    bus.submit(&j).await.unwrap();
    let stop = CancellationToken::new();
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader),
        fast_worker_config(),
        stop.clone(),
        Some(Arc::new(StoreHistory(store.clone()))),
    );
    let h = tokio::spawn(async move { w.run().await });
    let seen = watch_tickstock_view(&bus, &j.id, Duration::from_secs(60), |s| {
        JobState::parse(&s.status).is_some_and(|st| st.is_terminal())
    })
    .await;
    stop.cancel();
    h.await.unwrap().unwrap();
    assert!(seen.iter().all(|s| s.kind == "string"), "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.status == "running" && s.progress > 0 && s.progress < 100),
        "running with progress: {seen:?}"
    );
    let last = seen.last().unwrap();
    assert_eq!(
        (last.status.as_str(), last.progress),
        ("completed", 100),
        "{seen:?}"
    );
    // Progress only goes forward, and running never follows the end.
    assert!(
        seen.windows(2).all(|w| w[0].progress <= w[1].progress),
        "{seen:?}"
    );
    let (_, v) = tickstock_view(&bus, &j.id).await.unwrap();
    assert_eq!(
        v["successful_symbols"].as_array().unwrap().len(),
        syms.len()
    );
    assert!(v["ohlcv_records_loaded"].as_u64().unwrap() > 0);
    for f in ["submitted_at", "started_at", "completed_at", "timestamp"] {
        assert!(is_naive_iso(v[f].as_str().unwrap()), "{f}: {}", v[f]);
        assert!(
            v[&format!("{f}_utc")].as_str().unwrap().ends_with('Z'),
            "{f}"
        );
    }
    // The legacy key holds the same.
    let mut c = bus.conn();
    let a: String = c.get(bus.keys().status_alt(&j.id)).await.unwrap();
    let p: String = c.get(bus.keys().status(&j.id)).await.unwrap();
    assert_eq!(a, p);
    // History has the exact times.
    let run = store.job_run(&j.id).await.unwrap().unwrap();
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(run.completed_at, st.time("completed_at"));
    store.close().await;
}

/// A job message as TickStockAppV2's universe route publishes it (vectors/jobs.jsonl,
/// "csv_universe_load resolved symbols"), with a fresh id and the time written now.
fn tickstock_app_submission(symbols: &[String]) -> (String, Value, Value) {
    let id = uuid::Uuid::new_v4().to_string();
    let now = Stamp::now().legacy();
    let message = serde_json::json!({"job_id": id, "job_type": "csv_universe_load",
        "source": "SPY:nasdaq100", "universe_key": "SPY:nasdaq100", "symbols": symbols,
        "timeframes": ["day"], "years": 1.0, "run_analysis_after_import": false,
        "requested_by": "admin", "timestamp": now});
    // Its initial status (vectors/status.jsonl, "app initial, hash"): every value a string.
    let hash = serde_json::json!({"status": "submitted", "progress": "0",
        "message": format!("Loading {} symbols from SPY:nasdaq100", symbols.len()),
        "submitted_at": now, "total_symbols": symbols.len().to_string()});
    (id, message, hash)
}

async fn submit_like_tickstock_app(bus: &tickstock_queue::bus::Bus, message: &Value, hash: &Value) {
    let id = message["job_id"].as_str().unwrap();
    let key = bus.keys().status_alt(id);
    let fields: Vec<(String, String)> = hash
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let mut c = bus.conn();
    let _: () = c.hset_multiple(&key, &fields).await.unwrap();
    let _: () = c.expire(&key, 86_400).await.unwrap();
    let _: i64 = c
        .publish(bus.keys().channel_data_load(), message.to_string())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_job_submitted_the_way_tickstockappv2_does_runs_and_its_status_becomes_json() {
    let bus = support::bus().await;
    let (w, stop) = sim_worker(&bus, Duration::from_millis(100), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    support::wait_subscribed(&bus).await;
    let syms = symbols(5);
    let (id, message, hash) = tickstock_app_submission(&syms);
    submit_like_tickstock_app(&bus, &message, &hash).await;
    let seen = watch_tickstock_view(&bus, &id, Duration::from_secs(10), |s| {
        s.status == "completed"
    })
    .await;
    stop.cancel();
    h.await.unwrap().unwrap();
    assert!(
        seen.iter()
            .any(|s| s.kind == "string" && s.status == "running"),
        "{seen:?}"
    );
    let (kind, v) = tickstock_view(&bus, &id).await.unwrap();
    assert_eq!(kind, "string", "the hash became our JSON string");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["progress"], 100);
    assert_eq!(v["job_type"], "csv_universe_load");
    assert_eq!(v["successful_symbols"].as_array().unwrap().len(), 5);
    assert_eq!(
        v["submitted_at"], hash["submitted_at"],
        "kept from the hash"
    );
    let mut c = bus.conn();
    let p: String = c.get(bus.keys().status(&id)).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&p).unwrap()["status"],
        "completed"
    );
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(runs, vec![id]);
}

/// Runs a 50-symbol job on a worker, overwrites its `key` with `value` once it runs (as
/// TickStock's page or stale-job cleanup does), and checks that the job stops soon and
/// stays in `want`, never going back to running or on to completed.
async fn an_external_final_state_stops_the_job(
    alt_key: bool,
    hash: bool,
    value: Value,
    want: JobState,
) {
    let bus = support::bus().await;
    let j = job(&symbols(50).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w, stop) = sim_worker(&bus, Duration::from_millis(100), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    wait_status(&bus, &j.id, Duration::from_secs(5), |s| {
        s.state == JobState::Running && s.progress > 0
    })
    .await;
    let key = if alt_key {
        bus.keys().status_alt(&j.id)
    } else {
        bus.keys().status(&j.id)
    };
    let mut c = bus.conn();
    let written_at = Instant::now();
    if hash {
        let fields: Vec<(String, String)> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        redis::pipe()
            .atomic()
            .del(&key)
            .ignore()
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, 86_400)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    } else {
        let _: () = c.set_ex(&key, value.to_string(), 86_400).await.unwrap();
    }
    // Both keys, as TickStock and we read them, until our worker has written its end
    // (its final write carries `duration_seconds`).
    let word = want.as_str();
    let (other_key, mut on_key, mut on_other) = if alt_key {
        (bus.keys().status(&j.id), Vec::new(), Vec::new())
    } else {
        (bus.keys().status_alt(&j.id), Vec::new(), Vec::new())
    };
    // Status words as states (`error` is `failed`).
    let status_word = |v: Option<(String, serde_json::Map<String, Value>)>| {
        let w = v
            .map(|(_, v)| v["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        JobState::parse(&w).map_or(w, |s| s.as_str().to_string())
    };
    let st = loop {
        on_key.push(status_word(support::read_like_tickstock(&bus, &key).await));
        on_other.push(status_word(
            support::read_like_tickstock(&bus, &other_key).await,
        ));
        let st = bus.status(&j.id).await.unwrap().unwrap();
        assert_ne!(st.state, JobState::Running, "a final state read as running");
        if st.duration_seconds.is_some() {
            break st;
        }
        assert!(
            written_at.elapsed() < Duration::from_secs(2),
            "the worker did not stop within 2 s: {on_key:?} {on_other:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(st.state, want);
    // The key TickStock wrote is never overwritten with another state; the other key
    // follows and stays.
    assert!(on_key.iter().all(|s| s == word), "{on_key:?}");
    let first = on_other
        .iter()
        .position(|s| s == word)
        .unwrap_or(on_other.len());
    assert!(on_other[first..].iter().all(|s| s == word), "{on_other:?}");
    assert!(st.successful_symbols.len() < 50, "stopped early");
    assert_eq!(st.message.as_deref(), value["message"].as_str());
    // Still so a while later, on both keys, as TickStock reads them.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for k in [bus.keys().status(&j.id), bus.keys().status_alt(&j.id)] {
        let (kind, v) = support::read_like_tickstock(&bus, &k).await.unwrap();
        assert_eq!(
            (kind.as_str(), v["status"].as_str()),
            ("string", Some(word)),
            "{k}"
        );
    }
    let units: Vec<String> = c
        .lrange(units_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert_eq!(
        units.len(),
        st.successful_symbols.len(),
        "no work after the stop"
    );
    stop.cancel();
    h.await.unwrap().unwrap();
    assert_eq!(
        bus.queue_depth().await.unwrap().in_flight,
        0,
        "acknowledged"
    );
}

#[tokio::test]
async fn a_running_job_cancelled_on_tickstocks_key_as_a_string_stops_and_stays_cancelled() {
    an_external_final_state_stops_the_job(
        true,
        false,
        serde_json::json!({"status": "cancelled", "progress": 0, "message": "Cancelled by admin",
            "cancelled_at": Stamp::now().legacy(), "cancelled_by": "admin"}),
        JobState::Cancelled,
    )
    .await;
}

#[tokio::test]
async fn a_running_job_cancelled_on_tickstocks_key_as_a_hash_stops_and_stays_cancelled() {
    an_external_final_state_stops_the_job(
        true,
        true,
        serde_json::json!({"status": "cancelled", "progress": "0", "message": "Cancelled by admin",
            "cancelled_at": Stamp::now().legacy()}),
        JobState::Cancelled,
    )
    .await;
}

#[tokio::test]
async fn a_running_job_marked_failed_by_tickstocks_stale_cleanup_stops_and_stays_failed() {
    an_external_final_state_stops_the_job(
        true,
        false,
        serde_json::json!({"status": "failed", "progress": 30,
            "message": "Job marked as failed: no update for 30 minutes",
            "error_message": "stale job", "completed_at": Stamp::now().legacy()}),
        JobState::Failed,
    )
    .await;
}

#[tokio::test]
async fn a_running_job_marked_error_on_the_legacy_key_stops_and_stays_failed() {
    an_external_final_state_stops_the_job(
        false,
        false,
        serde_json::json!({"status": "error", "progress": 15,
            "message": "database connection lost", "error_message": "database connection lost"}),
        JobState::Failed,
    )
    .await;
}

#[tokio::test]
async fn a_waiting_job_cancelled_on_tickstocks_key_is_skipped() {
    let bus = support::bus().await;
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    // TickStock's page cancels it, replacing our string with its hash.
    let mut c = bus.conn();
    let key = bus.keys().status_alt(&j.id);
    redis::pipe()
        .atomic()
        .del(&key)
        .ignore()
        .hset_multiple(
            &key,
            &[
                ("status", "cancelled"),
                ("progress", "0"),
                ("message", "Cancelled by admin"),
            ],
        )
        .ignore()
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let (w, _stop) = sim_worker(&bus, Duration::from_millis(5), fast_worker_config());
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Outcome::Skipped {
            job_id: j.id.clone()
        }
    );
    let runs: Vec<String> = c
        .lrange(executions_key(bus.keys().namespace()), 0, -1)
        .await
        .unwrap();
    assert!(runs.is_empty());
    for k in [bus.keys().status(&j.id), bus.keys().status_alt(&j.id)] {
        let (kind, v) = support::read_like_tickstock(&bus, &k).await.unwrap();
        assert_eq!(
            (kind.as_str(), &v["status"]),
            ("string", &Value::from("cancelled"))
        );
        assert_eq!(v["message"], "Cancelled by admin");
    }
}

/// Redis restarted empty (no persistence) under a running job used to drop it from the
/// list of jobs with no word. The worker that runs it writes its status and its place in
/// the index again, and the job completes.
#[tokio::test]
async fn a_running_job_reappears_after_redis_restarts_empty_and_completes() {
    let server = RedisServer::start();
    let bus = support::bus_at(&server.url(), "empty").await;
    let j = job(&symbols(12).iter().map(String::as_str).collect::<Vec<_>>());
    bus.submit(&j).await.unwrap();
    let (w, stop) = sim_worker(&bus, Duration::from_millis(250), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    wait_status(&bus, &j.id, Duration::from_secs(10), |s| {
        s.processed_symbols.unwrap_or(0) >= 2
    })
    .await;
    let mut c = bus.conn();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    // Listed again, with its status, while it runs.
    wait_for(Duration::from_secs(10), "the job listed again", || async {
        let jobs = bus.list_jobs(50).await.ok()?;
        jobs.iter()
            .find(|e| e.job_id == j.id)
            .and_then(|e| e.status.clone())
            .filter(|s| s.state == JobState::Running)
    })
    .await;
    let st = wait_state(&bus, &j.id, JobState::Completed, Duration::from_secs(30)).await;
    stop.cancel();
    h.await.unwrap().unwrap();
    assert_eq!(st.successful_symbols.len(), 12, "{st:?}");
    let listed = bus.list_jobs(50).await.unwrap();
    assert!(listed.iter().any(|e| e.job_id == j.id));
}
