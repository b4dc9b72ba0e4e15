//! The bus against real Redis: submit, statuses in one call, listing, cancel, health,
//! passwords in URLs.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::status::{JobState, JobStatus, LEGACY_TIME_FIELDS};
use tickstock_protocol::ErrorKind;
use tickstock_queue::bus::{Bus, ProgressWrite};
use tickstock_testkit::redis_server::{unique_namespace, RedisServer};

use crate::support::{self, is_naive_iso, job, tickstock_view};

#[tokio::test]
async fn submit_writes_status_stream_and_index_atomically() {
    let bus = support::bus().await;
    let j = job(&["AAPL", "MSFT"]);
    bus.submit(&j).await.unwrap();
    let mut c = bus.conn();
    let ttl: i64 = c.ttl(bus.keys().status(&j.id)).await.unwrap();
    assert!(
        (7000..=7200).contains(&ttl),
        "status expires after 2 h, ttl {ttl}"
    );
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Submitted);
    assert_eq!(st.job_type.as_deref(), Some("historical_load"));
    assert_eq!(st.total_symbols, Some(2));
    let len: usize = c.xlen(bus.keys().stream()).await.unwrap();
    assert_eq!(len, 1);
    let entries = bus.list_jobs(10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].job_id, j.id);
    let depth = bus.queue_depth().await.unwrap();
    assert_eq!((depth.waiting, depth.in_flight, depth.dead), (1, 0, 0));
}

#[tokio::test]
async fn many_statuses_in_one_call_across_keys_and_encodings_without_wrongtype() {
    let bus = support::bus().await;
    let mut c = bus.conn();
    let a = job(&["AAPL"]);
    bus.submit(&a).await.unwrap();
    // An old writer's hash under the later key name.
    let _: () = c
        .hset_multiple(
            bus.keys().status_alt("hash-job"),
            &[
                ("status", "running"),
                ("progress", "40"),
                ("current_symbol", "ADBE"),
            ],
        )
        .await
        .unwrap();
    // A hash under the legacy key name.
    let _: () = c
        .hset_multiple(
            bus.keys().status("hash-legacy"),
            &[("status", "pending"), ("progress", "0")],
        )
        .await
        .unwrap();
    // Something that is neither a string nor a hash.
    let _: () = c.rpush(bus.keys().status("list-job"), "x").await.unwrap();
    // A worker of the later TickStock writes progress under the other key.
    let _: () = c
        .set(
            bus.keys().status_alt(&a.id),
            r#"{"status":"running","progress":55,"message":"AAPL 1/1"}"#,
        )
        .await
        .unwrap();
    let ids: Vec<String> = vec![
        a.id.clone(),
        "hash-job".into(),
        "hash-legacy".into(),
        "list-job".into(),
        "nothing".into(),
    ];
    let got = bus.statuses(&ids).await.unwrap();
    assert_eq!(got.len(), 5);
    let first = got[0].as_ref().unwrap();
    assert_eq!(
        (first.state, first.progress),
        (JobState::Running, 55),
        "the status further along wins"
    );
    let h = got[1].as_ref().unwrap();
    assert_eq!(
        (h.state, h.progress, h.current_symbol.as_deref()),
        (JobState::Running, 40, Some("ADBE"))
    );
    assert_eq!(got[2].as_ref().unwrap().state, JobState::Queued);
    assert!(
        got[3].is_none(),
        "a wrong-typed key reads as no status, not an error"
    );
    assert!(got[4].is_none());
}

#[tokio::test]
async fn list_is_newest_first_and_active_filters() {
    let bus = support::bus().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let j = job(&[&format!("S{i}")]);
        bus.submit(&j).await.unwrap();
        ids.push(j.id);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    bus.cancel(&ids[0], "test").await.unwrap();
    let list = bus.list_jobs(3).await.unwrap();
    let got: Vec<&str> = list.iter().map(|e| e.job_id.as_str()).collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str(), ids[2].as_str()]);
    let active = bus.active_jobs(100).await.unwrap();
    assert_eq!(active.len(), 4);
    assert!(active.iter().all(|e| e.job_id != ids[0]));
}

