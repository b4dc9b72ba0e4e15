//! End-to-end tests that what the operator reads is true (the real window, WebKitGTK under
//! Xvfb, driven through tauri-driver; see `support`):
//!
//! - every panel is read again when a job ends (the heat map shows the bars it loaded) and
//!   when the settings switch the backend to Redis + PostgreSQL (the Data summary and the
//!   heat map show that database's bars);
//! - Export CSV holds exactly the rows the history shows for a search and a requester, with
//!   one column per column of the table;
//! - a jump to a page past the end shows the last page and says so;
//! - a paused queue is said in the status bar and on the cards of waiting jobs, and the
//!   Queue tab's count follows the queue whichever tab is shown;
//! - a job waiting for the plan's rate limit shows the wait in its ETA, and its detail the
//!   requests and the time estimated.

mod support;

use std::time::Duration;

use serde_json::json;
use support::page::{press, save_screenshot, wait_toast, watch_toasts};
use support::{App, AppEnv};
use tickstock_data::store::{JobRun, Store};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::Bus;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::redis_server::{unique_namespace, RedisServer};

const WAIT: Duration = Duration::from_secs(20);

/// The symbols of the heat map's rows, once there are some.
const HEAT_ROWS: &str = "const r = [...document.querySelectorAll('#cov-heatmap tr[data-symbol]')].map((tr) => tr.dataset.symbol);
     return r.length ? r.join(',') : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_follow_a_job_end_and_a_change_of_settings() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let last = tickstock_protocol::calendar::last_closed_session(
        chrono::Utc::now(),
        tickstock_data::loader::FINAL_BAR_DELAY,
    );
    // A PostgreSQL database that already holds bars of NVDA and MSFT, and a Redis of its own.
    let pg = tickstock_testkit::pg::fresh_database().await;
    let pg_bars: i64 = {
        let store = Store::connect(&pg.url).await.expect("the PostgreSQL store");
        for sym in ["NVDA", "MSFT"] {
            let bars = FakePolygon::expected_bars(
                sym,
                Timeframe::Day,
                last - chrono::Duration::days(90),
                last,
            );
            store.write_bars(sym, Timeframe::Day, &bars).await.unwrap();
        }
        let rows = store.coverage().await.unwrap().iter().map(|c| c.rows).sum();
        store.close().await;
        rows
    };
    assert!(pg_bars > 100, "{pg_bars} bars seeded");
    let redis = RedisServer::start();

    // Embedded by the settings (no Redis URL yet), not by the environment, so Settings can
    // change it.
    let app = App::launch(
        "panels_follow",
        AppEnv::new().polygon(&polygon.base_url(), polygon.api_key()),
    )
    .await;
    watch_toasts(&app).await;
    app.wait_js(
        "the empty heat map",
        WAIT,
        "return /No day bars stored yet/.test(document.getElementById('cov-heatmap').textContent);",
    )
    .await;

    // Embedded mode: a year of AAPL through the form; when it ends, the heat map and the
    // summary show its bars without a click on Refresh.
    app.select("#load-type", "historical_load").await;
    app.type_into("#symbols", "AAPL").await;
    app.select("#duration", "1").await;
    app.select("#timespan", "day").await;
    app.wait_js(
        "the submit button to be enabled",
        WAIT,
        "const b = document.getElementById('btn-submit'); return !b.disabled;",
    )
    .await;
    press(&app, "#btn-submit").await;
    wait_toast(&app, "Job completed", Duration::from_secs(60)).await;
    let rows = app
        .wait_js("the heat map to show AAPL", WAIT, HEAT_ROWS)
        .await;
    assert_eq!(rows, json!("AAPL"), "the heat map after the load");
    let sqlite_bars = {
        let store = Store::connect(&format!("sqlite://{}", app.default_sqlite().display()))
            .await
            .unwrap();
        let n: i64 = store.coverage().await.unwrap().iter().map(|c| c.rows).sum();
        store.close().await;
        n
    };
    app.wait_js(
        &format!("the summary to show the {sqlite_bars} bars of SQLite"),
        WAIT,
        &format!("{SUMMARY_BARS_FN} return bars() === '{sqlite_bars}';"),
    )
    .await;

    // Redis + PostgreSQL from Settings: the backend restarts with them, and the summary and
    // the heat map show what PostgreSQL holds.
    press(&app, "#btn-settings").await;
    app.wait_js(
        "the settings",
        WAIT,
        "return document.getElementById('settings-modal').classList.contains('show');",
    )
    .await;
    app.set_value("#set-redis-url", &redis.url()).await;
    app.set_value("#set-database-url", &pg.url).await;
    press(&app, "#btn-save-settings").await;
    let saved = wait_toast(&app, "Settings saved", Duration::from_secs(30)).await;
    eprintln!("saved: {saved}");
    let shown = app
        .wait_js(
            &format!("the summary to show the {pg_bars} bars of PostgreSQL"),
            WAIT,
            &format!("{SUMMARY_BARS_FN} const b = bars(); return b === '{pg_bars}' ? b : null;"),
        )
        .await;
    assert_eq!(shown, json!(pg_bars.to_string()));
    let rows = app
        .wait_js(
            "the heat map to show PostgreSQL's symbols",
            WAIT,
            "const r = [...document.querySelectorAll('#cov-heatmap tr[data-symbol]')].map((tr) => tr.dataset.symbol).sort().join(',');
             return r === 'MSFT,NVDA' ? r : null;",
        )
        .await;
    assert_eq!(rows, json!("MSFT,NVDA"));
    app.wait_js(
        "the status bar in Redis mode",
        WAIT,
        "return document.getElementById('mode-label').textContent === 'Redis mode';",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "after-settings.png");
    app.close().await;
    pg.drop_db().await;
}

