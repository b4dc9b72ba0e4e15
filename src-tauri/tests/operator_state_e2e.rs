//! End-to-end tests that the operator is told the state of what runs (the real window,
//! WebKitGTK under Xvfb, driven through tauri-driver; see `support`):
//!
//! - saving a database URL that does not answer, or a key Test Polygon has just rejected,
//!   asks first and names what failed; saved anyway, the status bar says the built-in
//!   worker is off and why;
//! - a running job whose worker went silent says so on its card, with what happens next;
//!   the Workers tab shows the worker silent with only its still active jobs, and at
//!   1024×700 its Quiet and Stop buttons are in view;
//! - a job of the built-in worker waiting for a 5/min plan outlives a Redis that restarts
//!   empty: its card stays, it completes without a request run twice or over the plan.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::page::{press, save_screenshot, wait_toast, watch_toasts};
use support::{App, AppEnv};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::status::{unix_now, JobState, JobStatus};
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::{Bus, WorkerBeat};
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::redis_server::{unique_namespace, RedisServer};

const WAIT: Duration = Duration::from_secs(20);

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
        "ops-1",
    )
}

/// Opens Settings and waits until the modal is shown.
async fn open_settings(app: &App) {
    app.wait_js(
        "no modal in the way",
        WAIT,
        "return !document.querySelector('.modal.show') && !document.querySelector('.modal-backdrop');",
    )
    .await;
    press(app, "#btn-settings").await;
    app.wait_js(
        "the settings",
        WAIT,
        "return document.getElementById('settings-modal').classList.contains('show');",
    )
    .await;
}

/// The settings' warning of what failed its check, once shown: its text and the save
/// button's label.
async fn problems_note(app: &App) -> Value {
    app.wait_js(
        "the settings' warning of what failed",
        Duration::from_secs(30),
        "const n = document.getElementById('settings-problems');
         if (n.classList.contains('d-none')) return null;
         return { text: n.textContent,
                  label: document.querySelector('#btn-save-settings .save-label').textContent,
                  open: document.getElementById('settings-modal').classList.contains('show') };",
    )
    .await
}

const SAVED_TOASTS: &str =
    "return (window.__e2eToasts || []).filter((t) => t.title === 'Settings saved').length;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_what_failed_its_check_asks_first_and_the_worker_off_is_shown() {
    let _serial = support::serial_guard().await;
    let redis = RedisServer::start();
    let namespace = unique_namespace();
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let app = App::launch(
        "settings_failed_check",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", &namespace)
            .var("TICKSTOCK_WORKER", "on")
            .polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    watch_toasts(&app).await;
    app.wait_js(
        "the built-in worker to report in",
        WAIT,
        "return document.getElementById('worker-pill').dataset.state === 'ok';",
    )
    .await;

    // A PostgreSQL URL nothing answers on: the first click names it and saves nothing.
    open_settings(&app).await;
    app.set_value(
        "#set-database-url",
        "postgres://postgres@127.0.0.1:1/tickstock_nowhere",
    )
    .await;
    press(&app, "#btn-save-settings").await;
    let note = problems_note(&app).await;
    eprintln!("{note}");
    let text = note["text"].as_str().unwrap();
    assert!(
        text.contains("Database: The database does not answer:"),
        "{note}"
    );
    assert!(
        text.contains("its built-in worker stays off until it answers"),
        "{note}"
    );
    assert_eq!(note["label"], json!("Save anyway"));
    assert_eq!(note["open"], json!(true), "nothing saved yet");
    assert_eq!(app.js(SAVED_TOASTS).await, json!(0), "nothing saved yet");
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "save-anyway.png");

    // Saved anyway: the toast and the status bar say the built-in worker is off, and why.
    press(&app, "#btn-save-settings").await;
    let saved = wait_toast(&app, "Settings saved", Duration::from_secs(30)).await;
    eprintln!("{saved}");
    assert_eq!(saved["variant"], json!("warning"), "{saved}");
    assert!(
        saved["body"]
            .as_str()
            .unwrap()
            .contains("The built-in worker is off: the database is unavailable"),
        "{saved}"
    );
    let pill = app
        .wait_js(
            "the status bar to say the worker is off",
            WAIT,
            "const p = document.getElementById('worker-pill');
             const text = p.querySelector('.pill-text').textContent;
             // The worker of the settings before may beat once more while it stops.
             return text === 'Worker off: database unavailable' ? { text, state: p.dataset.state, title: p.title } : null;",
        )
        .await;
    eprintln!("{pill}");
    assert_eq!(pill["text"], json!("Worker off: database unavailable"));
    assert_eq!(pill["state"], json!("bad"), "not green");
    assert!(
        pill["title"]
            .as_str()
            .unwrap()
            .starts_with("Built-in worker off: the database is unavailable"),
        "{pill}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "worker-off.png");

    // A key Test Polygon has just rejected: saving it asks first, naming the rejection.
    open_settings(&app).await;
    app.set_value("#set-api-key", "rejected-key-0000").await;
    press(&app, "#btn-test-polygon").await;
    let tested = app
        .wait_js(
            "Test Polygon to fail",
            WAIT,
            "const n = document.getElementById('test-polygon-result');
             return n.classList.contains('text-danger') ? n.textContent : null;",
        )
        .await;
    eprintln!("tested: {tested}");
    press(&app, "#btn-save-settings").await;
    let note = problems_note(&app).await;
    eprintln!("{note}");
    let text = note["text"].as_str().unwrap();
    assert!(
        text.contains("Polygon API key: Its test failed: Polygon rejected the API key (HTTP 401)"),
        "{note}"
    );
    assert!(
        !text.contains("rejected-key-0000"),
        "no key in the page's text"
    );
    assert_eq!(note["label"], json!("Save anyway"));
    assert_eq!(app.js(SAVED_TOASTS).await, json!(1), "the key is not saved");
    app.close().await;
}

