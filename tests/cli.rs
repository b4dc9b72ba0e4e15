//! The `tickstock` binary: submit, status, jobs, cancel, health; exit codes and JSON; and
//! the times it writes as TickStock reads them, whatever the zone of the writer.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use redis::AsyncCommands;
use serde_json::Value;
use tickstock_testkit::redis_server::{shared_redis_url, unique_namespace};

use crate::support::{self, bin, is_naive_iso, tickstock_view, wait_for};

fn run(ns: &str, args: &[&str]) -> Output {
    Command::new(bin("tickstock"))
        .args(args)
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", ns)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tickstock")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn each_submit_command_prints_a_job_id_and_the_job_is_listed() {
    let ns = unique_namespace();
    let cases: &[&[&str]] = &[
        &[
            "submit",
            "historical-load",
            "--symbols",
            "AAPL,MSFT",
            "--years",
            "1",
            "--timespan",
            "day",
        ],
        &[
            "submit",
            "multi-timeframe",
            "--symbols",
            "AAPL",
            "--timeframes",
            "hour,day",
            "--years",
            "0.5",
        ],
        &[
            "submit",
            "universe-seed",
            "--universe",
            "SP500",
            "--years",
            "2",
        ],
        &[
            "submit",
            "csv-universe",
            "--universe-key",
            "SPY:nasdaq100",
            "--timeframes",
            "day",
            "--years",
            "1",
        ],
        &[
            "submit",
            "historical-load",
            "--symbols",
            "TSLA",
            "--from",
            "2024-01-02",
            "--to",
            "2024-12-31",
        ],
    ];
    let mut ids = Vec::new();
    for args in cases {
        let o = run(&ns, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let id = stdout(&o);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        ids.push(id);
    }
    let o = run(&ns, &["jobs", "--json"]);
    assert!(o.status.success());
    let list: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["job_id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()));
    }
    assert_eq!(list[0]["status"]["status"], "submitted");

    let o = run(&ns, &["status", &ids[0], "--json"]);
    let st: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(st["job_id"], ids[0].as_str());
    assert_eq!(st["status"]["status"], "submitted");
    assert_eq!(st["status"]["job_type"], "historical_load");
    let o = run(&ns, &["status", &ids[0]]);
    assert!(stdout(&o).contains("status   submitted"));

    let o = run(&ns, &["cancel", &ids[1], "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(c["state"], "cancelled");
    let o = run(&ns, &["cancel", "--all", "--json"]);
    let c: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(c["cancelled"], 4);
    let o = run(&ns, &["jobs", "--active", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_problem() {
    let ns = unique_namespace();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL,aapl",
                "--years",
                "1",
            ],
            "`AAPL` is listed twice",
        ),
        (
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AA$PL",
                "--years",
                "1",
            ],
            "not a valid ticker",
        ),
        (
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL",
                "--years",
                "31",
            ],
            "at most 30",
        ),
        (
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL",
                "--years",
                "1",
                "--timespan",
                "5min",
            ],
            "Unknown timeframe \"5min\"",
        ),
        (
            &[
                "submit",
                "multi-timeframe",
                "--symbols",
                "AAPL",
                "--timeframes",
                "hour,fortnight",
            ],
            "\"fortnight\"",
        ),
        (
            &["submit", "universe-seed", "--universe", "SP501"],
            "nknown universe key `SP501`",
        ),
        (
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL",
                "--from",
                "2024-05-01",
                "--to",
                "2024-01-01",
            ],
            "after end date",
        ),
        (
            &[
                "submit",
                "historical-load",
                "--symbols",
                "AAPL",
                "--redis-url",
                "http://example",
            ],
            "scheme `http`",
        ),
        (&["status"], "JOB_ID"),
    ];
    for (args, text) in cases {
        let o = run(&ns, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(text), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    // Nothing was submitted.
    let o = run(&ns, &["jobs", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn failures_exit_1_without_secrets() {
    let ns = unique_namespace();
    let o = run(&ns, &["status", "no-such-job"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No job `no-such-job`"));
    let o = Command::new(bin("tickstock"))
        .args(["health", "--json"])
        .env("REDIS_URL", "redis://admin:hunter2-secret@127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let h: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(h["redis"]["connected"], false);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains("hunter2-secret"), "{all}");
    assert!(all.contains("***"));
}

#[test]
fn health_json_is_stable() {
    let ns = unique_namespace();
    let o = run(&ns, &["health", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let h: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(h["redis"]["connected"], true);
    assert!(h["redis"]["rtt_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        h["queue"],
        serde_json::json!({"waiting": 0, "in_flight": 0, "dead": 0})
    );
    assert_eq!(h["workers"], serde_json::json!([]));
    assert_eq!(h["legacy_heartbeat"]["present"], false);
}

#[test]
fn submit_accepts_universes_imported_into_the_database_named_by_database_url() {
    let ns = unique_namespace();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let csv = dir.path().join("mine.csv");
    std::fs::write(&csv, "symbol,name\nAAPL,Apple\nMSFT,Microsoft\n").unwrap();
    let o = run(
        &ns,
        &[
            "universe",
            "import",
            "mine_set",
            csv.to_str().unwrap(),
            "--database-url",
            &db,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let args = ["submit", "csv-universe", "--universe-key", "mine_set:dow30"];
    let o = run(&ns, &args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "without the database the key is unknown"
    );
    assert!(
        stderr(&o).contains("Unknown universe key `mine_set`"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(bin("tickstock"))
        .args(args)
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", &ns)
        .env("DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(uuid::Uuid::parse_str(&stdout(&o)).is_ok());
}

fn run_with_db(ns: &str, db: &str, args: &[&str]) -> Output {
    Command::new(bin("tickstock"))
        .args(args)
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", ns)
        .env("DATABASE_URL", db)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tickstock")
}

/// `cleanup` and `clear` act on Redis and on the history of `DATABASE_URL`, as the app's
/// buttons do: a job left running by a worker that is gone is marked failed in both, a
/// live one is left alone, and `clear` deletes only finished jobs by id prefix.
#[tokio::test]
async fn cleanup_and_clear_from_the_command_line() {
    use tickstock_protocol::status::{JobState, JobStatus};
    let ns = unique_namespace();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let submit = |sym: &str| {
        let o = run_with_db(
            &ns,
            &db,
            &[
                "submit",
                "historical-load",
                "--symbols",
                sym,
                "--years",
                "1",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let (old, fresh) = (submit("OLD"), submit("NEW"));
    let store = tickstock_data::store::Store::connect(&db).await.unwrap();
    assert_eq!(
        store.job_run(&old).await.unwrap().unwrap().status,
        "submitted",
        "the submit is in the history"
    );
    let bus = support::bus_at(&shared_redis_url(), &ns).await;
    let running = |ago_minutes: i64| {
        let t = (Utc::now() - chrono::Duration::minutes(ago_minutes)).to_rfc3339();
        let mut st = JobStatus::new(JobState::Running);
        st.worker_id = Some("gone-worker".into());
        st.started_at = Some(t.clone());
        st.extra.insert("timestamp".into(), t.into());
        st
    };
    bus.put_status(&old, &running(11)).await.unwrap();
    bus.put_status(&fresh, &running(0)).await.unwrap();

    let o = run_with_db(&ns, &db, &["cleanup", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["marked"], 1, "{v}");
    assert_eq!(
        bus.status(&old).await.unwrap().unwrap().state,
        JobState::Failed
    );
    assert_eq!(
        bus.status(&fresh).await.unwrap().unwrap().state,
        JobState::Running
    );
    assert_eq!(store.job_run(&old).await.unwrap().unwrap().status, "failed");

    let o = run_with_db(&ns, &db, &["clear", "--prefix", "ab"]);
    assert_eq!(o.status.code(), Some(2), "a short prefix is refused");
    assert!(
        stderr(&o).contains("at least 4 characters"),
        "{}",
        stderr(&o)
    );
    let o = run_with_db(&ns, &db, &["clear", "--prefix", &old[..8]]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1 finished job cleared");
    assert!(bus.status(&old).await.unwrap().is_none());
    assert!(store.job_run(&old).await.unwrap().is_none());
    let o = run_with_db(&ns, &db, &["clear", "--prefix", &fresh[..8], "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["cleared"], 0, "a running job stays");
    assert!(store.job_run(&fresh).await.unwrap().is_some());
    store.close().await;
}

/// A time field as TickStock's stale-job cleanup reads it: `datetime.fromisoformat`, any
/// offset dropped (the wall time as written is kept).
fn tickstock_parse(s: &str) -> NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.naive_local())
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .unwrap_or_else(|e| panic!("TickStock could not parse `{s}`: {e}"))
}

/// "Now" as a program in `tz` sees it on its wall clock: what TickStock's
/// `datetime.now()` returns on a server in that zone (the system's zone database, through
/// `date`, independent of our code).
fn naive_now_in(tz: &str) -> NaiveDateTime {
    let o = Command::new("date")
        .env("TZ", tz)
        .arg("+%Y-%m-%dT%H:%M:%S.%N")
        .output()
        .expect("run date");
    let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("date printed `{text}`: {e}"))
}

#[tokio::test]
async fn tickstock_reads_the_right_age_from_our_times_in_the_writers_zone() {
    for tz in ["America/Chicago", "Asia/Tokyo"] {
        // The zone is hours away from UTC: a UTC time with its offset dropped would look
        // hours old (or hours ahead) to TickStock's stale-job cleanup there.
        let skew = naive_now_in(tz) - Utc::now().naive_utc();
        assert!(skew.num_minutes().abs() >= 60, "{tz} is {skew} from UTC");

        let ns = unique_namespace();
        let bus = support::bus_at(&shared_redis_url(), &ns).await;
        let o = Command::new(bin("tickstock"))
            .args([
                "submit",
                "historical-load",
                "--symbols",
                "AAPL,MSFT,NVDA,AMZN,GOOGL",
                "--years",
                "1",
            ])
            .env("REDIS_URL", shared_redis_url())
            .env("TICKSTOCK_NAMESPACE", &ns)
            .env("TZ", tz)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let id = stdout(&o);

        let mut times: Vec<(String, String)> = Vec::new();
        // The job message, as TickStockPL receives it.
        let mut c = bus.conn();
        let entries: redis::streams::StreamRangeReply =
            c.xrange_all(bus.keys().stream()).await.unwrap();
        let text: String = redis::from_redis_value(&entries.ids[0].map["job"]).unwrap();
        let message: Value = serde_json::from_str(&text).unwrap();
        times.push((
            "message timestamp".into(),
            message["timestamp"].as_str().unwrap().into(),
        ));
        for key in [bus.keys().status(&id), bus.keys().status_alt(&id)] {
            let (_, v) = support::read_like_tickstock(&bus, &key).await.unwrap();
            times.push((
                format!("{key} submitted_at"),
                v["submitted_at"].as_str().unwrap().into(),
            ));
        }
        // A worker in the same zone picks it up: `started_at` and `timestamp`, the fields
        // TickStock's stale-job cleanup reads.
        let mut worker = Command::new(bin("sim-worker"))
            .args(["--redis-url", &shared_redis_url(), "--namespace", &ns])
            .args(["--ms-per-symbol", "300"])
            .env("TZ", tz)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let running = wait_for(Duration::from_secs(10), "the job to run", || async {
            let (_, v) = tickstock_view(&bus, &id).await?;
            (v["status"] == "running" && v.contains_key("timestamp")).then_some(v)
        })
        .await;
        worker.kill().unwrap();
        worker.wait().unwrap();
        for f in ["started_at", "timestamp"] {
            times.push((format!("worker {f}"), running[f].as_str().unwrap().into()));
        }

        let now = naive_now_in(tz);
        for (what, t) in &times {
            assert!(is_naive_iso(t), "{tz} {what}: `{t}` has an offset");
            let age = now - tickstock_parse(t);
            assert!(
                age.num_seconds().abs() < 60,
                "{tz} {what}: `{t}` is {age} old to TickStock at {now}"
            );
        }
    }
}

#[test]
fn worker_stops_cleanly_on_sigterm() {
    // systemd's and docker's stop: the worker leaves the worker list as stopped and exits 0.
    let ns = unique_namespace();
    let dir = tempfile::tempdir().unwrap();
    let mut worker = Command::new(bin("tickstock"))
        .args(["worker", "--worker-id", "sigterm-test"])
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", &ns)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("w.sqlite").display()),
        )
        .env("POLYGON_API_KEY", "unused")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listed = |stopped: bool| {
        let o = run(&ns, &["health", "--json"]);
        let h: Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
        h["workers"].as_array().is_some_and(|ws| {
            ws.iter()
                .any(|w| w["id"] == "sigterm-test" && w["stopped"] == stopped)
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !listed(false) {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never registered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = worker.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(listed(true), "the worker is not listed as stopped");
}

/// Every way in from the command line goes through the job service: `submit`, `top-up`,
/// `dead requeue` and `splits --reload` each write their job's one history row (in
/// `DATABASE_URL`) at submit, and refuse a job identical to an active one (exit 2, naming
/// it) unless `--allow-duplicate`.
#[tokio::test]
async fn each_way_in_records_one_history_row_and_refuses_an_active_duplicate() {
    use crate::support::{history_ids, sorted};
    let ns = unique_namespace();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    let ok = |args: &[&str]| {
        let o = run_with_db(&ns, &db, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let refused = |args: &[&str], active: &str| {
        let o = run_with_db(&ns, &db, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(active) && e.contains("--allow-duplicate"), "{e}");
    };

    let submit = [
        "submit",
        "historical-load",
        "--symbols",
        "AAPL",
        "--years",
        "1",
    ];
    let submitted = ok(&submit);
    refused(&submit, &submitted);

    let top_up = ["top-up", "--symbols", "MSFT", "--timeframes", "day"];
    let topped = ok(&top_up);
    refused(&top_up, &topped);
    let forced = ok(&[
        "top-up",
        "--symbols",
        "MSFT",
        "--timeframes",
        "day",
        "--allow-duplicate",
    ]);
    assert_ne!(forced, topped);

    // A dead letter of the same work as the submitted job waits until that one ended.
    let bus = support::bus_at(&shared_redis_url(), &ns).await;
    let dead_job = support::job(&["AAPL"]);
    let entry = tickstock_queue::bus::StreamEntry {
        id: "1-0".into(),
        fields: [("job".to_string(), dead_job.to_json())].into(),
        deliveries: 6,
    };
    bus.dead_letter(&entry, "delivered 6 times", "w1")
        .await
        .unwrap();
    let dead_id = bus.dead_letters(10).await.unwrap()[0].id.clone();
    refused(&["dead", "requeue", &dead_id], &submitted);
    ok(&["cancel", &submitted]);
    assert_eq!(ok(&["dead", "requeue", &dead_id]), dead_job.id);

    // A flagged symbol's reload, twice: the second finds the first still active.
    let store = tickstock_data::store::Store::connect(&db).await.unwrap();
    let day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(5, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    let bar = |t: i64| tickstock_protocol::bars::Bar {
        t,
        o: 1.0,
        h: 1.0,
        l: 1.0,
        c: 1.0,
        v: 1.0,
        vw: None,
        n: None,
    };
    store
        .write_bars(
            "NVDA",
            tickstock_protocol::Timeframe::Day,
            &[bar(day("2025-11-14")), bar(day("2025-11-18"))],
        )
        .await
        .unwrap();
    let flag = || tickstock_data::store::SplitCheckRow {
        symbol: "NVDA".into(),
        execution_date: chrono::NaiveDate::from_ymd_opt(2025, 11, 17).unwrap(),
        split_from: 1.0,
        split_to: 4.0,
        state: tickstock_data::splits::FLAGGED.into(),
        detail: None,
        reload_jobs: Vec::new(),
        seen_at: None,
        updated_at: None,
    };
    store.upsert_split_check(&flag()).await.unwrap();
    let reload = ["splits", "--reload", "--no-check", "--json"];
    let first: Value = serde_json::from_str(&ok(&reload)).unwrap();
    let reload_id = first[0]["job_ids"][0].as_str().unwrap().to_string();
    assert!(first[0].get("already_active").is_none(), "{first}");
    store.upsert_split_check(&flag()).await.unwrap();
    let second: Value = serde_json::from_str(&ok(&reload)).unwrap();
    assert_eq!(
        second,
        serde_json::json!([{"symbol": "NVDA", "job_ids": [reload_id], "already_active": [reload_id]}])
    );

    assert_eq!(
        history_ids(&store).await,
        sorted(&[&submitted, &topped, &forced, &dead_job.id, &reload_id])
    );
    for id in [&topped, &forced, &reload_id] {
        assert_eq!(
            store.job_run(id).await.unwrap().unwrap().status,
            "submitted"
        );
    }
    assert_eq!(
        store.job_run(&dead_job.id).await.unwrap().unwrap().status,
        "queued"
    );
    store.close().await;
}

/// The page shows the first eight characters of a job id: `status` and `cancel` take a
/// unique start of an id, and say so when a start is shared by several jobs.
#[tokio::test]
async fn status_and_cancel_take_the_eight_characters_the_page_shows() {
    let ns = unique_namespace();
    let o = run(
        &ns,
        &[
            "submit",
            "historical-load",
            "--symbols",
            "AAPL",
            "--from",
            "2024-01-02",
            "--to",
            "2024-01-31",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o);
    let o = run(&ns, &["status", &id[..8], "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(st["job_id"], id.as_str());
    // Two jobs whose ids start alike: that start names neither.
    let bus = support::bus_at(&shared_redis_url(), &ns).await;
    for tail in ["1111-4111-8111-111111111111", "2222-4222-8222-222222222222"] {
        let mut j = support::job(&["MSFT"]);
        j.id = format!("abcd{tail}");
        bus.submit(&j).await.unwrap();
    }
    let o = run(&ns, &["status", "abcd"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("\"abcd\" is the start of 2 jobs"),
        "{}",
        stderr(&o)
    );
    let o = run(&ns, &["cancel", &id[..8], "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(c["state"], "cancelled", "{c}");
}

/// `tickstock history | head` used to end in a panic about a broken pipe: output into a
/// pipe its reader has closed ends the command quietly.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let ns = unique_namespace();
    for cmd in ["jobs", "health", "queue"] {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("{ sleep 0.3; \"$0\" \"$1\"; echo \"exit $?\" >&2; } | true")
            .arg(bin("tickstock"))
            .arg(cmd)
            .env("REDIS_URL", shared_redis_url())
            .env("TICKSTOCK_NAMESPACE", &ns)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        assert!(!err.contains("Broken pipe"), "{cmd}: {err}");
        assert!(err.contains("exit 0"), "{cmd}: {err}");
    }
}

/// `tickstock queue` prints its table on stdout and its warning on stderr, on a line of its
/// own after the table: the table's last line is the last job's row.
#[test]
fn queue_warns_on_stderr_on_its_own_line_after_the_table() {
    let ns = unique_namespace();
    let o = run(
        &ns,
        &[
            "submit",
            "historical-load",
            "--symbols",
            "AAPL",
            "--years",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o);
    let o = run(&ns, &["queue"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.ends_with('\n'), "{out:?}");
    let last = out.lines().last().unwrap();
    assert!(
        last.trim_start().starts_with(&id) && last.trim_end().ends_with(" s"),
        "the last line is the job's row: {out}"
    );
    assert!(!out.contains("warning"), "{out}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "warning: no live worker is listening: 1 job waits until one starts (tickstock worker, or the app's built-in worker)\n"
    );
    // Nothing waiting: nothing to warn about.
    let o = run(&unique_namespace(), &["queue"]);
    assert_eq!(stderr(&o), "", "{}", stdout(&o));
}