/// `bars()`: the Data summary's bar count (the number before " bars in"), or null.
const SUMMARY_BARS_FN: &str =
    "const bars = () => { const t = document.getElementById('summary-note').textContent;
     const m = /^([\\d,.\\s\\u00a0\\u202f]+) bars in/.exec(t);
     return m ? m[1].replace(/\\D/g, '') : null; };";

fn uuid_like(i: usize) -> String {
    format!("{:08x}-2222-4333-8444-{:012x}", 0x2000_0000 + i * 7919, i)
}

/// `n` finished jobs: every other one names AAPL; requesters ops-1, ops-2, ops-3 in turn.
async fn seed_history(db_url: &str, n: usize) {
    let store = Store::connect(db_url).await.expect("seed database");
    let day0 = chrono::Utc::now() - chrono::Duration::days(20);
    for i in 0..n {
        let id = uuid_like(i);
        let symbols = if i % 2 == 0 {
            json!([format!("S{i}"), "AAPL"])
        } else {
            json!([format!("S{i}"), "MSFT"])
        };
        let params = json!({"job_id": id, "job_type": "historical_load", "symbols": symbols,
                            "timespan": "day", "years": 1, "requested_by": format!("ops-{}", i % 3 + 1)});
        let mut run = JobRun::new(id.clone(), "historical_load", params);
        let at = day0 + chrono::Duration::hours(i as i64 * 3);
        run.submitted_at = Some(at);
        run.started_at = Some(at + chrono::Duration::seconds(2));
        run.completed_at = Some(at + chrono::Duration::seconds(10 + i as i64));
        run.bars_loaded = (i as i64 * 37) % 1000;
        run.progress = 100;
        run.status = if i % 5 == 0 { "failed" } else { "completed" }.into();
        run.worker = Some(format!("w{}", i % 2));
        store.upsert_job_run(&run).await.expect("seed a job");
    }
    store.close().await;
}

