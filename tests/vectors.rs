//! Every compatibility vector is accepted: job and control messages, statuses in both
//! encodings under both key names, heartbeats judged as the vectors say. What we write has
//! the vectors' shape: field types, and times in TickStock's naive local form.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde_json::Value;
use tickstock_protocol::job::{Job, JobRequest, JobSpec, SymbolsInput};
use tickstock_protocol::status::{parse_time, JobState, JobStatus, LEGACY_TIME_FIELDS};
use tickstock_queue::bus::{judge_heartbeat, unix_now, ProgressWrite};
use tickstock_testkit::redis_server::shared_redis_url;

use crate::support::{
    self, fast_worker_config, is_naive_iso, read_vectors, sim_worker, tickstock_view, wait_state,
};

#[test]
fn job_vectors_parse_and_round_trip_with_unknown_fields() {
    let vectors = read_vectors("jobs.jsonl");
    assert_eq!(vectors.len(), 8);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let msg = v["message"].clone();
        let job = Job::from_value(msg.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            job.to_value(),
            msg,
            "{name}: round trip changed the message"
        );
        assert_eq!(job.id, msg["job_id"].as_str().unwrap(), "{name}");
        assert_eq!(
            job.job_type().as_str(),
            msg["job_type"].as_str().unwrap(),
            "{name}"
        );
        // What the worker checks before running: every vector passes.
        assert!(
            job.validate(&|_| true).is_empty(),
            "{name}: {:?}",
            job.validate(&|_| true)
        );
    }
    // Spot checks of typed values.
    let v = read_vectors("jobs.jsonl");
    let job = Job::from_value(v[5]["message"].clone()).unwrap();
    match job.spec {
        JobSpec::CsvUniverse {
            symbols: Some(s),
            timeframes,
            ..
        } => {
            assert_eq!(s, ["AAPL", "ADBE", "AMZN"]);
            assert_eq!(timeframes.len(), 5);
        }
        other => panic!("unexpected spec {other:?}"),
    }
    let job = Job::from_value(v[7]["message"].clone()).unwrap();
    assert_eq!(job.raw()["priority"], "high");
    assert_eq!(job.timestamp.as_deref(), Some("2025-11-29T17:27:14"));
}

#[tokio::test]
async fn status_vectors_read_back_in_both_encodings() {
    let bus = support::bus().await;
    let ns = bus.keys().namespace().to_string();
    let mut c = bus.conn();
    for v in read_vectors("status.jsonl") {
        let name = v["name"].as_str().unwrap();
        let key = format!("{ns}:{}", v["key"].as_str().unwrap());
        let id = v["key"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        let _: () = c.del(&key).await.unwrap();
        let value = v["value"].as_object().unwrap();
        match v["encoding"].as_str().unwrap() {
            "string" => {
                let _: () = c
                    .set(&key, Value::Object(value.clone()).to_string())
                    .await
                    .unwrap();
            }
            "hash" => {
                let fields: Vec<(String, String)> = value
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().expect("hash values are strings").to_string(),
                        )
                    })
                    .collect();
                let _: () = c.hset_multiple(&key, &fields).await.unwrap();
            }
            other => panic!("unknown encoding {other}"),
        }
        let st = bus
            .status(&id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: no status"));
        let want = JobState::parse(value["status"].as_str().unwrap()).unwrap();
        assert_eq!(st.state, want, "{name}");
        let progress = match &value["progress"] {
            Value::String(s) => s.parse::<u8>().unwrap(),
            n => n.as_u64().unwrap() as u8,
        };
        assert_eq!(st.progress, progress, "{name}");
        assert_eq!(st.message.as_deref(), value["message"].as_str(), "{name}");
        let _: () = c.del(&key).await.unwrap();
    }
    // Details of the richest vectors.
    let v = read_vectors("status.jsonl");
    let key = format!("{ns}:{}", v[3]["key"].as_str().unwrap());
    let _: () = c.set(&key, v[3]["value"].to_string()).await.unwrap();
    let st = bus
        .status("9f4d2b6c-1e8a-4c3f-b7d0-6a5e3c1b8f27")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.state, JobState::CompletedWithErrors);
    assert_eq!(st.failed_symbols, ["ADBE"]);
    assert_eq!(st.successful_symbols, ["AAPL", "AMZN"]);
    assert_eq!(st.ohlcv_records_loaded, Some(10946));
    assert_eq!(st.duration_seconds, Some(48.868));
    let old = &v[5];
    let key = format!("{ns}:{}", old["key"].as_str().unwrap());
    let _: () = c.set(&key, old["value"].to_string()).await.unwrap();
    let st = bus
        .status("c3f1b7d2-6a0e-4f43-b1de-2f9a7c5e8b40")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        st.state,
        JobState::Failed,
        "old word `error` reads as failed"
    );
}

