//! End-to-end tests that what the operator reads is true (the real window, WebKitGTK under
//! Xvfb, driven through tauri-driver; see `support`):
//!
//! - every panel is read again when a job ends (the heat map shows the bars it loaded) and
//!   when the settings switch the backend to Redis + PostgreSQL (the Data summary and the
//!   heat map show that database's bars).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{App, AppEnv};
use tickstock_core::store::Store;
use tickstock_core::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::redis_server::RedisServer;

const WAIT: Duration = Duration::from_secs(20);

/// Records every toast the page raises (`window.__e2eToasts`).
const WATCH_TOASTS: &str = r#"
if (!window.__e2eToasts) {
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

async fn watch_toasts(app: &App) {
    app.js(WATCH_TOASTS).await;
}

/// Waits for a toast titled `title`; returns it.
async fn wait_toast(app: &App, title: &str, timeout: Duration) -> Value {
    app.wait_js(
        &format!("a {title:?} toast"),
        timeout,
        &format!("return (window.__e2eToasts || []).find((t) => t.title === {title:?}) || null;"),
    )
    .await
}

/// Clicks an element from the page (scrolled into view first): WebKitWebDriver refuses
/// native clicks on elements below the fold.
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

fn save_screenshot(app: &App, png: &[u8], name: &str) {
    let path = app.artifacts.join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
}

/// The symbols of the heat map's rows, once there are some.
const HEAT_ROWS: &str = "const r = [...document.querySelectorAll('#cov-heatmap tr[data-symbol]')].map((tr) => tr.dataset.symbol);
     return r.length ? r.join(',') : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_follow_a_job_end_and_a_change_of_settings() {
    let _serial = support::serial_guard().await;
    let polygon = FakePolygon::start(FakePolygonConfig::default()).await;
    let last = tickstock_core::calendar::last_closed_session(
        chrono::Utc::now(),
        tickstock_core::loader::FINAL_BAR_DELAY,
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
