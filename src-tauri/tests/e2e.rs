//! End-to-end tests of the TickStock Admin desktop app: the real binary, its real page in
//! WebKitGTK under Xvfb, driven through tauri-driver like a person would use it.
//!
//! - embedded mode: a historical load submitted through the form runs to completion against
//!   the fake Polygon server and its bars are in the SQLite file;
//! - Redis mode (a private `redis-server`): a running job is cancelled from its card;
//! - Redis mode: the status pill turns red when Redis stops and green again when it is back;
//! - a bad symbol is reported under the field and blocks the submit button;
//! - the Coverage view: the heat map of stored bars, a gap filled from its row, a schedule
//!   disabled and run from its row.
//!
//! Needs Xvfb, tauri-driver, WebKitWebDriver, redis-server and `scripts/build-ui.sh` run
//! before the app is built; the harness says which is missing. Artifacts (screenshots, the
//! driver and app log) go to `$E2E_ARTIFACTS/<test>/` or `<target>/e2e-artifacts/<test>/`.
//! `UPDATE_SCREENSHOT=1` also writes the main page to `docs/screenshot.png`.
//!
//! `measure_app` (ignored; run by `scripts/measure-app.sh`) prints the time from launch to
//! an interactive page and the idle memory with 1,000 jobs in the history.

mod support;

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::{json, Value};
use support::{App, AppEnv};
use tickstock_data::store::{JobRun, Store};
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::redis_server::{unique_namespace, RedisServer};

/// Records every state each job card shows and every toast (a card can leave the list between two of the
/// test's polls, so its states are captured as the page renders them).
const WATCH_CARDS: &str = r#"
if (!window.__e2eJobs) {
  window.__e2eJobs = {};
  window.__e2eOrder = [];
  const record = () => {
    document.querySelectorAll('#active-jobs .job-card').forEach((card) => {
      const id = card.dataset.jobId;
      let r = window.__e2eJobs[id];
      if (!r) {
        r = window.__e2eJobs[id] = { statuses: [], labels: [], max: 0 };
        window.__e2eOrder.push(id);
      }
      const bar = card.querySelector('.progress-bar');
      const badge = card.querySelector('.job-status');
      const v = Number(bar && bar.getAttribute('aria-valuenow')) || 0;
      if (v > r.max) r.max = v;
      const s = badge ? badge.dataset.status || '' : '';
      if (s && r.statuses[r.statuses.length - 1] !== s) r.statuses.push(s);
      const l = badge ? badge.textContent.trim() : '';
      if (l && r.labels[r.labels.length - 1] !== l) r.labels.push(l);
    });
  };
  new MutationObserver(record).observe(document.getElementById('active-jobs'),
    { subtree: true, childList: true, attributes: true, characterData: true });
  record();
  window.__e2eToasts = [];
  new MutationObserver((muts) => {
    for (const m of muts) for (const n of m.addedNodes) {
      if (!(n instanceof Element) || !n.classList.contains('toast')) continue;
      const q = (sel) => { const e = n.querySelector(sel); return e ? e.textContent.trim() : ''; };
      window.__e2eToasts.push({ title: q('.toast-title'), mono: q('.toast-mono'), body: q('.toast-body'), variant: n.dataset.variant || '' });
    }
  }).observe(document.getElementById('toasts'), { childList: true });
}
return true;
"#;

async fn watch_cards(app: &App) {
    app.js(WATCH_CARDS).await;
}

/// What the card of `id` has shown so far.
async fn card_record(app: &App, id: &str) -> Value {
    app.js_args(
        "return window.__e2eJobs[arguments[0]] || null;",
        vec![json!(id)],
    )
    .await
}

/// The id of the job the form just submitted: the short id from the "Job submitted"
/// toast, completed from the history row it names.
async fn submitted_job_id(app: &App) -> String {
    let short = app
        .wait_js(
            "the \"Job submitted\" toast",
            Duration::from_secs(15),
            "const t = (window.__e2eToasts || []).find((t) => t.title === 'Job submitted');
             return t ? t.mono : null;",
        )
        .await
        .as_str()
        .expect("short job id")
        .to_string();
    assert_eq!(short.len(), 8, "the toast names job {short:?}");
    app.wait_js(
        &format!("job {short} in the history table"),
        Duration::from_secs(15),
        &format!(
            "const r = document.querySelector('#history-table tbody tr[data-job-id^=\"{short}\"]');
             return r ? r.dataset.jobId : null;"
        ),
    )
    .await
    .as_str()
    .expect("job id")
    .to_string()
}

/// Waits for the page to announce that job `id` finished with `title` (a toast naming it).
async fn wait_finish_toast(app: &App, id: &str, title: &str, timeout: Duration) -> Value {
    app.wait_js(
        &format!("a {title:?} toast for job {id}"),
        timeout,
        &format!(
            "return (window.__e2eToasts || []).find((t) => t.title === {title:?} && {id:?}.startsWith(t.mono) && t.mono) || null;"
        ),
    )
    .await
}

/// Waits until the card of `id` has shown `status` (and `label`).
async fn wait_card_state(app: &App, id: &str, status: &str, label: &str, timeout: Duration) {
    app.wait_js(
        &format!("job {id}'s card to show {label}"),
        timeout,
        &format!(
            "const r = window.__e2eJobs[{id:?}];
             return r && r.statuses.includes({status:?}) && r.labels.includes({label:?});"
        ),
    )
    .await;
}

/// The history row of `id` once it says `label`: (progress shown, bars shown).
async fn wait_history_row(app: &App, id: &str, label: &str, timeout: Duration) -> (i64, String) {
    let script = format!(
        "const r = document.querySelector('#history-table tbody tr[data-job-id=\"{id}\"]');
         if (!r) return null;
         const b = r.querySelector('.job-status');
         if (!b || b.textContent.trim() !== {label:?}) return null;
         return [Number(r.dataset.progress), r.querySelector('.col-bars').textContent.trim()];"
    );
    let v = app
        .wait_js(
            &format!("history row of job {id} to say {label}"),
            timeout,
            &script,
        )
        .await;
    (
        v[0].as_i64().unwrap_or(-1),
        v[1].as_str().unwrap_or("").to_string(),
    )
}

/// Fills the form for a historical load of `symbols` at daily bars.
async fn fill_historical(app: &App, symbols: &str, dates: Option<(&str, &str)>) {
    app.select("#load-type", "historical_load").await;
    app.type_into("#symbols", symbols).await;
    match dates {
        Some((from, to)) => {
            app.select("#duration", "dates").await;
            app.wait_js(
                "the date fields to show",
                Duration::from_secs(5),
                "return !document.getElementById('grp-dates').classList.contains('d-none');",
            )
            .await;
            app.set_value("#start-date", from).await;
            app.set_value("#end-date", to).await;
        }
        None => app.select("#duration", "1").await,
    }
    app.select("#timespan", "day").await;
    app.wait_js(
        "the submit button to be enabled (the backend accepted the form)",
        Duration::from_secs(10),
        "const b = document.getElementById('btn-submit');
         return !b.disabled && !document.querySelector('#submit-form .is-invalid');",
    )
    .await;
}