#[tokio::test]
async fn heartbeat_vectors_are_judged_as_the_vectors_say() {
    let bus = support::bus().await;
    let ns = bus.keys().namespace().to_string();
    let mut c = bus.conn();
    for v in read_vectors("heartbeat.jsonl") {
        let name = v["name"].as_str().unwrap();
        let value = v["value"].as_str().unwrap();
        let key = format!("{ns}:{}", v["key"].as_str().unwrap());
        match &v["alive_if_written_seconds_ago"] {
            Value::Null => {
                assert_eq!(judge_heartbeat(value, unix_now()), (true, None), "{name}");
                let _: () = c.set(&key, value).await.unwrap();
                let hb = bus.heartbeat(&key).await.unwrap();
                assert!(
                    hb.present && hb.alive && hb.age_seconds.is_none(),
                    "{name}: {hb:?}"
                );
            }
            Value::Object(cases) => {
                let written: f64 = value.parse().unwrap();
                for (secs, alive) in cases {
                    let secs: f64 = secs.parse().unwrap();
                    let (got, age) = judge_heartbeat(value, written + secs);
                    assert_eq!(got, alive.as_bool().unwrap(), "{name} after {secs}s");
                    assert!((age.unwrap() - secs).abs() < 1e-6);
                    // The same through Redis, with the value written `secs` ago.
                    let _: () = c
                        .set(&key, format!("{:.6}", unix_now() - secs))
                        .await
                        .unwrap();
                    let hb = bus.heartbeat(&key).await.unwrap();
                    assert_eq!(
                        hb.alive,
                        alive.as_bool().unwrap(),
                        "{name} via Redis after {secs}s"
                    );
                }
            }
            other => panic!("{name}: unexpected {other}"),
        }
        let _: () = c.del(&key).await.unwrap();
    }
    let hb = bus.heartbeat(&format!("{ns}:absent")).await.unwrap();
    assert!(!hb.present && !hb.alive);
}

/// The legacy fields of each kind, as the vectors show them.
fn legacy_fields(kind: &str) -> BTreeSet<&'static str> {
    let common = ["job_id", "job_type", "requested_by", "timestamp"];
    let specific: &[&str] = match kind {
        "historical_load" => &["symbols", "years", "timespan"],
        "multi_timeframe_load" => &["symbols", "timeframes", "years"],
        "universe_seed" => &["universe_type", "years"],
        "csv_universe_load" => &[
            "source",
            "universe_key",
            "timeframes",
            "years",
            "include_ohlcv",
        ],
        _ => unreachable!(),
    };
    common.iter().chain(specific).copied().collect()
}

