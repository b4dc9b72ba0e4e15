//! The calendar check against the fake Polygon's `/v1/marketstatus/upcoming`, through the
//! client and through `tickstock calendar --check`; and `tickstock splits` from check to
//! reload to cleared flag, as an operator runs it.

use chrono::{Duration, NaiveDate, NaiveTime};
use serde_json::Value;
use tickstock_data::calendar_check;
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakeHoliday, FakePolygon, FakePolygonConfig, FakeSplit};
use tickstock_testkit::redis_server::{shared_redis_url, unique_namespace};

use crate::support::{bin, bus_at, fast_polygon_client, run_in_process};

fn today() -> NaiveDate {
    tickstock_protocol::bars::ny_date(chrono::Utc::now().timestamp_millis())
}

async fn tickstock(
    fake: &FakePolygon,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, Value, String) {
    let mut c = tokio::process::Command::new(bin("tickstock"));
    c.args(args)
        .env("POLYGON_BASE_URL", fake.base_url())
        .env("POLYGON_API_KEY", fake.api_key())
        .env("POLYGON_RPM", "0")
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().await.expect("run tickstock");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let json = serde_json::from_str(&out).unwrap_or(Value::Null);
    (
        o.status.code().unwrap_or(-1),
        json,
        format!("{out}{}", String::from_utf8_lossy(&o.stderr)),
    )
}

#[tokio::test]
async fn the_calendar_agrees_with_polygon_and_each_difference_is_reported() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let polygon = fast_polygon_client(&fake);
    let theirs = polygon.upcoming_market_holidays().await.unwrap();
    assert!(!theirs.is_empty());
    assert!(theirs.iter().any(|h| h.exchange == "NASDAQ"));
    assert!(calendar_check::compare(today(), &theirs).is_empty());

    // Polygon drops our first holiday, moves an early close to 14:00 and adds a closing.
    let mut list = fake.market_holidays();
    let dropped = list.iter().position(|h| h.early_close.is_none()).unwrap();
    let dropped = list.remove(dropped).date;
    let early = list.iter_mut().find(|h| h.early_close.is_some()).unwrap();
    early.early_close = NaiveTime::from_hms_opt(14, 0, 0);
    let early = early.date;
    let mut added = today() + Duration::days(3);
    while !tickstock_protocol::calendar::is_trading_day(added)
        || tickstock_protocol::calendar::is_early_close(added)
    {
        added += Duration::days(1);
    }
    list.push(FakeHoliday {
        date: added,
        name: "Unscheduled closing".into(),
        early_close: None,
    });
    fake.set_market_holidays(Some(list));

    let got = calendar_check::compare(today(), &polygon.upcoming_market_holidays().await.unwrap());
    let mut dates: Vec<NaiveDate> = got.iter().map(|g| g.date).collect();
    dates.sort();
    let mut want = vec![dropped, early, added];
    want.sort();
    assert_eq!(dates, want, "{got:?}");

    // The command: exit 3, each disagreement in the JSON.
    let (code, json, text) = tickstock(&fake, &[], &["calendar", "--check", "--json"]).await;
    assert_eq!(code, 3, "{text}");
    assert_eq!(json["disagreements"].as_array().unwrap().len(), 3, "{text}");
    assert!(json["days"].as_array().unwrap().len() >= 9, "{text}");
    let (code, _, text) = tickstock(&fake, &[], &["calendar", "--check"]).await;
    assert_eq!(code, 3);
    assert!(text.contains("3 disagreement(s) with Polygon"), "{text}");
    assert!(text.contains("14:00"), "{text}");

    // Agreement: exit 0. Without a key: a clear refusal.
    fake.set_market_holidays(None);
    let (code, json, text) = tickstock(&fake, &[], &["calendar", "--check", "--json"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(json["disagreements"].as_array().unwrap().is_empty());
    let (code, _, text) =
        tickstock(&fake, &[("POLYGON_API_KEY", "")], &["calendar", "--check"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("No Polygon API key"), "{text}");
}

#[tokio::test]
async fn splits_from_the_command_line_check_reload_and_clear() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let loader = Loader::new(
        fast_polygon_client(&fake),
        store.clone(),
        LoaderConfig {
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let job = Job::new(
        JobSpec::MultiTimeframe {
            symbols: vec!["AAPL".into()],
            timeframes: vec![Timeframe::Day],
            range: DateRange {
                start_date: Some(d("2025-10-01")),
                end_date: Some(d("2025-10-31")),
                ..Default::default()
            },
        },
        "test",
    );
    assert_eq!(
        run_in_process(&loader, &job).await.state,
        JobState::Completed
    );
    fake.add_split(FakeSplit::new("AAPL", d("2025-10-15"), 1.0, 3.0));

    let ns = unique_namespace();
    let redis = shared_redis_url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TICKSTOCK_NAMESPACE", ns.as_str()),
    ];
    let (code, json, text) = tickstock(&fake, &env, &["splits", "--json"]).await;
    assert_eq!(code, 0, "{text}");
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["state"], "flagged");
    assert_eq!(rows[0]["needs_reload"], true);
    assert_eq!(rows[0]["split_to"], 3.0);

    let (code, json, text) = tickstock(&fake, &env, &["splits", "--reload", "--json"]).await;
    assert_eq!(code, 0, "{text}");
    let ids = json[0]["job_ids"].as_array().unwrap();
    assert_eq!(json[0]["symbol"], "AAPL");
    assert_eq!(ids.len(), 1, "{text}");
    let id = ids[0].as_str().unwrap();
    let bus = bus_at(&redis, &ns).await;
    assert!(
        bus.status(id).await.unwrap().is_some(),
        "the reload is on the bus"
    );

    // Still reloading until a worker ran the job; then the next listing clears the flag.
    let (_, json, text) = tickstock(&fake, &env, &["splits", "--no-check", "--json"]).await;
    assert_eq!(json[0]["state"], "reloading", "{text}");
    let mut worker = tokio::process::Command::new(bin("tickstock"))
        .args(["worker", "--scheduler", "false", "--listen-legacy", "false"])
        .env("POLYGON_BASE_URL", fake.base_url())
        .env("POLYGON_API_KEY", fake.api_key())
        .env("POLYGON_RPM", "0")
        .env("TICKSTOCK_SYMBOL_REFRESH_DAYS", "0")
        .envs(env)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start a worker");
    crate::support::wait_state(
        &bus,
        id,
        JobState::Completed,
        std::time::Duration::from_secs(60),
    )
    .await;
    let _ = worker.kill().await;
    let (_, json, text) = tickstock(&fake, &env, &["splits", "--no-check", "--json"]).await;
    assert_eq!(json[0]["state"], "reloaded", "{text}");
    assert_eq!(json[0]["needs_reload"], false);
    let close = store
        .read_bars("AAPL", Timeframe::Day)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.time == "2025-10-14")
        .unwrap()
        .close;
    let served = fast_polygon_client(&fake)
        .aggregates_all("AAPL", Timeframe::Day, d("2025-10-14"), d("2025-10-14"))
        .await
        .unwrap();
    assert_eq!(close, served[0].c, "the stored bar is the adjusted one");
    store.close().await;
}
