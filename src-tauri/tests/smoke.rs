//! The app on Tauri's mock runtime: setup runs, and each command's logic answers through
//! the core (embedded mode, a real SQLite file, the fake Polygon server).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindowBuilder;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};

fn call(
    w: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    tauri::test::get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

#[test]
fn commands_answer_through_the_core_in_embedded_mode() {
    let dir = tempfile::tempdir().unwrap();
    // One test in this binary: the environment is ours.
    std::env::set_var("XDG_DATA_HOME", dir.path().join("data"));
    std::env::set_var("XDG_CONFIG_HOME", dir.path().join("config"));
    for v in [
        "TICKSTOCK_REDIS_URL",
        "TICKSTOCK_DATABASE_URL",
        "POLYGON_API_KEY",
        "POLYGON_BASE_URL",
        "POLYGON_RPM",
    ] {
        std::env::remove_var(v);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakePolygon::start(FakePolygonConfig::default()));

    let mut app = tickstock_app::run_app(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("app builds");
    // The first turn of the event loop runs the app's setup (called once, not in a loop).
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let w = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();

    // Fresh install: embedded mode, no key.
    let h = call(&w, "health", json!({})).unwrap();
    assert_eq!(h["mode"], "embedded");
    assert_eq!(h["redis"]["configured"], false);
    let s = call(&w, "get_settings", json!({})).unwrap();
    assert_eq!(s["apiKeySet"], false);
    assert_eq!(s["mode"], "embedded");

    // Validation with the core's rules and messages, per field.
    let v = call(&w, "validate_job", json!({"request": {"kind": "historical_load", "symbols": "AAPL, aapl", "years": 1, "timespan": "day"}})).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["field"], "symbols");
    assert!(v["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("\"AAPL\" is listed twice"));
    let v = call(
        &w,
        "validate_job",
        json!({"request": {"kind": "universe_seed", "universeType": "SP500", "years": 2}}),
    )
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");

    // Without a key a submit says what to do; nothing is queued.
    let e = call(
        &w,
        "submit_job",
        json!({"request": {"kind": "historical_load", "symbols": ["AAPL"], "years": 1}}),
    )
    .unwrap_err();
    assert_eq!(e["kind"], "config", "{e}");
    // A bad setting names its field.
    let mut bad = s.clone();
    bad["redisUrl"] = json!("http://nope");
    let e = call(&w, "save_settings", json!({"settings": bad})).unwrap_err();
    assert_eq!(
        (e["kind"].as_str(), e["field"].as_str()),
        (Some("invalid_input"), Some("redisUrl")),
        "{e}"
    );

    // Save the key and the fake server's URL: the engine restarts with them.
    let mut good = s.clone();
    good["polygonBaseUrl"] = json!(fake.base_url());
    good["requestsPerMinute"] = json!(0);
    good["apiKey"] = json!(fake.api_key());
    let s = call(&w, "save_settings", json!({"settings": good})).unwrap();
    assert_eq!(s["apiKeySet"], true);
    assert_eq!(s["apiKeyStorage"], "file");
    let shown = s.to_string();
    assert!(
        !shown.contains(fake.api_key()),
        "the key never reaches the page"
    );

    let u = call(&w, "list_universes", json!({})).unwrap();
    assert!(u
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["key"] == "sp500" && x["members"].as_i64().unwrap() > 490));
    let p = call(&w, "universe_preview", json!({"key": "SPY:nope"})).unwrap();
    assert!(p["count"].as_u64().unwrap() > 490);
    assert_eq!(p["unknown"], json!(["nope"]));

    // A load end to end on the built-in worker.
    let r = call(&w, "submit_job", json!({"request": {"kind": "multi_timeframe_load", "symbols": "AAPL MSFT", "startDate": "2024-03-04", "endDate": "2024-03-15", "timeframes": ["day", "hour"]}})).unwrap();
    let id = r["jobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = call(&w, "job_detail", json!({"jobId": id})).unwrap();
        if d["status"] == "completed" {
            assert_eq!(d["progress"], 100);
            assert_eq!(d["ohlcvRecordsLoaded"], 2 * (10 + 70));
            break;
        }
        assert!(Instant::now() < deadline, "job did not finish: {d}");
        let _ = call(&w, "active_jobs", json!({})).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let sum = call(&w, "data_summary", json!({})).unwrap();
    let daily = sum
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "ohlcv_daily")
        .unwrap();
    assert_eq!(
        (daily["rows"].as_i64(), daily["symbols"].as_i64()),
        (Some(20), Some(2))
    );
    let list = call(&w, "list_jobs", json!({"filter": {"query": "MSFT"}})).unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["status"], "completed");
    let list = call(&w, "list_jobs", json!({"filter": {"query": &id[..8]}})).unwrap();
    assert_eq!(list["items"][0]["jobId"], id.as_str());
    // Export CSV reports where the file went (the Save dialog's answer comes from
    // TICKSTOCK_EXPORT_PATH here), or why it could not be written.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("jobs.csv");
    std::env::set_var("TICKSTOCK_EXPORT_PATH", &file);
    let res = call(&w, "export_jobs_csv", json!({"query": {}})).unwrap();
    assert_eq!(res["path"], file.display().to_string());
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(csv.lines().nth(1).unwrap().starts_with(&id));
    let bad = out.path().join("missing").join("jobs.csv");
    std::env::set_var("TICKSTOCK_EXPORT_PATH", &bad);
    let e = call(&w, "export_jobs_csv", json!({"query": {}})).unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&format!("Could not write {}", bad.display())),
        "{e}"
    );
    std::env::remove_var("TICKSTOCK_EXPORT_PATH");
    let e = call(&w, "clear_jobs", json!({"prefix": "ab"})).unwrap_err();
    assert_eq!(e["field"], "prefix");
    let retry = call(&w, "retry_job", json!({"jobId": id})).unwrap();
    assert_ne!(retry["jobId"], id.as_str());
    let c = call(&w, "cancel_job", json!({"jobId": "not-a-job"})).unwrap_err();
    assert_eq!(c["kind"], "not_found");

    // About: the version and the folders the user's data is kept in.
    let about = call(&w, "about", json!({})).unwrap();
    assert!(!about["version"].as_str().unwrap().is_empty());
    let data_home = dir.path().join("data");
    assert!(about["dataDir"]
        .as_str()
        .unwrap()
        .starts_with(data_home.to_str().unwrap()));
    assert!(!about["logDir"].as_str().unwrap().is_empty());
    drop(fake);
}