#[tokio::test]
async fn raw_subscriber_receives_exactly_the_legacy_fields_for_each_kind() {
    let bus = support::bus().await;
    let client = redis::Client::open(shared_redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub
        .subscribe(bus.keys().channel_data_load())
        .await
        .unwrap();
    let requests = [
        JobRequest {
            kind: "historical_load".into(),
            symbols: SymbolsInput::Text("AAPL,MSFT".into()),
            years: Some(1.0),
            timespan: Some("day".into()),
            ..Default::default()
        },
        JobRequest {
            kind: "multi_timeframe_load".into(),
            symbols: SymbolsInput::Text("SPY".into()),
            years: Some(2.0),
            timeframes: vec!["hour".into(), "day".into()],
            ..Default::default()
        },
        JobRequest {
            kind: "universe_seed".into(),
            universe_type: Some("SP500".into()),
            years: Some(2.0),
            ..Default::default()
        },
        JobRequest {
            kind: "csv_universe_load".into(),
            universe_key: Some("SPY:nasdaq100".into()),
            years: Some(1.0),
            timeframes: vec!["day".into()],
            ..Default::default()
        },
    ];
    let mut ids = Vec::new();
    for r in &requests {
        let job = r.build_builtin("admin_ui").unwrap();
        bus.submit(&job).await.unwrap();
        ids.push(job.id.clone());
    }
    let mut stream = pubsub.on_message();
    for (r, id) in requests.iter().zip(ids) {
        let msg = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("message within 5 s")
            .unwrap();
        let v: Value = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
        let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, legacy_fields(&r.kind), "{}", r.kind);
        assert_eq!(v["job_id"], id.as_str());
        assert_eq!(v["requested_by"], "admin_ui");
        assert!(v["years"].is_number());
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        // The value a TickStock reader parses, as it writes it itself: naive local time
        // with microseconds (`datetime.now().isoformat()`, as in jobs.jsonl).
        let ts = v["timestamp"].as_str().unwrap();
        assert!(is_naive_iso(ts) && ts.len() == 26, "{ts}");
        let age = chrono::Utc::now() - parse_time(ts).unwrap();
        assert!(
            age.num_seconds().abs() < 60,
            "{ts} read as local time: {age}"
        );
        if r.kind == "historical_load" {
            assert_eq!(v["symbols"], serde_json::json!(["AAPL", "MSFT"]));
            assert_eq!(v["timespan"], "day");
        }
    }
}

#[tokio::test]
async fn control_messages_have_the_legacy_shape() {
    let bus = support::bus().await;
    let client = redis::Client::open(shared_redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub
        .subscribe(bus.keys().channel_control())
        .await
        .unwrap();
    let job = support::job(&["AAPL"]);
    bus.submit(&job).await.unwrap();
    bus.cancel(&job.id, "admin").await.unwrap();
    bus.cancel_all("operator reset", "admin").await.unwrap();
    let vectors = read_vectors("control.jsonl");
    let mut stream = pubsub.on_message();
    for v in vectors {
        let want: BTreeSet<String> = v["message"].as_object().unwrap().keys().cloned().collect();
        let msg = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap();
        let got: Value = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
        let keys: BTreeSet<String> = got.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, want, "{}", v["name"]);
    }
}

/// Writes a status vector at its key (under the bus's namespace), in its encoding.
async fn write_vector(bus: &tickstock_queue::bus::Bus, v: &Value) -> (String, String) {
    let ns = bus.keys().namespace().to_string();
    let name = v["key"].as_str().unwrap();
    let key = format!("{ns}:{name}");
    let id = name.rsplit(':').next().unwrap().to_string();
    let mut c = bus.conn();
    let _: () = c.del(&key).await.unwrap();
    let value = v["value"].as_object().unwrap();
    if v["encoding"] == "hash" {
        let fields: Vec<(String, String)> = value
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let _: () = c.hset_multiple(&key, &fields).await.unwrap();
    } else {
        let _: () = c
            .set(&key, Value::Object(value.clone()).to_string())
            .await
            .unwrap();
    }
    (key, id)
}

