//! End-to-end tests of the Operations card in the real window (WebKitGTK under Xvfb,
//! driven through tauri-driver; see `support`):
//!
//! - Redis mode (a private `redis-server`): Pause holds jobs waiting as compact rows with
//!   their ages and every worker sees the pause; Resume lets them run; a worker is told to
//!   be quiet, resumed and stopped through Redis; dead letters are requeued, deleted and
//!   purged; each tab is screenshot in light and dark mode;
//! - embedded mode over an SQLite history prepared beforehand: the Dashboard's totals and
//!   charts over 24 hours and 7 days, the Polygon chart, and the Queue, Workers and Dead
//!   letters tabs saying what needs Redis mode.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Duration as Span, TimeZone, Utc};
use serde_json::{json, Value};
use support::{App, AppEnv};
use tickstock_data::store::{JobRun, Store};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::{Bus, Gate, StreamEntry, WorkerBeat};
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::redis_server::{unique_namespace, RedisServer};

const WAIT: Duration = Duration::from_secs(20);

async fn click_visible(app: &App, css: &str) {
    let clicked = app
        .js_args(
            "const e = document.querySelector(arguments[0]);
             if (!e || e.disabled) return false;
             e.scrollIntoView({block: 'center'});
             e.click();
             return true;",
            vec![json!(css)],
        )
        .await;
    assert_eq!(clicked, json!(true), "no enabled element {css} to click");
}

/// Answers the confirmation modal with its confirm button, once it is fully shown (the
/// page focuses the button then).
async fn confirm(app: &App) {
    app.wait_js(
        "the confirmation",
        WAIT,
        "return document.getElementById('confirm-modal').classList.contains('show')
           && document.querySelectorAll('.modal-backdrop.show').length === 1
           && document.activeElement && document.activeElement.id === 'btn-confirm';",
    )
    .await;
    // Past the fade-in (Bootstrap ignores a hide while it runs).
    tokio::time::sleep(Duration::from_millis(400)).await;
    click_visible(app, "#btn-confirm").await;
    app.wait_js(
        "the confirmation to close",
        WAIT,
        "const m = document.getElementById('confirm-modal');
         return !m.classList.contains('show') && getComputedStyle(m).display === 'none'
           && !document.querySelector('.modal-backdrop');",
    )
    .await;
}

/// Opens a tab of the Operations card and waits for its first load.
async fn open_tab(app: &App, tab: &str) {
    click_visible(app, &format!("#opsc-tab-{tab}")).await;
    let name = if tab == "dash" { "dash" } else { tab };
    app.wait_js(
        &format!("the {tab} tab to load"),
        WAIT,
        &format!("return document.getElementById('ops-console').dataset.loaded === '{name}';"),
    )
    .await;
}

/// Sets the colour scheme through the header's toggle's own switch.
async fn scheme(app: &App, want: &str) {
    app.js_args(
        "for (let i = 0; i < 3 && document.documentElement.dataset.bsTheme !== arguments[0]; i++) {
           document.getElementById('btn-theme').click();
         }
         document.getElementById('ops-console').scrollIntoView({block: 'start'});
         return document.documentElement.dataset.bsTheme;",
        vec![json!(want)],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn shot(app: &App, name: &str) {
    let png = app.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = app.artifacts.join(name);
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    // `UPDATE_SCREENSHOT=1` also keeps the dashboard as the README's console picture.
    if name == "dashboard-light.png" && std::env::var("UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = std::path::Path::new(support::REPO_ROOT).join("docs");
        std::fs::create_dir_all(&docs).expect("create docs/");
        std::fs::write(docs.join("console.png"), &png).expect("write docs/console.png");
        eprintln!("updated docs/console.png");
    }
}

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
        "e2e",
    )
}