/// Writes a worker's heartbeat as its last beat `age` seconds ago.
async fn beat(bus: &Bus, redis: &RedisServer, id: &str, jobs: &[&str], age: f64) {
    bus.write_worker_heartbeat(&WorkerBeat {
        id: id.into(),
        host: "rack-01".into(),
        pid: 4242,
        started_at: "2026-01-05T09:00:00Z".into(),
        current_jobs: jobs.iter().map(|j| j.to_string()).collect(),
        concurrency: 2,
        stopped: false,
        consume_error: None,
        legacy_ttl: Duration::from_secs(15),
    })
    .await
    .unwrap();
    if age > 0.0 {
        let status = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port().to_string(), "HSET"])
            .arg(bus.keys().worker(id))
            .arg("last_seen")
            .arg(format!("{:.3}", unix_now() - age))
            .output()
            .expect("redis-cli");
        assert!(status.status.success(), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_is_said_on_its_job_card_and_in_the_workers_tab() {
    let _serial = support::serial_guard().await;
    let redis = RedisServer::start();
    let namespace = unique_namespace();
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let app = App::launch(
        "silent_worker",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", &namespace)
            .var("TICKSTOCK_WORKER", "off")
            .polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    let bus = Bus::connect(BusConfig::new(redis.url()).with_namespace(&namespace))
        .await
        .expect("the test's Redis");

    // A job at 75 % on a worker whose last beat was 31 s ago, and a job it ran that
    // another worker has finished since; beside it, a worker that beats.
    let running = job("AAPL");
    let done = job("MSFT");
    for (j, state) in [(&running, JobState::Running), (&done, JobState::Completed)] {
        bus.submit(j).await.unwrap();
        let mut st = JobStatus::new(state);
        st.job_type = Some("historical_load".into());
        st.progress = if state == JobState::Running { 75 } else { 100 };
        st.started_at = Some((chrono::Utc::now() - chrono::Duration::seconds(120)).to_rfc3339());
        st.worker_id = Some("rack-gone-1".into());
        st.total_symbols = Some(4);
        st.processed_symbols = Some(3);
        st.extra.insert("eta_seconds".into(), json!(29));
        bus.put_status(&j.id, &st).await.unwrap();
    }
    beat(&bus, &redis, "rack-gone-1", &[&running.id, &done.id], 31.0).await;
    let live = {
        let bus = bus.clone();
        tokio::spawn(async move {
            loop {
                let _ = bus
                    .write_worker_heartbeat(&WorkerBeat {
                        id: "tickstock-worker-rack-02-913-5f2c1a".into(),
                        host: "rack-02.dc1.example.internal".into(),
                        pid: 913,
                        started_at: "2026-01-05T09:00:00Z".into(),
                        current_jobs: Vec::new(),
                        concurrency: 4,
                        stopped: false,
                        consume_error: None,
                        legacy_ttl: Duration::from_secs(15),
                    })
                    .await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };

    let card = app
        .wait_js(
            "the card to say the worker went silent",
            WAIT,
            &format!(
                "const c = document.querySelector('#active-jobs .job-card[data-job-id=\"{}\"]');
                 if (!c || c.dataset.silent !== '1') return null;
                 return {{ badge: c.querySelector('.job-status').textContent.trim(),
                          message: c.querySelector('.job-message').textContent,
                          eta: c.querySelector('.job-eta').textContent,
                          animated: c.querySelector('.progress-bar').classList.contains('progress-bar-animated') }};",
                running.id
            ),
        )
        .await;
    eprintln!("{card}");
    assert_eq!(card["badge"], json!("Worker silent"));
    let message = card["message"].as_str().unwrap();
    assert!(
        message.starts_with("Worker rack-gone-1 went silent (no heartbeat for "),
        "{card}"
    );
    assert!(
        message.ends_with(
            "another worker resumes this job from its checkpoint once its lease lapses (a minute after the last beat)."
        ),
        "{card}"
    );
    assert_eq!(card["eta"], json!("—"), "no ETA for a job nobody runs now");
    assert_eq!(card["animated"], json!(false));
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "silent-card.png");

    // The Workers tab at 1024×700: the silent worker with its one active job; Quiet and
    // Stop of the live one in view.
    app.client
        .set_window_size(1024, 700)
        .await
        .expect("resize the window");
    press(&app, "#opsc-tab-workers").await;
    let rows = app
        .wait_js(
            "both workers in the Workers tab",
            WAIT,
            "if (document.getElementById('ops-console').dataset.loaded !== 'workers') return null;
             const gone = document.querySelector('#opsc-workers tr[data-worker-id=\"rack-gone-1\"]');
             const live = document.querySelector('#opsc-workers tr[data-worker-id=\"tickstock-worker-rack-02-913-5f2c1a\"]');
             if (!gone || !live) return null;
             const cells = (tr) => [...tr.cells].map((c) => c.textContent.trim());
             return { gone: cells(gone), goneState: gone.dataset.state, live: cells(live) };",
        )
        .await;
    eprintln!("{rows}");
    assert_eq!(rows["goneState"], json!("silent"), "{rows}");
    assert_eq!(rows["gone"][8], json!("Silent"), "{rows}");
    assert_eq!(
        rows["gone"][6],
        json!(&running.id[..8]),
        "only the job still active is current: {rows}"
    );
    app.js(
        "document.querySelector('#opsc-workers tr[data-worker-id=\"tickstock-worker-rack-02-913-5f2c1a\"]').scrollIntoView({block: 'center'}); return true;",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fit = app
        .js(
            "const row = document.querySelector('#opsc-workers tr[data-worker-id=\"tickstock-worker-rack-02-913-5f2c1a\"]');
             const box = row.closest('.table-responsive');
             const c = box.getBoundingClientRect();
             const inView = (b) => { const r = b.getBoundingClientRect();
               return r.width > 0 && r.left >= c.left - 0.5 && r.right <= c.right + 0.5 && r.right <= window.innerWidth; };
             return { width: window.innerWidth, height: window.innerHeight,
                      scrolls: box.scrollWidth > box.clientWidth,
                      quiet: inView(row.querySelector('.btn-worker-quiet')),
                      stop: inView(row.querySelector('.btn-worker-stop')) };",
        )
        .await;
    eprintln!("{fit}");
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "workers-1024x700.png");
    assert!(fit["width"].as_f64().unwrap() <= 1024.0, "{fit}");
    assert_eq!(fit["scrolls"], json!(false), "the table fits: {fit}");
    assert_eq!(fit["quiet"], json!(true), "{fit}");
    assert_eq!(fit["stop"], json!(true), "{fit}");
    live.abort();
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_the_built_in_worker_outlives_redis_restarting_empty_on_a_limited_plan() {
    let _serial = support::serial_guard().await;
    let mut redis = RedisServer::start();
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    polygon.set_rate_limit(5, Duration::from_secs(60), true);
    let app = App::launch(
        "redis_emptied_limited",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", unique_namespace())
            .var("TICKSTOCK_WORKER", "on")
            .polygon(&polygon.base_url(), polygon.api_key())
            .var("POLYGON_RPM", "5"),
    )
    .await;
    watch_toasts(&app).await;
    app.wait_js(
        "the built-in worker to report in",
        WAIT,
        "return document.getElementById('worker-pill').dataset.state === 'ok';",
    )
    .await;
    let symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA"];
    app.select("#load-type", "historical_load").await;
    app.type_into("#symbols", &symbols.join(", ")).await;
    app.select("#duration", "1").await;
    app.select("#timespan", "day").await;
    app.wait_js(
        "the submit button to be enabled",
        WAIT,
        "const b = document.getElementById('btn-submit'); return !b.disabled;",
    )
    .await;
    press(&app, "#btn-submit").await;
    // Seven requests on a 5/min plan: the job waits most of a minute for the sixth.
    let id = app
        .wait_js(
            "the job to wait for the plan",
            Duration::from_secs(40),
            "const c = document.querySelector('#active-jobs .job-card');
             return c && /waiting for the Polygon rate limit/.test(c.textContent) ? c.dataset.jobId : null;",
        )
        .await
        .as_str()
        .expect("job id")
        .to_string();

    // Redis restarts with nothing: the job's status, its claim and the stream are gone.
    tokio::task::block_in_place(|| redis.restart_empty());
    // The worker that runs it writes them back: the card stays (or comes back) and the
    // job completes, each symbol's bars asked for once, none over the plan.
    app.wait_js(
        "the job's card after the restart",
        WAIT,
        &format!(
            "return !!document.querySelector('#active-jobs .job-card[data-job-id=\"{id}\"]');"
        ),
    )
    .await;
    app.wait_js(
        "the history row to say Completed",
        Duration::from_secs(180),
        &format!(
            "const r = document.querySelector('#history-table tbody tr[data-job-id=\"{id}\"] .job-status');
             return r && r.dataset.status === 'completed';"
        ),
    )
    .await;
    // The end is announced as the job's own (not "left the active list").
    let mut toasts = json!([]);
    for _ in 0..20 {
        toasts = app.js("return window.__e2eToasts || [];").await;
        if toasts
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["title"] == "Job completed"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        toasts
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["title"] == "Job completed")),
        "no \"Job completed\" toast; the page raised {toasts}"
    );
    let requests = polygon.requests();
    let t0 = requests.first().map(|r| r.time);
    let seen: Vec<String> = requests
        .iter()
        .map(|r| {
            let at = t0.map_or(0.0, |t| r.time.duration_since(t).as_secs_f64());
            format!("{at:.1}s {}?{}", r.path, r.query)
        })
        .collect();
    let bar_requests = requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/aggs/ticker/"))
        .count();
    assert_eq!(
        polygon.over_limit(),
        0,
        "a request went over the plan: {seen:#?}"
    );
    assert_eq!(
        bar_requests,
        symbols.len(),
        "one bars request per symbol: {seen:#?}"
    );
    let row = app
        .wait_js(
            "the history row to say Completed",
            WAIT,
            &format!(
                "const r = document.querySelector('#history-table tbody tr[data-job-id=\"{id}\"] .job-status');
                 return r && r.dataset.status === 'completed' ? r.textContent.trim() : null;"
            ),
        )
        .await;
    assert_eq!(row, json!("Completed"), "{}", app.log_tail());
    app.close().await;
    drop(redis);
}