#[tokio::test]
async fn a_final_status_vector_stops_a_progress_write_and_others_become_our_json() {
    let bus = support::bus().await;
    for v in read_vectors("status.jsonl") {
        let name = v["name"].as_str().unwrap();
        let (key, id) = write_vector(&bus, &v).await;
        let before = support::read_like_tickstock(&bus, &key).await;
        let want = JobState::parse(v["value"]["status"].as_str().unwrap()).unwrap();
        let mut running = JobStatus::new(JobState::Running);
        running.progress = 50;
        let got = bus.put_progress_checked(&id, &running).await.unwrap();
        if want.is_terminal() {
            assert_eq!(got, ProgressWrite::Final(want), "{name}");
            assert_eq!(
                support::read_like_tickstock(&bus, &key).await,
                before,
                "{name}"
            );
        } else {
            assert_eq!(got, ProgressWrite::Written, "{name}");
            let (kind, alt) = tickstock_view(&bus, &id).await.unwrap();
            assert_eq!(
                (kind.as_str(), &alt["status"]),
                ("string", &Value::from("running"))
            );
        }
        let mut c = bus.conn();
        let _: () = c
            .del(&[bus.keys().status(&id), bus.keys().status_alt(&id)])
            .await
            .unwrap();
    }
}

/// Asserts that every field of the vector `want` is in `ours` with the same JSON type,
/// and that our times are written as TickStock writes them, our exact time beside each.
fn assert_shaped_like(what: &str, ours: &Value, want: &Value) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let ours = ours.as_object().unwrap();
    for (k, v) in want.as_object().unwrap() {
        let o = ours
            .get(k)
            .unwrap_or_else(|| panic!("{what}: no `{k}` in {ours:?}"));
        assert_eq!(kind(o), kind(v), "{what}: `{k}` is {o}, the vector has {v}");
    }
    for f in LEGACY_TIME_FIELDS {
        if let Some(t) = ours.get(*f) {
            let t = t.as_str().unwrap();
            assert!(is_naive_iso(t) && t.len() == 26, "{what}: `{f}` is {t}");
            let exact = ours[&format!("{f}_utc")].as_str().unwrap();
            assert!(exact.ends_with('Z'), "{what}: {exact}");
            assert_eq!(
                parse_time(t),
                parse_time(exact),
                "{what}: `{f}` and `{f}_utc` are one instant"
            );
        }
    }
}

#[tokio::test]
async fn our_status_values_have_the_shape_of_the_vectors() {
    let vectors: std::collections::HashMap<String, Value> = read_vectors("status.jsonl")
        .into_iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v["value"].clone()))
        .collect();
    let bus = support::bus().await;
    // Submitted.
    let j = support::job(&["AAPL", "FAIL1", "MSFT"]);
    bus.submit(&j).await.unwrap();
    let (_, submitted) = tickstock_view(&bus, &j.id).await.unwrap();
    assert_shaped_like(
        "submitted",
        &Value::Object(submitted),
        &vectors["app initial, string"],
    );
    // Running, then completed with errors (FAIL1 fails), on a worker.
    let (w, stop) = sim_worker(&bus, Duration::from_millis(300), fast_worker_config());
    let h = tokio::spawn(async move { w.run().await });
    let running = support::wait_for(Duration::from_secs(5), "running, a symbol done", || {
        let bus = bus.clone();
        let id = j.id.clone();
        async move {
            let (_, v) = tickstock_view(&bus, &id).await?;
            (v["status"] == "running" && v.contains_key("successful_symbols")).then_some(v)
        }
    })
    .await;
    assert_shaped_like(
        "running",
        &Value::Object(running),
        &vectors["worker running, string"],
    );
    wait_state(
        &bus,
        &j.id,
        JobState::CompletedWithErrors,
        Duration::from_secs(10),
    )
    .await;
    stop.cancel();
    h.await.unwrap().unwrap();
    let (_, done) = tickstock_view(&bus, &j.id).await.unwrap();
    assert_shaped_like(
        "completed with errors",
        &Value::Object(done),
        &vectors["worker completed with errors"],
    );
    // Cancelled before it started.
    let k = support::job(&["AAPL"]);
    bus.submit(&k).await.unwrap();
    bus.cancel(&k.id, "admin").await.unwrap();
    let (_, cancelled) = tickstock_view(&bus, &k.id).await.unwrap();
    assert_shaped_like(
        "cancelled",
        &Value::Object(cancelled),
        &vectors["cancelled by app"],
    );
}
