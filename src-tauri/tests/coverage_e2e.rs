//! End-to-end tests of the Coverage view past its first page (the real window, WebKitGTK
//! under Xvfb, driven through tauri-driver; see `support`): with 503 symbols stored, a
//! filter picks one ranked past 200 in the heat map and the gaps list, both page through
//! the rest with counts that say what is shown, and Fill all asks first, naming the
//! symbols and jobs with the estimate of Polygon requests and time at the plan's rate:
//! cancelled, nothing is submitted; confirmed, the top-up is.

mod support;

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::{json, Value};
use support::page::{press, save_screenshot, wait_toast, watch_toasts};
use support::{App, AppEnv};
use tickstock_data::store::{JobRunFilter, Store};
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};

const WAIT: Duration = Duration::from_secs(30);

/// The text of an element once `test` (a JS expression over `t`, the text) holds.
async fn wait_text(app: &App, what: &str, css: &str, test: &str) -> String {
    app.wait_js(
        what,
        WAIT,
        &format!(
            "const n = document.querySelector({css:?});
             const t = n ? n.textContent.trim() : '';
             return ({test}) ? t : null;"
        ),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The symbols of the heat map's rows, top to bottom.
async fn heat_rows(app: &App) -> Vec<String> {
    let rows = app
        .js("return Array.from(document.querySelectorAll('#cov-heatmap tr[data-symbol]')).map((r) => r.dataset.symbol);")
        .await;
    serde_json::from_value(rows).unwrap()
}

/// The gaps list's rows: symbol, from, to, sessions.
async fn gap_rows(app: &App) -> Vec<Vec<String>> {
    let rows = app
        .js(
            "return Array.from(document.querySelectorAll('#cov-gaps tbody tr[data-symbol]'))
               .map((r) => Array.from(r.cells).slice(0, 4).map((c) => c.textContent.trim()));",
        )
        .await;
    serde_json::from_value(rows).unwrap()
}

/// Clicks Fill all and waits for its confirmation, fully shown: its title and body.
async fn fill_all_confirmation(app: &App) -> Value {
    press(app, "#btn-cov-fill-all").await;
    let shown = app
        .wait_js(
            "the Fill all confirmation",
            WAIT,
            "const m = document.getElementById('confirm-modal');
             if (!m.classList.contains('show') || document.activeElement?.id !== 'btn-confirm') return null;
             return { title: document.getElementById('confirm-title').textContent.trim(),
                      body: Array.from(document.querySelectorAll('#confirm-body p')).map((p) => p.textContent.trim()),
                      button: document.getElementById('btn-confirm').textContent.trim() };",
        )
        .await;
    // Past the fade-in (Bootstrap ignores a hide while it runs).
    tokio::time::sleep(Duration::from_millis(400)).await;
    shown
}

async fn wait_confirmation_closed(app: &App) {
    app.wait_js(
        "the confirmation to close",
        WAIT,
        "const m = document.getElementById('confirm-modal');
         return !m.classList.contains('show') && getComputedStyle(m).display === 'none'
           && !document.querySelector('.modal-backdrop');",
    )
    .await;
}

async fn jobs_in_history(store: &Store) -> i64 {
    store
        .list_job_runs(&JobRunFilter::default())
        .await
        .unwrap()
        .total
}

/// 503 symbols with daily bars over about two months: A000 to A501, then IBM (ranked
/// last) missing five sessions; A250, A260 and A270 (on the gaps' third page) one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_filters_and_pages_past_200_symbols_and_fill_all_asks_first() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let last = tickstock_protocol::calendar::last_closed_session(
        chrono::Utc::now(),
        tickstock_data::loader::FINAL_BAR_DELAY,
    );
    let first = last - chrono::Duration::days(60);
    let days: Vec<NaiveDate> = tickstock_protocol::calendar::trading_days(first, last);
    let ibm_gap = &days[10..15];
    let page3 = [("A250", days[20]), ("A260", days[22]), ("A270", days[24])];
    let dir = App::fresh_dirs();
    let db = App::default_sqlite_in(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let store = Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("create the app's database");
        let names = (0..502)
            .map(|i| format!("A{i:03}"))
            .chain(["IBM".to_string()]);
        for sym in names {
            let missing: Vec<NaiveDate> = if sym == "IBM" {
                ibm_gap.to_vec()
            } else {
                page3
                    .iter()
                    .filter(|(s, _)| *s == sym)
                    .map(|(_, d)| *d)
                    .collect()
            };
            let bars: Vec<_> = FakePolygon::expected_bars(&sym, Timeframe::Day, first, last)
                .into_iter()
                .filter(|b| !missing.contains(&b.ny_date()))
                .collect();
            store.write_bars(&sym, Timeframe::Day, &bars).await.unwrap();
        }
        store.close().await;
    }
    let app = App::launch_in(
        "coverage_past_200",
        AppEnv::new()
            .embedded()
            .polygon(&polygon.base_url(), polygon.api_key())
            .var("POLYGON_RPM", "5"),
        dir,
    )
    .await;
    watch_toasts(&app).await;

    // The first page: 200 of 503, IBM not among them.
    let note = wait_text(
        &app,
        "the heat map's first page",
        "#cov-map-note",
        "t.startsWith('Showing 1–200 of 503 symbols')",
    )
    .await;
    eprintln!("heat map: {note}");
    let rows = heat_rows(&app).await;
    assert_eq!(rows.len(), 200);
    assert!(!rows.contains(&"IBM".to_string()), "IBM is ranked 503rd");

    // The gaps over the bars' range, then the filter: IBM alone, in both.
    app.set_value("#cov-gaps-from", &first.to_string()).await;
    app.set_value("#cov-gaps-to", &last.to_string()).await;
    press(&app, "#btn-cov-gaps").await;
    wait_text(
        &app,
        "the gaps' first page over the range asked",
        "#cov-gaps-note",
        &format!("t.startsWith('Showing 1–100 of 503 symbols · 0 gaps · {first} to')"),
    )
    .await;
    app.set_value("#cov-filter", "ibm").await;
    let note = wait_text(
        &app,
        "the heat map filtered to IBM",
        "#cov-map-note",
        "t.startsWith('Showing 1–1 of 1 symbol matching IBM ·')",
    )
    .await;
    eprintln!("filtered heat map: {note}");
    assert_eq!(heat_rows(&app).await, ["IBM"]);
    let cells = app
        .js("return Array.from(document.querySelectorAll('#cov-heatmap tr[data-symbol=IBM] td.heat-cell')).map((td) => td.title);")
        .await;
    let gap_month = ibm_gap[0].format("%Y-%m").to_string();
    assert!(
        cells.as_array().unwrap().iter().any(|t| t
            .as_str()
            .unwrap()
            .starts_with(&format!("IBM {gap_month}: "))
            && !t.as_str().unwrap().contains("100.0 %")),
        "IBM's month with the gap is short: {cells}"
    );
    app.js("document.getElementById('coverage').scrollIntoView({block: 'start'}); return true;")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    save_screenshot(&app, &app.screenshot().await, "filtered-heatmap.png");

    press(&app, "#cov-tab-gaps").await;
    app.wait_js(
        "the gaps tab shown",
        WAIT,
        "return document.getElementById('cov-pane-gaps').classList.contains('show');",
    )
    .await;
    let note = wait_text(
        &app,
        "the gaps filtered to IBM",
        "#cov-gaps-note",
        &format!("t === 'Showing 1–1 of 1 symbol matching IBM · 1 gap · {first} to {last}'"),
    )
    .await;
    eprintln!("filtered gaps: {note}");
    assert_eq!(
        gap_rows(&app).await,
        [vec![
            "IBM".to_string(),
            ibm_gap[0].to_string(),
            ibm_gap[4].to_string(),
            "5".to_string()
        ]]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    save_screenshot(&app, &app.screenshot().await, "filtered-gaps.png");

    // No filter: page through the heat map and the gaps.
    app.set_value("#cov-filter", "").await;
    wait_text(
        &app,
        "the heat map's first page again",
        "#cov-map-note",
        "t.startsWith('Showing 1–200 of 503 symbols ·')",
    )
    .await;
    assert_eq!(
        app.js("return document.getElementById('cov-map-prev').disabled;")
            .await,
        json!(true)
    );
    press(&app, "#cov-map-next").await;
    let note = wait_text(
        &app,
        "the heat map's second page",
        "#cov-map-note",
        "t.startsWith('Showing 201–400 of 503 symbols ·')",
    )
    .await;
    eprintln!("second page: {note}");
    let rows = heat_rows(&app).await;
    assert_eq!(
        (rows.len(), rows[0].as_str(), rows[199].as_str()),
        (200, "A200", "A399")
    );
    press(&app, "#cov-map-next").await;
    wait_text(
        &app,
        "the heat map's last page",
        "#cov-map-note",
        "t.startsWith('Showing 401–503 of 503 symbols ·')",
    )
    .await;
    assert_eq!(heat_rows(&app).await.last().unwrap(), "IBM");
    assert_eq!(
        app.js("return document.getElementById('cov-map-next').disabled;")
            .await,
        json!(true),
        "nothing after the last page"
    );

    wait_text(
        &app,
        "the gaps' first page again",
        "#cov-gaps-note",
        "t.startsWith('Showing 1–100 of 503 symbols · 0 gaps')",
    )
    .await;
    press(&app, "#cov-gaps-next").await;
    wait_text(
        &app,
        "the gaps' second page",
        "#cov-gaps-note",
        "t.startsWith('Showing 101–200 of 503 symbols · 0 gaps')",
    )
    .await;
    press(&app, "#cov-gaps-next").await;
    let note = wait_text(
        &app,
        "the gaps' third page",
        "#cov-gaps-note",
        &format!("t === 'Showing 201–300 of 503 symbols · 3 gaps · {first} to {last}'"),
    )
    .await;
    eprintln!("gaps, third page: {note}");
    let rows = gap_rows(&app).await;
    let expected: Vec<Vec<String>> = page3
        .iter()
        .map(|(s, d)| vec![s.to_string(), d.to_string(), d.to_string(), "1".to_string()])
        .collect();
    assert_eq!(rows, expected);

    // Fill all asks first, with what it submits and its estimate; cancelled, nothing goes.
    let store = Store::connect(&format!("sqlite://{}", app.default_sqlite().display()))
        .await
        .unwrap();
    assert_eq!(jobs_in_history(&store).await, 0);
    let shown = fill_all_confirmation(&app).await;
    eprintln!("confirmation: {shown}");
    assert_eq!(shown["title"], json!("Fill 3 gaps of 3 symbols?"));
    assert_eq!(shown["button"], json!("Submit 1 top-up job"));
    let body: Vec<String> = serde_json::from_value(shown["body"].clone()).unwrap();
    assert_eq!(
        body[0],
        "1 top-up job with fill will be submitted for 3 symbols; only the missing sessions are loaded."
    );
    let estimate = body[1]
        .strip_prefix("Estimate: up to ")
        .and_then(|r| {
            r.strip_suffix(
                " at 5 requests a minute; up to 3 more to register symbols not yet known.",
            )
        })
        .unwrap_or_else(|| panic!("the estimate at the plan's rate: {}", body[1]));
    let (requests, time) = estimate
        .split_once(" Polygon requests for the bars, about ")
        .unwrap_or_else(|| panic!("requests and time: {estimate}"));
    // A page of bars a symbol; 12 s a request at 5 a minute.
    assert_eq!((requests, time), ("3", "36 s"), "{estimate}");
    assert_eq!(body[2], "Only the gaps listed, in symbols 201–300 of 503.");
    save_screenshot(&app, &app.screenshot().await, "fill-all-confirmation.png");

    press(&app, "#confirm-modal .modal-footer .btn-secondary").await;
    wait_confirmation_closed(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        jobs_in_history(&store).await,
        0,
        "cancelled: nothing submitted"
    );
    assert_eq!(
        app.js("return (window.__e2eToasts || []).length;").await,
        json!(0),
        "no toast after a cancel"
    );

    // Confirmed: one top-up with fill over the three symbols and the span of their gaps.
    fill_all_confirmation(&app).await;
    press(&app, "#btn-confirm").await;
    wait_confirmation_closed(&app).await;
    let toast = wait_toast(&app, "Fill submitted", WAIT).await;
    let id = toast["mono"].as_str().unwrap().to_string();
    let run = store
        .job_run(&id)
        .await
        .unwrap()
        .expect("the fill is in the history");
    assert_eq!(run.kind, "top_up");
    assert_eq!(run.params["symbols"], json!(["A250", "A260", "A270"]));
    assert_eq!(run.params["fill"], json!(true));
    assert_eq!(
        (
            run.params["start_date"].as_str(),
            run.params["end_date"].as_str()
        ),
        (
            Some(days[20].to_string().as_str()),
            Some(days[24].to_string().as_str())
        )
    );
    assert_eq!(jobs_in_history(&store).await, 1);
    store.close().await;
    app.close().await;
}