async fn open_store(path: &std::path::Path) -> Store {
    assert!(
        path.is_file(),
        "the app's SQLite database is not at {}",
        path.display()
    );
    Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}

fn save_screenshot(app: &App, png: &[u8], name: &str) {
    let path = app.artifacts.join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_loads_bars_through_the_form() {
    let _serial = support::serial_guard().await;
    // Requests take a moment, so the job is seen running on its card.
    let polygon = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(1200),
        ..FakePolygonConfig::default()
    })
    .await;
    let app = App::launch(
        "embedded_load",
        AppEnv::new()
            .embedded()
            .polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    eprintln!("embedded app ready in {:?}", app.time_to_ready);
    watch_cards(&app).await;

    // No Redis: the pill says so and jobs run in the built-in worker.
    let pill = app
        .wait_js(
            "the Redis pill to report embedded mode",
            Duration::from_secs(10),
            "const p = document.getElementById('redis-pill');
             return p.dataset.state === 'muted' && /embedded/i.test(p.textContent) ? p.textContent.trim() : null;",
        )
        .await;
    eprintln!("redis pill: {pill}");

    let (from, to) = ("2024-03-04", "2024-03-28");
    fill_historical(&app, "AAPL, MSFT", Some((from, to))).await;
    assert_eq!(
        app.text("#symbols-count").await.as_deref(),
        Some("2 symbols")
    );
    app.click("#btn-submit").await;

    let id = submitted_job_id(&app).await;
    wait_card_state(&app, &id, "running", "Running", Duration::from_secs(15)).await;
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "running.png");
    let toast = wait_finish_toast(&app, &id, "Job completed", Duration::from_secs(30)).await;
    eprintln!("finished: {toast}");
    wait_card_state(&app, &id, "completed", "Completed", Duration::from_secs(5)).await;
    let record = card_record(&app, &id).await;
    eprintln!("card of {id}: {record}");
    assert_eq!(
        record["max"],
        json!(100),
        "the card never showed 100%: {record}"
    );
    assert!(
        !record["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "failed" || s == "completed_with_errors"),
        "the job did not finish cleanly: {record}"
    );
    let (progress, bars_shown) =
        wait_history_row(&app, &id, "Completed", Duration::from_secs(15)).await;
    assert_eq!(progress, 100, "the history shows job {id} at {progress}%");

    // The bars are in the database, exactly as Polygon served them.
    let store = open_store(&app.default_sqlite()).await;
    let (d0, d1) = (
        NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap(),
        NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap(),
    );
    let mut total = 0;
    for sym in ["AAPL", "MSFT"] {
        let expected = FakePolygon::expected_bars(sym, Timeframe::Day, d0, d1);
        assert!(
            !expected.is_empty(),
            "the fake serves no {sym} bars for {from}..{to}"
        );
        let stored = store
            .read_bars(sym, Timeframe::Day)
            .await
            .expect("read bars");
        assert_eq!(
            stored.len(),
            expected.len(),
            "{sym}: {} daily rows stored, Polygon served {}",
            stored.len(),
            expected.len()
        );
        for (s, e) in stored.iter().zip(&expected) {
            assert_eq!(s.time, e.ny_date().to_string(), "{sym}: dates differ");
            assert_eq!(
                (s.open, s.close, s.volume),
                (e.o, e.c, e.v),
                "{sym} {}",
                s.time
            );
        }
        total += expected.len() as i64;
    }
    let run = store
        .job_run(&id)
        .await
        .expect("read job run")
        .unwrap_or_else(|| panic!("job {id} is not in job_runs"));
    assert_eq!(run.status, "completed", "{run:?}");
    assert_eq!(run.bars_loaded, total, "{run:?}");
    assert_eq!(run.symbols_ok, 2, "{run:?}");
    store.close().await;
    let digits: String = bars_shown.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(
        digits,
        total.to_string(),
        "the history shows {bars_shown:?} bars loaded, the database holds {total}"
    );

    // The main page, for the record (and the README when asked).
    app.js(
        "document.querySelectorAll('#toasts .toast .btn-close').forEach((b) => b.click());
         window.scrollTo(0, 0); return true;",
    )
    .await;
    app.wait_js(
        "the toasts to close",
        Duration::from_secs(5),
        "return document.querySelectorAll('#toasts .toast.show').length === 0;",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let png = app.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    save_screenshot(&app, &png, "main.png");
    if std::env::var("UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = std::path::Path::new(support::REPO_ROOT).join("docs");
        std::fs::create_dir_all(&docs).expect("create docs/");
        std::fs::write(docs.join("screenshot.png"), &png).expect("write docs/screenshot.png");
        eprintln!("updated docs/screenshot.png");
    }
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_mode_cancels_a_running_job_from_its_card() {
    let _serial = support::serial_guard().await;
    let redis = RedisServer::start();
    let namespace = unique_namespace();
    // Every request takes a while, so the job is still running when it is cancelled.
    let polygon = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(1500),
        ..FakePolygonConfig::default()
    })
    .await;
    let app = App::launch(
        "redis_cancel",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", &namespace)
            .var("TICKSTOCK_WORKER", "on")
            .polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    watch_cards(&app).await;
    app.wait_js(
        "the Redis pill to be green",
        Duration::from_secs(15),
        "return document.getElementById('redis-pill').dataset.state === 'ok';",
    )
    .await;
    app.wait_js(
        "the built-in worker to report in",
        Duration::from_secs(20),
        "return document.getElementById('worker-pill').dataset.state === 'ok';",
    )
    .await;

    let symbols = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM",
    ];
    fill_historical(&app, &symbols.join(", "), None).await;
    app.click("#btn-submit").await;
    let id = submitted_job_id(&app).await;
    app.wait_js(
        &format!("job {id} to be running"),
        Duration::from_secs(20),
        &format!(
            "const c = document.querySelector('#active-jobs .job-card[data-job-id=\"{id}\"]');
             return c && (c.dataset.status === 'running' || c.dataset.status === 'processing');"
        ),
    )
    .await;

    let card = format!("#active-jobs .job-card[data-job-id=\"{id}\"]");
    app.click(&format!("{card} .btn-cancel")).await;
    // Confirm when the page asks.
    let confirm = app
        .js("const m = document.getElementById('confirm-modal'); return m.classList.contains('show') || m.style.display === 'block';")
        .await;
    if confirm == json!(true) {
        app.click("#btn-confirm").await;
    } else {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if app
            .js("return document.getElementById('confirm-modal').classList.contains('show');")
            .await
            == json!(true)
        {
            app.click("#btn-confirm").await;
        }
    }

    let toast = wait_finish_toast(&app, &id, "Job cancelled", Duration::from_secs(20)).await;
    eprintln!("finished: {toast}");
    wait_card_state(&app, &id, "cancelled", "Cancelled", Duration::from_secs(5)).await;
    let (progress, _) = wait_history_row(&app, &id, "Cancelled", Duration::from_secs(15)).await;
    let record = card_record(&app, &id).await;
    eprintln!("card of {id}: {record}; history at {progress}%");
    assert!(
        progress < 100 && record["max"].as_f64().unwrap_or(0.0) < 100.0,
        "the job reached 100% before it was cancelled: {record}, history {progress}%"
    );

    // The worker stopped early: not every symbol was fetched, and the run says cancelled.
    let fetched: usize = symbols.iter().map(|s| polygon.requests_for(s)).sum();
    assert!(
        fetched < symbols.len(),
        "all {} symbols were fetched despite the cancel",
        symbols.len()
    );
    let store = open_store(&app.default_sqlite()).await;
    let run = store
        .job_run(&id)
        .await
        .expect("read job run")
        .unwrap_or_else(|| panic!("job {id} is not in job_runs"));
    assert_eq!(run.status, "cancelled", "{run:?}");
    store.close().await;
    app.close().await;
    drop(redis);
}