/// A CSV line's fields (quoted fields may hold commas and doubled quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_the_rows_and_columns_the_history_shows() {
    let _serial = support::serial_guard().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("history.sqlite").display());
    seed_history(&db, 90).await;
    let file = dir.path().join("export.csv");
    let app = App::launch(
        "export_what_is_shown",
        AppEnv::new()
            .var("TICKSTOCK_DATABASE_URL", &db)
            .var("TICKSTOCK_EXPORT_PATH", file.display().to_string())
            .embedded(),
    )
    .await;
    watch_toasts(&app).await;
    app.wait_js(
        "90 jobs",
        WAIT,
        "return /of 90 jobs/.test(document.getElementById('history-summary').textContent);",
    )
    .await;

    // AAPL asked by ops-2: jobs 4, 10, 16, ... (every sixth): 15 of 90.
    app.set_value("#history-query", "AAPL").await;
    app.set_value("#history-by", "ops-2").await;
    app.js("document.getElementById('history-filters').requestSubmit(); return true;")
        .await;
    let shown = app
        .wait_js(
            "the filtered rows",
            WAIT,
            "const s = document.getElementById('history-summary').textContent;
             if (!/of 15 jobs/.test(s)) return null;
             const rows = [...document.querySelectorAll('#history-table tbody tr[data-job-id]')];
             return rows.map((tr) => ({
               id: tr.dataset.jobId,
               status: tr.dataset.status,
               by: tr.querySelector('.col-by').textContent.trim(),
               worker: tr.querySelector('.col-worker').textContent.trim(),
               bars: tr.querySelector('.col-bars').textContent.replace(/\\D/g, ''),
             }));",
        )
        .await;
    let shown = shown.as_array().unwrap().clone();
    assert_eq!(shown.len(), 15, "one page holds them all");
    let headers = app
        .js("return [...document.querySelectorAll('#history-table thead th')].filter((th) => !th.classList.contains('col-select')).map((th) => th.textContent.trim());")
        .await;
    let headers = headers.as_array().unwrap().clone();

    press(&app, "#btn-export-csv").await;
    let toast = wait_toast(&app, "Jobs exported", WAIT).await;
    assert!(
        toast["body"]
            .as_str()
            .unwrap()
            .starts_with("15 jobs saved to"),
        "{toast}"
    );
    let csv = std::fs::read_to_string(&file).expect("the exported file");
    let mut lines = csv.lines();
    let header = csv_fields(lines.next().unwrap());
    assert_eq!(
        header.len(),
        headers.len(),
        "one CSV column per column on screen: {header:?} vs {headers:?}"
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    assert_eq!(
        rows.len(),
        shown.len(),
        "the CSV holds the rows on screen:\n{csv}"
    );
    for (row, seen) in rows.iter().zip(&shown) {
        assert_eq!(row.len(), header.len(), "{row:?}");
        assert_eq!(row[col("job_id")], seen["id"].as_str().unwrap());
        assert_eq!(row[col("status")], seen["status"].as_str().unwrap());
        assert_eq!(row[col("requested_by")], seen["by"].as_str().unwrap());
        assert_eq!(row[col("worker")], seen["worker"].as_str().unwrap());
        assert_eq!(row[col("bars_loaded")], seen["bars"].as_str().unwrap());
        assert!(row[col("symbols")].contains("AAPL"), "{row:?}");
    }
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_past_the_end_shows_the_last_page_and_says_so() {
    let _serial = support::serial_guard().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("history.sqlite").display());
    seed_history(&db, 130).await;
    let app = App::launch(
        "page_past_the_end",
        AppEnv::new().var("TICKSTOCK_DATABASE_URL", &db).embedded(),
    )
    .await;
    app.wait_js(
        "130 jobs, 25 a page",
        WAIT,
        "return document.getElementById('history-page').textContent.trim() === '1 / 6';",
    )
    .await;
    app.set_value("#history-goto", "9999").await;
    app.js("document.getElementById('history-jump').requestSubmit(); return true;")
        .await;
    let seen = app
        .wait_js(
            "the last page",
            WAIT,
            "if (document.getElementById('history-page').textContent.trim() !== '6 / 6') return null;
             return {
               summary: document.getElementById('history-summary').textContent,
               notice: document.getElementById('history-notice').textContent,
               rows: document.querySelectorAll('#history-table tbody tr[data-job-id]').length,
               prev: !document.getElementById('history-prev').disabled,
               next: !document.getElementById('history-next').disabled,
             };",
        )
        .await;
    eprintln!("{seen}");
    assert!(
        seen["summary"]
            .as_str()
            .unwrap()
            .starts_with("Showing 126–130 of 130 jobs"),
        "{seen}"
    );
    assert_eq!(
        seen["notice"],
        json!("Page 9,999 is past the end: showing the last page, 6.")
    );
    assert_eq!(seen["rows"], json!(5));
    assert_eq!(seen["prev"], json!(true), "Prev leads back");
    assert_eq!(seen["next"], json!(false));
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "past-the-end.png");

    // Prev goes on from there, and the notice goes.
    press(&app, "#history-prev").await;
    app.wait_js(
        "page 5 without the notice",
        WAIT,
        "return document.getElementById('history-page').textContent.trim() === '5 / 6'
           && document.getElementById('history-notice').classList.contains('d-none');",
    )
    .await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_is_said_where_the_operator_looks() {
    let _serial = support::serial_guard().await;
    let redis = RedisServer::start();
    let namespace = unique_namespace();
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let app = App::launch(
        "queue_paused",
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
    bus.pause_queue("ops-1").await.unwrap();
    let job = Job::new(
        JobSpec::Historical {
            symbols: vec!["AAPL".into()],
            timespan: Timeframe::Day,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "ops-1",
    );
    bus.submit(&job).await.unwrap();
    let seen = app
        .wait_js(
            "the pause in the status bar and on the card",
            WAIT,
            &format!(
                "const pill = document.querySelector('#queue-depth .pill-text').textContent;
                 const card = document.querySelector('#active-jobs .job-card[data-job-id=\"{}\"]');
                 if (!card || !/^Queue paused/.test(pill)) return null;
                 const badge = card.querySelector('.job-status').textContent.trim();
                 if (badge !== 'Queue paused') return null;
                 return {{ pill, badge, message: card.querySelector('.job-message').textContent,
                          tab: document.getElementById('opsc-badge-queue').textContent }};",
                job.id
            ),
        )
        .await;
    eprintln!("{seen}");
    // Waiting, or handed to a worker that was already reading when the pause landed (it
    // hands the job back): either way it is counted, after the pause.
    let pill = seen["pill"].as_str().unwrap();
    assert!(
        pill == "Queue paused · 1 waiting · 0 in flight · 0 dead"
            || pill == "Queue paused · 0 waiting · 1 in flight · 0 dead",
        "{seen}"
    );
    assert_eq!(
        seen["message"],
        json!("Waiting: the queue is paused (by ops-1); this job starts when it is resumed.")
    );
    assert_eq!(seen["tab"], json!("1"), "the Queue tab counts the job");
    let png = app.screenshot().await;
    save_screenshot(&app, &png, "paused.png");

    // Another tab in front; the queue resumes and empties: the Queue tab's count goes too.
    press(&app, "#opsc-tab-workers").await;
    bus.resume_queue().await.unwrap();
    app.wait_js(
        "the job to run and the queue to empty",
        Duration::from_secs(40),
        "const p = document.querySelector('#queue-depth .pill-text').textContent;
         return /^0 waiting · 0 in flight/.test(p);",
    )
    .await;
    app.wait_js(
        "the Queue tab's count to clear",
        WAIT,
        "return document.getElementById('opsc-badge-queue').textContent === '';",
    )
    .await;
    app.close().await;
}

/// The ETA on a card as seconds (`fmtDuration`'s "58 s", "1 m 12 s", "2 h 05 m").
fn eta_seconds(text: &str) -> Option<u64> {
    let mut total = 0;
    let mut words = text.split_whitespace();
    while let (Some(n), Some(unit)) = (words.next(), words.next()) {
        let n: u64 = n.parse().ok()?;
        total += n * match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
    }
    (!text.trim().is_empty()).then_some(total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_waiting_for_the_plan_shows_the_wait_in_its_eta_and_its_estimate() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    polygon.set_rate_limit(5, Duration::from_secs(60), true);
    // A 5/min plan: seven symbols need seven requests, so the sixth waits about a minute.
    let app = App::launch(
        "plan_eta",
        AppEnv::new()
            .embedded()
            .polygon(&polygon.base_url(), polygon.api_key())
            .var("POLYGON_RPM", "5"),
    )
    .await;
    watch_toasts(&app).await;
    app.select("#load-type", "historical_load").await;
    app.type_into("#symbols", "AAPL, MSFT, NVDA, AMZN, GOOGL, META, TSLA")
        .await;
    app.select("#duration", "1").await;
    app.select("#timespan", "day").await;
    app.wait_js(
        "the submit button to be enabled",
        WAIT,
        "const b = document.getElementById('btn-submit'); return !b.disabled;",
    )
    .await;
    press(&app, "#btn-submit").await;

    // The card while the job waits for the plan: the ETA holds the wait, not "1 s".
    let seen = app
        .wait_js(
            "the card to say it waits for the rate limit",
            Duration::from_secs(40),
            "const c = document.querySelector('#active-jobs .job-card');
             if (!c || !/waiting for the Polygon rate limit/.test(c.querySelector('.job-message').textContent)) return null;
             const eta = c.querySelector('.job-eta').textContent.trim();
             if (eta === '—') return null;
             return [c.dataset.jobId, eta, Number(c.querySelector('.progress-bar').getAttribute('aria-valuenow'))];",
        )
        .await;
    let id = seen[0].as_str().expect("job id").to_string();
    let eta = seen[1].as_str().unwrap_or_default();
    let progress = seen[2].as_f64().unwrap_or(100.0);
    let secs = eta_seconds(eta).unwrap_or_else(|| panic!("the card's ETA {eta:?} is no duration"));
    assert!(
        secs >= 30,
        "the card says ETA {eta} while the next request is most of a minute away"
    );
    assert!(
        progress < 99.0,
        "the card is at {progress}% with two symbols left"
    );
    let made = polygon.request_count();
    assert!(made <= 5, "{made} requests in the plan's first minute");

    // The detail: requests made against the estimate, and the estimated time beside the
    // duration (seven requests at 5 a minute, with the limiter's margin).
    app.click(&format!(
        "#active-jobs .job-card[data-job-id=\"{id}\"] .btn-details"
    ))
    .await;
    let detail = app
        .wait_js(
            "the detail to show the requests and the estimate",
            WAIT,
            "const m = document.getElementById('job-modal');
             if (!m.classList.contains('show')) return null;
             const t = m.textContent;
             return /made, 7 estimated/.test(t) && /\\(estimated 1 m \\d\\d s\\)/.test(t) ? t : null;",
        )
        .await;
    assert!(
        detail
            .as_str()
            .unwrap_or_default()
            .contains("Polygon requests"),
        "{detail}"
    );
    app.click("#job-modal .btn-close").await;

    // Cancelled, it leaves the plan's wait at once.
    press(
        &app,
        &format!("#active-jobs .job-card[data-job-id=\"{id}\"] .btn-cancel"),
    )
    .await;
    if app
        .js("return document.getElementById('confirm-modal').classList.contains('show');")
        .await
        == json!(true)
    {
        press(&app, "#btn-confirm").await;
    }
    wait_toast(&app, "Job cancelled", Duration::from_secs(30)).await;
    assert_eq!(polygon.over_limit(), 0, "a request went over the plan");
    app.close().await;
}