#[tokio::test]
async fn cancel_of_a_waiting_job_is_immediate_and_of_a_finished_job_changes_nothing() {
    let bus = support::bus().await;
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    let out = bus.cancel(&j.id, "ops").await.unwrap();
    assert!(out.changed);
    assert_eq!(out.state, JobState::Cancelled);
    let st = bus.status(&j.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Cancelled);
    assert!(st.message.unwrap().contains("before it started"));
    assert!(bus.is_cancel_requested(&j.id).await.unwrap());
    let again = bus.cancel(&j.id, "ops").await.unwrap();
    assert!(!again.changed);
    let err = bus.cancel("no-such-job", "ops").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("no-such-job"));
}

#[tokio::test]
async fn cancel_all_cancels_every_active_job() {
    let bus = support::bus().await;
    for i in 0..3 {
        bus.submit(&job(&[&format!("S{i}")])).await.unwrap();
    }
    assert_eq!(bus.cancel_all("reset", "ops").await.unwrap(), 3);
    assert!(bus.active_jobs(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn passwords_in_urls_work_and_never_show() {
    let server = RedisServer::start_with_password(Some("s3cr3t-pw"));
    let bus = Bus::connect(BusConfig::new(server.url()).with_namespace(unique_namespace()))
        .await
        .unwrap();
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    assert!(bus.status(&j.id).await.unwrap().is_some());
    let health = bus.health(Duration::from_secs(60)).await;
    assert!(health.redis.connected);
    let shown = format!(
        "{bus:?} {} {}",
        serde_json::to_string(&health).unwrap(),
        bus.redacted_url()
    );
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    // A wrong password: a clear error that does not repeat either password.
    let bad = format!("redis://:wrong-pw@127.0.0.1:{}", server.port());
    let err = Bus::connect(BusConfig::new(bad)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redis);
    assert!(
        !err.message().contains("wrong-pw") && !err.message().contains("s3cr3t-pw"),
        "{err}"
    );
    // No password at all.
    let none = format!("redis://127.0.0.1:{}", server.port());
    let err = Bus::connect(BusConfig::new(none)).await.unwrap_err();
    assert!(err.message().to_lowercase().contains("auth"), "{err}");
}

#[tokio::test]
async fn health_reports_an_unreachable_redis_quickly() {
    let mut server = RedisServer::start();
    let bus = Bus::connect(BusConfig::new(server.url())).await.unwrap();
    server.stop();
    let started = Instant::now();
    let h = bus.health(Duration::from_secs(60)).await;
    assert!(!h.redis.connected);
    assert!(h.redis.error.is_some());
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn tls_with_a_password_works_and_never_shows_the_password() {
    let server = RedisServer::start_tls(Some("tls-pw-123"));
    assert!(server.url().starts_with("rediss://"));
    let bus = Bus::connect(BusConfig::new(server.url()).with_namespace(unique_namespace()))
        .await
        .unwrap();
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    assert_eq!(
        bus.status(&j.id).await.unwrap().unwrap().state,
        JobState::Submitted
    );
    let h = bus.health(Duration::from_secs(60)).await;
    assert!(h.redis.connected);
    assert!(h.redis.url.starts_with("rediss://:***@"), "{}", h.redis.url);
    // Plain TCP to a TLS port fails with a clear error, not a hang.
    let plain = format!("redis://:tls-pw-123@127.0.0.1:{}", server.port());
    let started = Instant::now();
    let err = Bus::connect(BusConfig::new(plain)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!err.message().contains("tls-pw-123"), "{err}");
}

#[tokio::test]
async fn submit_writes_the_status_where_tickstock_looks_as_a_json_string() {
    let bus = support::bus().await;
    let j = job(&["AAPL", "MSFT"]);
    bus.submit(&j).await.unwrap();
    let mut c = bus.conn();
    let (kind, alt) = tickstock_view(&bus, &j.id)
        .await
        .expect("tickstock.jobs.status");
    assert_eq!(kind, "string");
    assert_eq!(alt["status"], "submitted");
    assert_eq!(alt["progress"], 0);
    let ttl: i64 = c.ttl(bus.keys().status_alt(&j.id)).await.unwrap();
    assert!((86_000..=86_400).contains(&ttl), "24 h expiry, ttl {ttl}");
    let primary: String = c.get(bus.keys().status(&j.id)).await.unwrap();
    let alt_text: String = c.get(bus.keys().status_alt(&j.id)).await.unwrap();
    assert_eq!(primary, alt_text, "the same JSON in both keys");
    // Legacy time as TickStock writes it, our exact time beside it.
    let submitted = alt["submitted_at"].as_str().unwrap();
    assert!(is_naive_iso(submitted), "{submitted}");
    assert!(alt["submitted_at_utc"].as_str().unwrap().ends_with('Z'));
    let st = bus.status(&j.id).await.unwrap().unwrap();
    let age = chrono::Utc::now() - st.time("submitted_at").unwrap();
    assert!(age.num_seconds().abs() < 5, "{age}");
}

/// Writes `fields` at `key` the way TickStock does: a hash of strings, or a JSON string.
async fn write_as(bus: &Bus, key: &str, hash: bool, fields: &serde_json::Value) {
    let mut c = bus.conn();
    let _: () = c.del(key).await.unwrap();
    if hash {
        let pairs: Vec<(String, String)> = fields
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or(&v.to_string()).to_string()))
            .collect();
        let _: () = c.hset_multiple(key, &pairs).await.unwrap();
        let _: () = c.expire(key, 86_400).await.unwrap();
    } else {
        let _: () = c.set_ex(key, fields.to_string(), 86_400).await.unwrap();
    }
}

#[tokio::test]
async fn cancel_replaces_tickstocks_submit_hash_with_the_json_string_in_both_keys() {
    let bus = support::bus().await;
    let id = uuid::Uuid::new_v4().to_string();
    // What TickStockAppV2's submit route writes (vectors/status.jsonl, "app initial, hash").
    let hash = serde_json::json!({"status": "submitted", "progress": "0",
        "message": "Loading 3 symbols", "submitted_at": "2026-02-10T09:15:42.118304",
        "total_symbols": "3"});
    write_as(&bus, &bus.keys().status_alt(&id), true, &hash).await;
    let out = bus.cancel(&id, "ops").await.unwrap();
    assert!(out.changed);
    assert_eq!(out.state, JobState::Cancelled);
    for key in [bus.keys().status(&id), bus.keys().status_alt(&id)] {
        let (kind, v) = support::read_like_tickstock(&bus, &key).await.unwrap();
        assert_eq!(kind, "string", "{key}");
        assert_eq!(v["status"], "cancelled");
        assert_eq!(v["submitted_at"], "2026-02-10T09:15:42.118304", "kept");
        assert_eq!(v["total_symbols"], 3);
        assert!(is_naive_iso(v["cancelled_at"].as_str().unwrap()));
        assert!(v["cancelled_at_utc"].as_str().unwrap().ends_with('Z'));
    }
    // Cleared with both keys.
    let _: () = bus.conn().zadd(bus.keys().index(), &id, 1).await.unwrap();
    assert_eq!(bus.clear_finished(&id[..8]).await.unwrap(), 1);
    assert!(tickstock_view(&bus, &id).await.is_none());
    assert!(bus.status(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn progress_writes_never_overwrite_a_final_state_someone_else_wrote() {
    let bus = support::bus().await;
    // TickStock's cancel and its stale-job cleanup, on either key, in either encoding.
    let cases = [
        (
            "alt",
            false,
            serde_json::json!({"status": "cancelled", "progress": 40,
            "message": "Cancelled by admin", "cancelled_at": "2025-12-27T18:05:00.000001",
            "cancelled_by": "admin"}),
            JobState::Cancelled,
        ),
        (
            "alt",
            true,
            serde_json::json!({"status": "cancelled", "progress": "40",
            "message": "Cancelled by admin"}),
            JobState::Cancelled,
        ),
        (
            "alt",
            true,
            serde_json::json!({"status": "failed", "progress": "40",
            "message": "Job timed out (stale)", "error_message": "stale"}),
            JobState::Failed,
        ),
        (
            "primary",
            false,
            serde_json::json!({"status": "error", "progress": 15,
            "message": "stale job", "error_message": "stale job"}),
            JobState::Failed,
        ),
    ];
    for (which, hash, value, want) in cases {
        let j = job(&["AAPL"]);
        bus.submit(&j).await.unwrap();
        let key = match which {
            "alt" => bus.keys().status_alt(&j.id),
            _ => bus.keys().status(&j.id),
        };
        let mut running = JobStatus::new(JobState::Running);
        running.progress = 10;
        assert_eq!(
            bus.put_progress_checked(&j.id, &running).await.unwrap(),
            ProgressWrite::Written
        );
        write_as(&bus, &key, hash, &value).await;
        let before = support::read_like_tickstock(&bus, &key).await;
        running.progress = 50;
        let got = bus.put_progress_checked(&j.id, &running).await.unwrap();
        assert_eq!(got, ProgressWrite::Final(want), "{which} {hash} {value}");
        assert!(bus.put_progress(&j.id, &running).await.unwrap(), "stop");
        assert_eq!(
            support::read_like_tickstock(&bus, &key).await,
            before,
            "left as written"
        );
        assert!(bus.stop_requested(&j.id).await.unwrap().is_some());
        // The final write keeps the state: never completed, never running.
        let mut fin = running.clone();
        fin.state = JobState::Completed;
        fin.progress = 100;
        let written = bus.finish_status(&j.id, &fin, None).await.unwrap();
        assert_eq!(written.state, want);
        for k in [bus.keys().status(&j.id), bus.keys().status_alt(&j.id)] {
            let (kind, v) = support::read_like_tickstock(&bus, &k).await.unwrap();
            assert_eq!(kind, "string");
            assert_eq!(JobState::parse(v["status"].as_str().unwrap()), Some(want));
            assert_eq!(v["message"], value["message"]);
        }
        assert!(!bus.cancel(&j.id, "ops").await.unwrap().changed);
    }
}

#[tokio::test]
async fn progress_writes_go_to_both_keys_and_a_cancel_flag_turns_them_to_cancelling() {
    let bus = support::bus().await;
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    assert!(bus.stop_requested(&j.id).await.unwrap().is_none());
    let mut st = JobStatus::new(JobState::Running);
    st.progress = 42;
    st.set_time("timestamp", tickstock_protocol::status::Stamp::now());
    assert_eq!(
        bus.put_progress_checked(&j.id, &st).await.unwrap(),
        ProgressWrite::Written
    );
    let (kind, v) = tickstock_view(&bus, &j.id).await.unwrap();
    assert_eq!(
        (kind.as_str(), &v["status"], &v["progress"]),
        ("string", &"running".into(), &42.into())
    );
    for f in LEGACY_TIME_FIELDS {
        if let Some(t) = v.get(*f) {
            assert!(is_naive_iso(t.as_str().unwrap()), "{f}: {t}");
        }
    }
    bus.set_cancel_flag(&j.id, "ops").await.unwrap();
    assert_eq!(
        bus.put_progress_checked(&j.id, &st).await.unwrap(),
        ProgressWrite::CancelRequested
    );
    let (_, v) = tickstock_view(&bus, &j.id).await.unwrap();
    assert_eq!(v["status"], "cancelling");
    assert_eq!(
        bus.stop_requested(&j.id).await.unwrap().as_deref(),
        Some("cancel")
    );
}