async fn rows(app: &App, table: &str) -> Vec<String> {
    let v = app
        .js_args(
            "return [...document.querySelectorAll(arguments[0] + ' tbody tr[data-job-id]')].map((r) => r.dataset.jobId);",
            vec![json!(table)],
        )
        .await;
    serde_json::from_value(v).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_mode_pauses_the_queue_commands_workers_and_handles_dead_letters() {
    let _serial = support::serial_guard().await;
    let redis = RedisServer::start();
    let namespace = unique_namespace();
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let app = App::launch(
        "console_redis",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", &namespace)
            .var("TICKSTOCK_WORKER", "on")
            .polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    let bus = Bus::connect(BusConfig::new(redis.url()).with_namespace(&namespace))
        .await
        .expect("the test's Redis");
    app.wait_js(
        "the built-in worker to report in",
        WAIT,
        "return document.getElementById('worker-pill').dataset.state === 'ok';",
    )
    .await;

    // Queue: pause (asked first), then three jobs wait as rows with their ages.
    open_tab(&app, "queue").await;
    assert_eq!(
        app.text("#opsc-queue-state").await.as_deref(),
        Some("Running")
    );
    click_visible(&app, "#btn-queue-pause").await;
    confirm(&app).await;
    app.wait_js(
        "the queue to show paused",
        WAIT,
        "return document.getElementById('opsc-queue-state').dataset.state === 'paused';",
    )
    .await;
    let pause = bus.queue_paused().await.unwrap().expect("paused in Redis");
    // Requested by the operator: no name set in Settings, so this machine's user.
    assert_eq!(
        Some(pause.requested_by.clone()),
        tickstock_protocol::settings::os_user()
    );
    assert_eq!(bus.worker_gate("any-worker").await.unwrap(), Gate::Hold);
    // A worker already waiting in a read when the pause lands hands back what the read
    // returns (tests/console.rs): nothing starts from here on.
    let jobs: Vec<Job> = ["AAPL", "MSFT", "NVDA"].iter().map(|s| job(s)).collect();
    for j in &jobs {
        bus.submit(j).await.unwrap();
    }
    app.wait_js(
        "three waiting rows",
        WAIT,
        "return document.querySelectorAll('#opsc-waiting tbody tr[data-job-id]').length === 3;",
    )
    .await;
    let waiting = rows(&app, "#opsc-waiting").await;
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(waiting, ids, "oldest first");
    let ages = app
        .js("return [...document.querySelectorAll('#opsc-waiting .opsc-age')].map((c) => c.textContent);")
        .await;
    assert!(
        ages.as_array()
            .unwrap()
            .iter()
            .all(|a| a.as_str().unwrap().ends_with(" s")),
        "{ages}"
    );
    // Paused: nothing starts while we look.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rows(&app, "#opsc-waiting").await.len(),
        3,
        "a job started while paused"
    );
    assert!(polygon.requests_for("AAPL") == 0);
    scheme(&app, "light").await;
    shot(&app, "queue-light.png").await;
    scheme(&app, "dark").await;
    shot(&app, "queue-dark.png").await;
    click_visible(&app, "#btn-queue-pause").await; // Resume: no question
    app.wait_js(
        "the queue to run and empty",
        Duration::from_secs(40),
        "return document.getElementById('opsc-queue-state').dataset.state === 'running'
           && !document.querySelector('#opsc-waiting tbody tr[data-job-id]');",
    )
    .await;
    assert!(bus.queue_paused().await.unwrap().is_none());

    // Workers: a worker elsewhere is told to be quiet, resumed, then stopped.
    let beat = WorkerBeat {
        id: "rack-worker-1".into(),
        host: "rack-01".into(),
        pid: 913,
        started_at: Utc::now().to_rfc3339(),
        current_jobs: vec![],
        concurrency: 4,
        stopped: false,
        consume_error: None,
        legacy_ttl: Duration::from_secs(30),
    };
    bus.write_worker_heartbeat(&beat).await.unwrap();
    open_tab(&app, "workers").await;
    let row = "#opsc-workers tr[data-worker-id=\"rack-worker-1\"]";
    app.wait_js(
        "the rack worker's row",
        WAIT,
        &format!("return !!document.querySelector('{row}');"),
    )
    .await;
    let cells = app
        .js(&format!(
            "return [...document.querySelector('{row}').cells].map((c) => c.textContent.trim());"
        ))
        .await;
    assert_eq!(cells[1], "rack-01", "{cells}");
    assert_eq!(cells[2], "913", "{cells}");
    assert_eq!(cells[5], "4", "{cells}");
    assert_eq!(cells[8], "Running", "{cells}");
    assert_eq!(
        app.js("return !!document.querySelector('#opsc-workers tr .badge.text-bg-primary');")
            .await,
        json!(true),
        "the app's own worker is marked"
    );
    click_visible(&app, &format!("{row} .btn-worker-quiet")).await;
    confirm(&app).await;
    app.wait_js(
        "the worker to show quiet",
        WAIT,
        &format!("return document.querySelector('{row}').dataset.state === 'quiet';"),
    )
    .await;
    assert_eq!(bus.worker_gate("rack-worker-1").await.unwrap(), Gate::Hold);
    scheme(&app, "dark").await;
    shot(&app, "workers-dark.png").await;
    click_visible(&app, &format!("{row} .btn-worker-resume")).await;
    app.wait_js(
        "the worker to run again",
        WAIT,
        &format!("return document.querySelector('{row}').dataset.state === 'running';"),
    )
    .await;
    assert_eq!(bus.worker_gate("rack-worker-1").await.unwrap(), Gate::Open);
    click_visible(&app, &format!("{row} .btn-worker-stop")).await;
    confirm(&app).await;
    app.wait_js(
        "the worker to show stopping",
        WAIT,
        &format!("return document.querySelector('{row}').dataset.state === 'stopping';"),
    )
    .await;
    assert_eq!(bus.worker_gate("rack-worker-1").await.unwrap(), Gate::Stop);

    // Dead letters: requeue one, delete one, purge the rest.
    let dead_jobs: Vec<Job> = ["IBM", "MMM", "KO"].iter().map(|s| job(s)).collect();
    for (i, j) in dead_jobs.iter().enumerate() {
        let entry = StreamEntry {
            id: format!("{}-{i}", 1_700_000_000_000u64 + i as u64),
            fields: HashMap::from([
                ("job".to_string(), j.to_json()),
                ("job_id".to_string(), j.id.clone()),
            ]),
            deliveries: 5,
        };
        bus.dead_letter(
            &entry,
            "Delivered 5 times without finishing",
            "rack-worker-1",
        )
        .await
        .unwrap();
    }
    open_tab(&app, "dead").await;
    app.wait_js(
        "three dead letters",
        WAIT,
        "return document.querySelectorAll('#opsc-dead tbody tr[data-dead-id]').length === 3;",
    )
    .await;
    let first = app
        .js("const r = document.querySelector('#opsc-dead tbody tr[data-dead-id]'); return [...r.cells].map((c) => c.textContent.trim());")
        .await;
    assert_eq!(first[2], "Delivered 5 times without finishing", "{first}");
    assert_eq!(first[3], "5", "{first}");
    scheme(&app, "light").await;
    shot(&app, "dead-light.png").await;
    scheme(&app, "dark").await;
    shot(&app, "dead-dark.png").await;
    let requeue = &dead_jobs[2]; // newest first: KO is the first row
    click_visible(
        &app,
        &format!(
            "#opsc-dead tr[data-job-id=\"{}\"] .btn-dead-requeue",
            requeue.id
        ),
    )
    .await;
    app.wait_js(
        "two dead letters",
        WAIT,
        "return document.querySelectorAll('#opsc-dead tbody tr[data-dead-id]').length === 2;",
    )
    .await;
    let st = bus
        .status(&requeue.id)
        .await
        .unwrap()
        .expect("the requeued job has a status");
    assert!(st.state.is_active() || st.state.is_terminal(), "{st:?}");
    assert_eq!(bus.dead_letters(10).await.unwrap().len(), 2);
    click_visible(
        &app,
        &format!(
            "#opsc-dead tr[data-job-id=\"{}\"] .btn-dead-delete",
            dead_jobs[1].id
        ),
    )
    .await;
    confirm(&app).await;
    app.wait_js(
        "one dead letter",
        WAIT,
        "return document.querySelectorAll('#opsc-dead tbody tr[data-dead-id]').length === 1;",
    )
    .await;
    click_visible(&app, "#btn-dead-purge").await;
    confirm(&app).await;
    app.wait_js(
        "no dead letters",
        WAIT,
        "return document.querySelectorAll('#opsc-dead tbody tr[data-dead-id]').length === 0;",
    )
    .await;
    assert!(bus.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(
        app.js("return document.getElementById('btn-dead-purge').disabled;")
            .await,
        json!(true)
    );
    app.close().await;
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_dashboard_charts_history_and_says_what_needs_redis() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let now = Utc::now();
    let midnight = chrono::Local
        .from_local_datetime(
            &chrono::Local::now()
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        )
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    // (status, bars, ended this long ago)
    let spec = [
        ("completed", 5000, Span::minutes(2)),
        ("completed", 2500, Span::minutes(4)),
        ("failed", 0, Span::minutes(6)),
        ("completed", 900, Span::hours(30)),
        ("completed", 700, Span::days(3)),
    ];
    let dir = App::fresh_dirs();
    let db = App::default_sqlite_in(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let (mut completed, mut failed, mut bars) = (0, 0, 0);
    {
        let store = Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for (i, (status, n, ago)) in spec.iter().enumerate() {
            let end = now - *ago;
            if end >= midnight {
                completed += u64::from(*status == "completed");
                failed += u64::from(*status == "failed");
                bars += *n as u64;
            }
            let mut r = JobRun::new(
                format!("dash{i:04}-e2e"),
                "historical_load",
                json!({"symbols": ["AAPL"]}),
            );
            r.status = status.to_string();
            r.bars_loaded = *n;
            r.submitted_at = Some(end - Span::seconds(50));
            r.started_at = Some(end - Span::seconds(50));
            r.completed_at = Some(end);
            store.upsert_job_run(&r).await.unwrap();
        }
        store.close().await;
    }
    let app = App::launch_in(
        "console_embedded",
        AppEnv::new()
            .embedded()
            .polygon(&polygon.base_url(), polygon.api_key())
            .var("POLYGON_RPM", "5"),
        dir,
    )
    .await;

    open_tab(&app, "queue").await;
    let note = app.text("#opsc-queue-note").await.unwrap_or_default();
    assert!(note.contains("need Redis mode"), "{note}");
    assert_eq!(
        app.js("return document.getElementById('btn-queue-pause').classList.contains('d-none');")
            .await,
        json!(true),
        "no pause button to fake in embedded mode"
    );
    open_tab(&app, "workers").await;
    assert!(app
        .text("#opsc-workers-note")
        .await
        .unwrap_or_default()
        .contains("Redis mode"));
    open_tab(&app, "dead").await;
    assert!(app
        .text("#opsc-dead-note")
        .await
        .unwrap_or_default()
        .contains("no dead letters"));

    open_tab(&app, "dash").await;
    app.wait_js(
        "the dashboard's charts",
        WAIT,
        "return document.querySelectorAll('#opsc-pane-dash canvas').length >= 3;",
    )
    .await;
    let tiles: Value = app
        .js("return ['completed', 'failed', 'bars', 'rpm'].map((k) => document.getElementById('dash-' + k).textContent);")
        .await;
    assert_eq!(tiles[0], json!(completed.to_string()), "{tiles}");
    assert_eq!(tiles[1], json!(failed.to_string()), "{tiles}");
    assert_eq!(tiles[2], json!(grouped(bars)), "{tiles}");
    assert!(
        tiles[3].as_str().unwrap().ends_with("/ 5"),
        "the plan's limit: {tiles}"
    );
    assert_eq!(
        app.js("return document.getElementById('dash-chart-jobs').dataset.points;")
            .await,
        json!("24")
    );
    assert!(app
        .text("#dash-limit")
        .await
        .unwrap_or_default()
        .contains("5/min"));
    scheme(&app, "light").await;
    shot(&app, "dashboard-light.png").await;
    click_visible(&app, "#dash-range-7d").await;
    app.wait_js(
        "the 7-day series",
        WAIT,
        "return document.getElementById('dash-chart-jobs').dataset.points === '7';",
    )
    .await;
    scheme(&app, "dark").await;
    app.wait_js(
        "the charts redrawn",
        WAIT,
        "return document.querySelectorAll('#opsc-pane-dash canvas').length >= 3;",
    )
    .await;
    shot(&app, "dashboard-dark.png").await;
    app.close().await;
}

/// `1234567` as `1,234,567` (the page groups digits so even under the C locale).
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