/// Card and history row of a running job, read in one go: `[card status, card progress,
/// card bars, row status, row progress, row bars]`, or null while either is missing.
const CARD_AND_ROW: &str = r#"
const id = arguments[0];
const card = document.querySelector(`#active-jobs .job-card[data-job-id="${id}"]`);
const row = document.querySelector(`#history-table tbody tr[data-job-id="${id}"]`);
if (!card || !row) return null;
const cb = card.querySelector('.job-status');
const cp = card.querySelector('.progress-bar');
const rb = row.querySelector('.job-status');
return [cb.dataset.status, Number(cp.getAttribute('aria-valuenow')), card.querySelector('.job-bars').textContent.trim(),
        rb.dataset.status, Number(row.dataset.progress), row.querySelector('.col-bars').textContent.trim()];
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_and_history_row_agree_while_a_job_runs() {
    let _serial = support::serial_guard().await;
    // Slow enough to watch: each request takes a while.
    let polygon = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(400),
        ..FakePolygonConfig::default()
    })
    .await;
    let app = App::launch(
        "card_and_row",
        AppEnv::new().polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    watch_cards(&app).await;
    let symbols = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "AMD", "INTC", "ORCL",
        "IBM",
    ];
    fill_historical(
        &app,
        &symbols.join(", "),
        Some(("2024-01-02", "2024-06-28")),
    )
    .await;
    app.click("#btn-submit").await;
    let id = submitted_job_id(&app).await;
    let mut samples = 0;
    let mut moving = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = app.js_args(CARD_AND_ROW, vec![json!(id)]).await;
        if let Some(a) = v.as_array() {
            let (card, row) = (&a[..3], &a[3..]);
            if a[0] == json!("running") && a[1].as_i64().unwrap_or(0) > 0 {
                moving += 1;
            }
            assert_eq!(card, row, "card and history row of {id} disagree");
            samples += 1;
            if a[0] == json!("completed") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "job {id} did not complete: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        moving >= 3,
        "saw the job move only {moving} times ({samples} samples)"
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_jobs_finishing_at_once_raise_one_summary() {
    use tickstock_protocol::settings::BusConfig;
    use tickstock_protocol::status::{JobState, JobStatus, Stamp};
    use tickstock_queue::bus::Bus;
    let _serial = support::serial_guard().await;
    let redis = RedisServer::start();
    let namespace = unique_namespace();
    let app = App::launch(
        "two_hundred",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", &namespace)
            .var("TICKSTOCK_WORKER", "off"),
    )
    .await;
    watch_cards(&app).await;
    let bus = Bus::connect(BusConfig::new(redis.url()).with_namespace(&namespace))
        .await
        .expect("the test's Redis");
    // 200 jobs running on a worker elsewhere.
    let mut ids = Vec::new();
    for i in 0..200 {
        let job = tickstock_protocol::job::Job::new(
            tickstock_protocol::job::JobSpec::Historical {
                symbols: vec![format!("S{i}")],
                timespan: Timeframe::Day,
                range: tickstock_protocol::job::DateRange {
                    years: Some(1.0),
                    ..Default::default()
                },
            },
            "e2e",
        );
        bus.submit(&job).await.unwrap();
        let mut st = JobStatus::new(JobState::Running);
        st.worker_id = Some("elsewhere".into());
        st.progress = 50;
        bus.put_status(&job.id, &st).await.unwrap();
        ids.push(job.id);
    }
    app.wait_js(
        "200 running cards",
        Duration::from_secs(30),
        "return document.querySelectorAll('#active-jobs .job-card[data-status=\"running\"]').length === 200;",
    )
    .await;
    // Let the watcher see them all running once.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for id in &ids {
        let mut st = JobStatus::new(JobState::Completed);
        st.progress = 100;
        st.ohlcv_records_loaded = Some(250);
        st.set_time("completed_at", Stamp::now());
        bus.put_status(id, &st).await.unwrap();
    }
    let toast = app
        .wait_js(
            "one summary toast",
            Duration::from_secs(15),
            "return (window.__e2eToasts || []).find((t) => t.title === '200 jobs finished') || null;",
        )
        .await;
    assert!(
        toast["body"]
            .as_str()
            .unwrap_or("")
            .contains("200 completed"),
        "{toast}"
    );
    // Nothing else follows: no toast per job.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let toasts = app.js("return window.__e2eToasts;").await;
    let finished: Vec<&Value> = toasts
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["title"]
                .as_str()
                .is_some_and(|s| s.contains("finished") || s.starts_with("Job "))
        })
        .collect();
    assert_eq!(finished.len(), 1, "{toasts}");
    app.close().await;
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_pill_follows_redis_going_down_and_coming_back() {
    let _serial = support::serial_guard().await;
    let mut redis = RedisServer::start();
    let app = App::launch(
        "redis_pill",
        AppEnv::new()
            .var("TICKSTOCK_REDIS_URL", redis.url())
            .var("TICKSTOCK_NAMESPACE", unique_namespace())
            .var("TICKSTOCK_WORKER", "off")
            .polygon("http://127.0.0.1:9", "e2e-unused-key"),
    )
    .await;
    const GREEN: &str = "const p = document.getElementById('redis-pill');
        return p.dataset.state === 'ok' && p.classList.contains('pill-ok') && /connected/i.test(p.textContent) ? p.textContent.trim() : null;";
    const RED: &str = "const p = document.getElementById('redis-pill');
        return p.dataset.state === 'bad' && p.classList.contains('pill-bad') && /down/i.test(p.textContent) ? p.textContent.trim() : null;";

    let text = app
        .wait_js("the Redis pill to be green", Duration::from_secs(15), GREEN)
        .await;
    eprintln!("before: {text}");

    tokio::task::block_in_place(|| redis.stop());
    let stopped = Instant::now();
    let text = app
        .wait_js(
            "the Redis pill to turn red after Redis stopped",
            Duration::from_secs(12),
            RED,
        )
        .await;
    eprintln!("red after {:?}: {text}", stopped.elapsed());
    // Within 2 s of Redis going away (plus the driver's own polling).
    assert!(
        stopped.elapsed() < Duration::from_millis(2500),
        "the Redis pill stayed green {:?} after Redis stopped",
        stopped.elapsed()
    );

    tokio::task::block_in_place(|| redis.restart());
    let started = Instant::now();
    let text = app
        .wait_js(
            "the Redis pill to turn green again after Redis came back",
            Duration::from_secs(15),
            GREEN,
        )
        .await;
    eprintln!("green after {:?}: {text}", started.elapsed());
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_symbols_are_reported_and_block_the_submit() {
    let _serial = support::serial_guard().await;
    let app = App::launch(
        "bad_symbol",
        AppEnv::new()
            .embedded()
            .polygon("http://127.0.0.1:9", "e2e-unused-key"),
    )
    .await;
    app.select("#load-type", "historical_load").await;

    let cases = [
        ("AAPL, aapl", "listed twice"),
        ("AA$PL", "not a valid ticker"),
    ];
    for (input, message) in cases {
        app.type_into("#symbols", input).await;
        let shown = app
            .wait_js(
                &format!("#symbols-error to say {message:?} for {input:?}"),
                Duration::from_secs(10),
                &format!(
                    "const e = document.getElementById('symbols-error');
                     const t = e.textContent.trim();
                     return t.includes({message:?}) && e.offsetParent !== null
                       && document.getElementById('symbols').classList.contains('is-invalid') ? t : null;"
                ),
            )
            .await;
        eprintln!("{input:?}: {shown}");
        let disabled = app
            .js("return document.getElementById('btn-submit').disabled;")
            .await;
        assert_eq!(disabled, json!(true), "submit is enabled with {input:?}");
    }

    // A good list clears the message and enables the button: the block was the symbol.
    app.type_into("#symbols", "AAPL, MSFT").await;
    app.wait_js(
        "the symbol error to clear and submit to be enabled",
        Duration::from_secs(10),
        "return document.getElementById('symbols-error').textContent.trim() === ''
           && !document.getElementById('btn-submit').disabled;",
    )
    .await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn about_shows_the_version_and_the_folders_of_the_users_data() {
    let _serial = support::serial_guard().await;
    let app = App::launch(
        "about",
        AppEnv::new()
            .embedded()
            .polygon("http://127.0.0.1:9", "e2e-unused-key"),
    )
    .await;
    let data_dir = app.default_sqlite().parent().unwrap().display().to_string();
    app.click("#btn-about").await;
    let shown = app
        .wait_js(
            "the About dialog with the version and the folders",
            Duration::from_secs(10),
            "const m = document.getElementById('about-modal');
             const v = document.getElementById('about-version').textContent.trim();
             const d = document.getElementById('about-data-dir').textContent.trim();
             const l = document.getElementById('about-log-dir').textContent.trim();
             return m.classList.contains('show') && /^v\\d/.test(v) && d && l ? [v, d, l] : null;",
        )
        .await;
    eprintln!("about: {shown}");
    assert_eq!(shown[1], json!(data_dir));
    // Started without allocator tunables, the app runs with its own (it starts itself
    // again with them), and so do the WebKit processes it starts.
    let tunables: Vec<(String, Option<String>)> = app
        .processes()
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("tickstock-admin") || cmd.contains("WebKitWebProcess"))
        .map(|(pid, cmd)| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let value = String::from_utf8_lossy(&environ)
                .split('\0')
                .find_map(|v| v.strip_prefix("GLIBC_TUNABLES=").map(str::to_string));
            (cmd, value)
        })
        .collect();
    assert!(
        tunables
            .iter()
            .any(|(cmd, _)| cmd.contains("tickstock-admin"))
            && tunables
                .iter()
                .all(|(_, v)| { v.as_deref() == Some(tickstock_app::memory::MALLOC_TUNABLES) }),
        "the app and its web process run with the allocator's arena cap: {tunables:?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await; // the modal's fade-in
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "about.png");
    app.close().await;
}

/// Scrolls an element into view and clicks it from the page (WebKitWebDriver refuses
/// clicks on the Coverage view, which lies below the fold).
async fn click_visible(app: &App, css: &str) {
    let clicked = app
        .js_args(
            "const e = document.querySelector(arguments[0]);
             if (!e) return false;
             e.scrollIntoView({block: 'center'});
             e.click();
             return true;",
            vec![json!(css)],
        )
        .await;
    assert_eq!(clicked, json!(true), "no element {css} to click");
}

/// The Coverage view over an SQLite database prepared beforehand: AAPL and MSFT daily bars
/// for three months, MSFT missing three sessions; one schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_view_shows_the_heat_map_fills_a_gap_and_runs_a_schedule() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    // Up to the last closed session, so the view's months end with the data.
    let last = tickstock_protocol::calendar::last_closed_session(
        chrono::Utc::now(),
        tickstock_data::loader::FINAL_BAR_DELAY,
    );
    let first = last - chrono::Duration::days(80);
    let gap: Vec<NaiveDate> =
        tickstock_protocol::calendar::trading_days(first + chrono::Duration::days(30), last)
            .into_iter()
            .take(3)
            .collect();
    let dir = App::fresh_dirs();
    let db = App::default_sqlite_in(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let store = Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("create the app's database");
        for sym in ["AAPL", "MSFT"] {
            let bars: Vec<_> = FakePolygon::expected_bars(sym, Timeframe::Day, first, last)
                .into_iter()
                .filter(|b| sym == "AAPL" || !gap.contains(&b.ny_date()))
                .collect();
            store.write_bars(sym, Timeframe::Day, &bars).await.unwrap();
        }
        let request =
            json!({"kind": "top_up", "symbols": ["AAPL"], "timeframes": ["day"], "years": 1});
        store
            .add_schedule("nightly", "trading-days 16:30", &request)
            .await
            .unwrap();
        store.close().await;
    }
    let app = App::launch_in(
        "coverage_view",
        AppEnv::new()
            .embedded()
            .polygon(&polygon.base_url(), polygon.api_key()),
        dir,
    )
    .await;
    watch_cards(&app).await;

    // The heat map: 12 months, AAPL complete, MSFT's gap month partial, months before the
    // first bar not loaded; each cell says its figures.
    let cells = app
        .wait_js(
            "the heat map rows",
            Duration::from_secs(20),
            "const row = (s) => Array.from(document.querySelectorAll(`#cov-heatmap tr[data-symbol=${s}] td.heat-cell`));
             const a = row('AAPL'), m = row('MSFT');
             if (a.length !== 12 || m.length !== 12) return null;
             const cls = (td) => Array.from(td.classList).find((c) => c.startsWith('heat-') && c !== 'heat-cell');
             return { aapl: a.map(cls), msft: m.map(cls), title: m.map((td) => td.title) };",
        )
        .await;
    eprintln!("heat map: {cells}");
    let aapl: Vec<&str> = cells["aapl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let msft: Vec<&str> = cells["msft"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        aapl[0], "heat-none",
        "a month before the first bar: {aapl:?}"
    );
    assert_eq!(aapl[11], "heat-good", "{aapl:?}");
    assert!(
        aapl.iter().all(|c| *c == "heat-none" || *c == "heat-good"),
        "AAPL is complete from its first bar on: {aapl:?}"
    );
    let gap_month = gap[0].format("%Y-%m").to_string();
    let titles: Vec<&str> = cells["title"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let at = titles
        .iter()
        .position(|t| t.contains(&gap_month))
        .expect("the gap's month has a column");
    assert!(
        matches!(msft[at], "heat-poor" | "heat-partial"),
        "MSFT's month with the gap: {} ({})",
        msft[at],
        titles[at]
    );
    assert!(titles[at].contains(" of "), "{}", titles[at]);
    app.js(
        "document.getElementById('cov-heatmap').scrollIntoView({block: 'center'}); return true;",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "heatmap.png");

    // Gaps: MSFT's three sessions, filled from the row.
    click_visible(&app, "#cov-tab-gaps").await;
    app.js_args(
        "document.getElementById('cov-gaps-from').value = arguments[0];
         document.getElementById('cov-gaps-to').value = arguments[1];
         return true;",
        vec![json!(first.to_string()), json!(last.to_string())],
    )
    .await;
    click_visible(&app, "#btn-cov-gaps").await;
    app.wait_js(
        "the gaps checked over the range asked",
        Duration::from_secs(15),
        &format!(
            "return document.getElementById('cov-gaps-note').textContent.includes('{first} to');"
        ),
    )
    .await;
    let row = app
        .wait_js(
            "MSFT's gap in the list",
            Duration::from_secs(15),
            "const r = document.querySelector('#cov-gaps tbody tr[data-symbol=MSFT]');
             return r ? Array.from(r.cells).slice(0, 4).map((c) => c.textContent.trim()) : null;",
        )
        .await;
    assert_eq!(
        row,
        json!(["MSFT", gap[0].to_string(), gap[2].to_string(), "3"]),
        "{row}"
    );
    assert_eq!(
        app.js("return document.querySelectorAll('#cov-gaps tbody tr[data-symbol]').length;")
            .await,
        json!(1),
        "AAPL has no gap"
    );
    click_visible(&app, "#cov-gaps tbody tr[data-symbol=MSFT] button").await;
    app.wait_js(
        "the fill's toast",
        Duration::from_secs(10),
        "return (window.__e2eToasts || []).some((t) => t.title === 'Fill submitted');",
    )
    .await;
    let store = open_store(&app.default_sqlite()).await;
    let mut filled = false;
    for _ in 0..60 {
        let n = store
            .bar_keys("MSFT", Timeframe::Day, gap[0], gap[2])
            .await
            .unwrap()
            .len();
        if n == 3 {
            filled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(filled, "the fill job stored MSFT's missing sessions");
    click_visible(&app, "#btn-cov-gaps").await;
    app.wait_js(
        "the gaps list to be empty",
        Duration::from_secs(15),
        "return document.querySelectorAll('#cov-gaps tbody tr[data-symbol]').length === 0
             && /No gaps/.test(document.querySelector('#cov-gaps tbody').textContent);",
    )
    .await;

    // Schedules: the next run in New York time, labelled; disable, then run now.
    click_visible(&app, "#cov-tab-schedules").await;
    app.wait_js(
        "the schedule's row",
        Duration::from_secs(10),
        "return document.querySelector('#cov-schedules tr[data-schedule=nightly] input[type=checkbox]')?.checked === true;",
    )
    .await;
    let next = app
        .text("#cov-schedules tr[data-schedule=nightly] .schedule-next")
        .await
        .unwrap_or_default();
    // 16:30 New York, and the time here beside it when this machine's clock differs.
    let (ny, here) = next.split_once(" New York").expect("the zone is named");
    assert!(ny.ends_with(" 16:30"), "next run: {next}");
    assert!(
        here.is_empty() || (here.starts_with(" (") && here.ends_with(" here)")),
        "next run: {next}"
    );
    click_visible(
        &app,
        "#cov-schedules tr[data-schedule=nightly] input[type=checkbox]",
    )
    .await;
    let mut disabled = false;
    for _ in 0..20 {
        if !store.schedules().await.unwrap()[0].enabled {
            disabled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(disabled, "the switch disabled the schedule");
    click_visible(&app, "#cov-schedules tr[data-schedule=nightly] button").await;
    app.wait_js(
        "the run-now toast",
        Duration::from_secs(10),
        "return (window.__e2eToasts || []).some((t) => t.title === 'nightly submitted');",
    )
    .await;
    let row = store.schedules().await.unwrap().remove(0);
    let job = row.last_job_id.expect("run now recorded its job");
    app.wait_js(
        "the schedule's last result",
        Duration::from_secs(30),
        "const b = document.querySelector('#cov-schedules tr[data-schedule=nightly] .badge');
         if (b && b.textContent.trim() === 'completed') return true;
         if (!window.__e2eRefreshed || Date.now() - window.__e2eRefreshed > 1500) {
           window.__e2eRefreshed = Date.now();
           document.getElementById('btn-cov-refresh').click();
         }
         return null;",
    )
    .await;
    let run = store
        .job_run(&job)
        .await
        .unwrap()
        .expect("the scheduled job ran");
    assert_eq!(run.kind, "top_up");
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "schedules.png");
    store.close().await;
    app.close().await;
}

/// Proportional set size (kB) of a process, from /proc/PID/smaps_rollup.
fn pss_kb(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Each process's name and PSS (kB).
type ProcessPss = Vec<(String, u64)>;

/// PSS (kB) summed over the app's own processes (the app, WebKitWebProcess,
/// WebKitNetworkProcess), and one line per process.
fn app_pss(app: &App) -> (u64, ProcessPss) {
    let mut total = 0;
    let mut each = Vec::new();
    for (pid, cmd) in app.processes() {
        let name = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        if name.starts_with("tickstock-admin")
            || name.starts_with("WebKitWebProcess")
            || name.starts_with("WebKitNetworkProcess")
        {
            if let Some(kb) = pss_kb(pid) {
                total += kb;
                each.push((name, kb));
            }
        }
    }
    (total, each)
}

/// One round of an operator's use of the page, as the soak repeats it: a load through the
/// form, its detail opened and closed, the history searched and paged, every tab of the
/// Operations card and of the Coverage view shown.
async fn soak_round(app: &App, round: usize, actions: &str) {
    const SYMBOLS: [&str; 6] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META"];
    let doing = |a: &str| actions.split(',').any(|x| x.trim() == a);
    if doing("load") {
        let done = app
            .js("return (window.__e2eToasts || []).filter((t) => t.title === 'Job completed').length;")
            .await
            .as_u64()
            .unwrap_or(0);
        // Set from the page (fields may be scrolled out of view after the last round).
        app.set_value("#load-type", "historical_load").await;
        app.set_value("#symbols", SYMBOLS[round % SYMBOLS.len()])
            .await;
        app.set_value("#duration", "1").await;
        app.set_value("#timespan", "day").await;
        app.wait_js(
            "the submit button to be enabled",
            Duration::from_secs(20),
            "const b = document.getElementById('btn-submit'); return !b.disabled;",
        )
        .await;
        press(app, "#btn-submit").await;
        app.wait_js(
            "the load to complete",
            Duration::from_secs(60),
            &format!(
                "return (window.__e2eToasts || []).filter((t) => t.title === 'Job completed').length > {done};"
            ),
        )
        .await;
    }
    if doing("detail") || doing("detail-still") {
        if doing("detail-still") {
            // The same without the dialog's fade (a bisection of what grows).
            app.js(
                "document.querySelectorAll('.modal.fade').forEach((m) => m.classList.remove('fade')); return true;",
            )
            .await;
        }
        press(app, "#history-table tbody tr[data-job-id]").await;
        app.wait_js(
            "the job's detail",
            Duration::from_secs(20),
            "return document.getElementById('job-modal').classList.contains('show');",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        press(app, "#job-modal .btn-close").await;
        app.wait_js(
            "the detail to close",
            Duration::from_secs(20),
            "const m = document.getElementById('job-modal');
             return !m.classList.contains('show') && !document.querySelector('.modal-backdrop');",
        )
        .await;
    }
    if doing("history") {
        app.set_value("#history-query", SYMBOLS[(round + 1) % SYMBOLS.len()])
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        app.set_value("#history-query", "").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        for css in ["#history-next", "#history-prev"] {
            press(app, css).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    if doing("tabs") {
        for tab in [
            "#opsc-tab-queue",
            "#opsc-tab-workers",
            "#opsc-tab-dead",
            "#opsc-tab-dash",
            "#cov-tab-gaps",
            "#cov-tab-schedules",
            "#cov-tab-map",
        ] {
            press(app, tab).await;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
    if !["load", "detail", "history", "tabs"]
        .iter()
        .any(|a| doing(a))
    {
        // Idle: the page's own polling only.
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// Memory over a working session (`scripts/measure-app.sh --soak`): 10,000 jobs in the
/// history, then rounds of [`soak_round`] for `SOAK_MINUTES` (60), the app's PSS sampled
/// every minute (`SOAK_ACTIONS` for some parts of a round only). Prints the samples and
/// start, after the first minutes, and end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by scripts/measure-app.sh --soak"]
async fn measure_soak() {
    const JOBS: usize = 10_000;
    let minutes: u64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // SOAK_ACTIONS: which parts of a round (load, detail, history, tabs; all by default;
    // `idle` for none), to find what grows.
    let actions =
        std::env::var("SOAK_ACTIONS").unwrap_or_else(|_| "load,detail,history,tabs".into());
    let dir = App::fresh_dirs();
    let db = App::default_sqlite_in(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    seed_history(&format!("sqlite://{}", db.display()), JOBS).await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let app = App::launch_in(
        "soak",
        AppEnv::new()
            .embedded()
            .polygon(&polygon.base_url(), polygon.api_key()),
        dir,
    )
    .await;
    support::page::watch_toasts(&app).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = Instant::now();
    let mut samples: Vec<(u64, u64, ProcessPss)> = Vec::new();
    let (kb, each) = app_pss(&app);
    assert!(
        kb > 0,
        "no app process found to measure: {:?}",
        app.processes()
    );
    samples.push((0, kb, each));
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(minutes * 60) {
        soak_round(&app, rounds, &actions).await;
        rounds += 1;
        let minute = started.elapsed().as_secs() / 60;
        if minute > samples.last().map_or(0, |s| s.0) {
            let (kb, each) = app_pss(&app);
            eprintln!(
                "minute {minute}: {:.1} MiB after {rounds} rounds",
                kb as f64 / 1024.0
            );
            samples.push((minute, kb, each));
        }
    }
    let mib = |kb: u64| kb as f64 / 1024.0;
    println!("minute  total MiB  per process (MiB)");
    for (m, kb, each) in &samples {
        let parts: Vec<String> = each
            .iter()
            .map(|(n, k)| format!("{n} {:.1}", mib(*k)))
            .collect();
        println!("{m:>6}  {:>9.1}  {}", mib(*kb), parts.join(", "));
    }
    let first = samples.iter().find(|s| s.0 >= 5).unwrap_or(&samples[0]).1;
    let end = samples.last().unwrap().1;
    println!("MEASURE soak_actions={actions}");
    println!("MEASURE soak_minutes={minutes}");
    println!("MEASURE soak_rounds={rounds}");
    println!("MEASURE soak_history_jobs={JOBS}");
    println!("MEASURE soak_start_pss_mib={:.1}", mib(samples[0].1));
    println!("MEASURE soak_minute5_pss_mib={:.1}", mib(first));
    println!("MEASURE soak_end_pss_mib={:.1}", mib(end));
    app.close().await;
}

/// Launch time and idle memory with 1,000 jobs in the history (`scripts/measure-app.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by scripts/measure-app.sh"]
async fn measure_app() {
    const JOBS: usize = 1000;
    let dir = App::fresh_dirs();
    let db = App::default_sqlite_in(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let store = Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("create the app's database");
        let now = chrono::Utc::now();
        let statuses = ["completed", "completed", "completed", "failed", "cancelled"];
        for i in 0..JOBS {
            let id = format!("{:08x}-0000-4000-8000-{:012x}", 0x1000_0000 + i, i);
            let mut run = JobRun::new(
                id,
                "historical_load",
                json!({"symbols": ["AAPL", "MSFT", "NVDA"], "years": 1, "timespan": "day"}),
            );
            let at = now - chrono::Duration::minutes((JOBS - i) as i64);
            run.status = statuses[i % statuses.len()].into();
            run.progress = 100;
            run.symbols_total = 3;
            run.symbols_ok = 3;
            run.bars_loaded = 753;
            run.submitted_at = Some(at);
            run.started_at = Some(at);
            run.completed_at = Some(at + chrono::Duration::seconds(4));
            store.upsert_job_run(&run).await.expect("insert job run");
        }
        store.close().await;
    }

    let app = App::launch_in(
        "measure",
        AppEnv::new()
            .embedded()
            .polygon("http://127.0.0.1:9", "measure-unused-key"),
        dir,
    )
    .await;
    let launch = app.time_to_ready;
    let rows = app
        .wait_js(
            "the history to list jobs",
            Duration::from_secs(20),
            "return document.querySelectorAll('#history-table tbody tr[data-job-id]').length;",
        )
        .await;
    let pager = app.text("#history-page").await.unwrap_or_default();
    eprintln!("history shows {rows} rows ({pager})");

    // Idle: let the start-up work settle, then sample.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut samples = Vec::new();
    let mut detail = String::new();
    for _ in 0..5 {
        let (total, each) = app_pss(&app);
        detail.clear();
        for (name, kb) in each {
            detail.push_str(&format!("  {name}: {:.1} MiB\n", kb as f64 / 1024.0));
        }
        samples.push(total);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    assert!(
        median > 0,
        "no app process found to measure: {:?}",
        app.processes()
    );
    println!("MEASURE time_to_interactive_ms={}", launch.as_millis());
    println!("MEASURE idle_pss_mib={:.1}", median as f64 / 1024.0);
    println!("MEASURE history_jobs={JOBS}");
    println!("processes at the last sample:\n{detail}");
    app.close().await;
}

/// A history of `n` finished jobs written as TickStock Admin keeps it, spread over days,
/// with one universe job that resolved XOM, and one job whose AAPL and MSFT failed.
async fn seed_history(db_url: &str, n: usize) -> (String, String) {
    let store = Store::connect(db_url).await.expect("seed database");
    let day0 = chrono::Utc::now() - chrono::Duration::days(40);
    let mut failed_id = String::new();
    let mut universe_id = String::new();
    for i in 0..n {
        let id = uuid_like(i);
        let (kind, params) = if i == 7 {
            universe_id = id.clone();
            (
                "universe_seed",
                json!({"job_id": id, "job_type": "universe_seed", "universe_type": "dow30",
                       "symbols": ["CVX", "XOM", "KO"], "years": 1, "requested_by": "maria"}),
            )
        } else {
            (
                "historical_load",
                json!({"job_id": id, "job_type": "historical_load", "symbols": [format!("S{i}"), "AAPL", "MSFT"],
                       "timespan": "day", "years": 1, "requested_by": if i % 2 == 0 { "maria" } else { "jon" }}),
            )
        };
        let mut run = JobRun::new(id.clone(), kind, params);
        let at = day0 + chrono::Duration::hours(i as i64 * 8);
        run.submitted_at = Some(at);
        run.started_at = Some(at + chrono::Duration::seconds(2));
        run.completed_at = Some(at + chrono::Duration::seconds(10 + i as i64));
        run.bars_loaded = (i as i64 * 37) % 1000;
        run.progress = 100;
        run.status = "completed".into();
        run.worker = Some("vm-worker-1".into());
        if i == 11 {
            failed_id = id.clone();
            run.status = "completed_with_errors".into();
            run.failed_symbols = json!([
                {"symbol": "AAPL", "reason": "not found on Polygon (HTTP 404): AAPL day"},
                {"symbol": "MSFT", "reason": "not found on Polygon (HTTP 404): MSFT day"}
            ]);
            run.symbols_failed = 2;
        }
        store.upsert_job_run(&run).await.expect("seed a job");
    }
    store.close().await;
    (failed_id, universe_id)
}

/// Clicks an element from the page (scrolled into view first): WebKitWebDriver refuses
/// native clicks on elements below the fold of the test's window.
async fn press(app: &App, css: &str) {
    app.js_args(
        "const n = document.querySelector(arguments[0]);
         if (!n) throw new Error('no element ' + arguments[0]);
         n.scrollIntoView({block: 'center'});
         n.click();
         return true;",
        vec![json!(css)],
    )
    .await;
}

fn uuid_like(i: usize) -> String {
    format!("{:08x}-1111-4222-8333-{:012x}", 0x1000_0000 + i * 7919, i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_at_scale_pages_searches_sorts_selects_and_retries_part_of_a_job() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("history.sqlite").display());
    let (failed_id, universe_id) = seed_history(&db, 120).await;
    let app = App::launch(
        "history_scale",
        AppEnv::new()
            .var("TICKSTOCK_DATABASE_URL", &db)
            .polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    watch_cards(&app).await;
    let rows = "return [...document.querySelectorAll('#history-table tbody tr[data-job-id]')].map((r) => r.dataset.jobId);";
    app.wait_js(
        "120 jobs, 25 a page",
        Duration::from_secs(15),
        "return document.getElementById('history-page').textContent.trim() === '1 / 5';",
    )
    .await;
    let first = app.js(rows).await;
    assert_eq!(first.as_array().unwrap().len(), 25);
    let counts = app
        .js("return document.getElementById('history-counts').textContent;")
        .await;
    assert!(
        counts.as_str().unwrap().contains("Completed with errors 1"),
        "{counts}"
    );

    // Next page, then a jump to page 5: rows that were not on the first page.
    press(&app, "#history-next").await;
    app.wait_js(
        "page 2",
        Duration::from_secs(10),
        "return document.getElementById('history-page').textContent.trim() === '2 / 5';",
    )
    .await;
    let second = app.js(rows).await;
    assert!(second
        .as_array()
        .unwrap()
        .iter()
        .all(|id| !first.as_array().unwrap().contains(id)));
    app.set_value("#history-goto", "5").await;
    app.js("document.getElementById('history-jump').requestSubmit(); return true;")
        .await;
    app.wait_js(
        "page 5",
        Duration::from_secs(10),
        "return document.getElementById('history-page').textContent.trim() === '5 / 5';",
    )
    .await;
    assert_eq!(app.js(rows).await.as_array().unwrap().len(), 20);

    // A symbol inside a universe job finds that job.
    app.set_value("#history-query", "XOM").await;
    app.js("document.getElementById('history-filters').requestSubmit(); return true;")
        .await;
    app.wait_js(
        "the universe job found by XOM",
        Duration::from_secs(10),
        &format!(
            "const r = [...document.querySelectorAll('#history-table tbody tr[data-job-id]')];
                  return r.length === 1 && r[0].dataset.jobId === {universe_id:?};"
        ),
    )
    .await;
    app.set_value("#history-query", "").await;
    app.js("document.getElementById('history-filters').requestSubmit(); return true;")
        .await;

    // Sorted by bars, most first.
    press(&app, "#history-table .btn-sort[data-sort=bars]").await;
    app.wait_js(
        "the most bars first",
        Duration::from_secs(10),
        "const c = document.querySelector('#history-table tbody tr .col-bars');
         return c && c.textContent.trim().replace(/\\D/g, '') === '999';",
    )
    .await;

    // A deep link opens the job; only its failed symbols are retried, linked to it.
    app.js(&format!("location.hash = '#job={failed_id}'; return true;"))
        .await;
    app.wait_js("the detail with Retry failed symbols", Duration::from_secs(10),
        "const b = document.getElementById('btn-job-retry-failed');
         return document.getElementById('job-modal').classList.contains('show') && b && !b.classList.contains('d-none');").await;
    press(&app, "#btn-job-retry-failed").await;
    app.wait_js(
        "the retry's toast",
        Duration::from_secs(10),
        "return (window.__e2eToasts || []).some((t) => t.title === 'Retry submitted');",
    )
    .await;
    let store = Store::connect(&db).await.unwrap();
    let retries = store.retries_of(&failed_id).await.unwrap();
    assert_eq!(retries.len(), 1, "one retry linked to {failed_id}");
    let retry = store.job_run(&retries[0]).await.unwrap().unwrap();
    assert_eq!(
        retry.params["symbols"],
        json!(["AAPL", "MSFT"]),
        "{:?}",
        retry.params
    );
    assert_eq!(retry.params["retry_part"], "failed_symbols");

    // Two rows selected and deleted.
    app.wait_js(
        "the modal closed",
        Duration::from_secs(10),
        "return !document.getElementById('job-modal').classList.contains('show');",
    )
    .await;
    press(&app, "#history-first").await;
    let victims = app.js(
        "const r = [...document.querySelectorAll('#history-table tbody tr[data-status=completed]')].slice(0, 2);
         r.forEach((tr) => tr.querySelector('.row-select').click());
         return r.map((tr) => tr.dataset.jobId);").await;
    app.wait_js("the selection bar", Duration::from_secs(5),
        "return document.getElementById('history-selected').textContent.trim() === '2 jobs selected';").await;
    press(&app, "#btn-bulk-delete").await;
    app.wait_js(
        "the confirmation",
        Duration::from_secs(5),
        "return document.getElementById('confirm-modal').classList.contains('show');",
    )
    .await;
    press(&app, "#btn-confirm").await;
    app.wait_js(
        "the delete's toast",
        Duration::from_secs(10),
        "return (window.__e2eToasts || []).some((t) => t.title === 'Deleted 2 jobs');",
    )
    .await;
    for id in victims.as_array().unwrap() {
        assert!(
            store.job_run(id.as_str().unwrap()).await.unwrap().is_none(),
            "{id} deleted"
        );
    }
    store.close().await;
    app.close().await;
}

/// History at scale from the page: 100,000 jobs in the app's SQLite history; prints the
/// time from a request to an updated table for a first page, a far page (by number), a
/// search and a filter, and the longest gap between frames while idle (ignored: a
/// measurement, run with `cargo test -p tickstock-app --test e2e -- --ignored measure_history
/// --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn measure_history() {
    const JOBS: i64 = 100_000;
    let dir = App::fresh_dirs();
    let db = App::default_sqlite_in(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", db.display());
    Store::connect(&url).await.expect("migrate").close().await;
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let started = Instant::now();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
             INSERT INTO job_runs (id, kind, params, status, progress, symbols_total, symbols_ok,
                                   symbols_failed, bars_loaded, failed_symbols, submitted_at,
                                   started_at, completed_at, worker)
             SELECT printf('%08x-0000-4000-8000-%012x', abs(random()) % 4294967295, i),
                    'historical_load',
                    json_object('symbols', json_array('S' || (i % 500), 'AAPL'), 'years', 1,
                                'timespan', 'day', 'requested_by', CASE i % 3 WHEN 0 THEN 'maria' ELSE 'jon' END),
                    CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'completed' END,
                    100, 2, 2, 0, (i * 37) % 5000, '[]',
                    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d minutes', ?1 - i)),
                    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d minutes', ?1 - i)),
                    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d minutes', ?1 - i - 1)),
                    'vm-worker-1'
             FROM n",
        )
        .bind(JOBS)
        .execute(&mut c)
        .await
        .expect("seed 100,000 jobs");
        eprintln!(
            "seeded {JOBS} jobs in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let app = App::launch_in(
        "measure_history",
        AppEnv::new()
            .embedded()
            .polygon("http://127.0.0.1:9", "measure-unused-key"),
        dir,
    )
    .await;
    app.wait_js(
        "the history to list jobs",
        Duration::from_secs(30),
        "return document.querySelectorAll('#history-table tbody tr[data-job-id]').length > 0;",
    )
    .await;
    // Each action: the time from the request to the table's new rows (a MutationObserver
    // on the table body), the median of five.
    const MEASURE: &str = r#"
const action = arguments[0];
const tbody = document.querySelector('#history-table tbody');
const run = () => new Promise((resolve) => {
  const t0 = performance.now();
  const obs = new MutationObserver(() => { obs.disconnect(); resolve(performance.now() - t0); });
  obs.observe(tbody, { childList: true });
  const q = document.getElementById('history-query');
  const f = document.getElementById('history-filters');
  if (action === 'first') document.getElementById('btn-history-refresh').click();
  if (action === 'far') { document.getElementById('history-goto').value = '3000'; document.getElementById('history-jump').requestSubmit(); }
  if (action === 'search') { q.value = 'S123'; q.dispatchEvent(new Event('input')); f.requestSubmit(); }
  if (action === 'filter') { q.value = ''; q.dispatchEvent(new Event('input')); document.getElementById('history-kind').value = 'historical_load';
                             document.getElementById('history-kind').dispatchEvent(new Event('change')); }
});
const times = [];
for (let i = 0; i < 5; i++) times.push(await run());
times.sort((a, b) => a - b);
return times[2];
"#;
    for action in ["first", "far", "search", "filter"] {
        let ms = app
            .js_args(
                &format!("return (async () => {{ {MEASURE} }})();"),
                vec![json!(action)],
            )
            .await;
        eprintln!(
            "history from the page, {action}: {:.1} ms",
            ms.as_f64().unwrap_or(-1.0)
        );
    }
    let gap = app
        .js("return new Promise((resolve) => {
               let last = performance.now(), max = 0; const end = last + 5000;
               const tick = (t) => { max = Math.max(max, t - last); last = t;
                 if (t < end) requestAnimationFrame(tick); else resolve(max); };
               requestAnimationFrame(tick);
             });")
        .await;
    eprintln!(
        "longest frame gap while idle over 5 s: {:.1} ms",
        gap.as_f64().unwrap_or(-1.0)
    );
    app.close().await;
}
