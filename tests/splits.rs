//! Splits against the fake Polygon (which adjusts the bars it serves for the splits a test
//! declares, as Polygon does): a split declared after the bars were stored flags the
//! symbol, one declared before does not, a future one waits; the reload brings the stored
//! bars to Polygon's adjusted values and clears the flag. On PostgreSQL (ours and
//! TickStock's tables) and SQLite; plus the fake's own listing: paging and refusals.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::polygon::SplitQuery;
use tickstock_data::store::Store;
use tickstock_jobs::splits;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, FakeSplit, SPLITS};
use tickstock_testkit::pg::{fresh_database, tickstock_database};

use crate::support::{fast_polygon_client, run_in_process};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const FROM: &str = "2025-11-03";
const TO: &str = "2025-12-05";
/// A day inside the stored range: AAPL splits 4-for-1 there after its bars were stored.
const SPLIT_DAY: &str = "2025-11-17";

fn load(symbols: &[&str], timeframes: Vec<Timeframe>) -> Job {
    Job::new(
        JobSpec::MultiTimeframe {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timeframes,
            range: DateRange {
                start_date: Some(d(FROM)),
                end_date: Some(d(TO)),
                ..Default::default()
            },
        },
        "test",
    )
}

async fn stored_close(store: &Store, symbol: &str, day: &str) -> f64 {
    store
        .read_bars(symbol, Timeframe::Day)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.time == day)
        .unwrap_or_else(|| panic!("{symbol} has a bar on {day}"))
        .close
}

async fn flag_and_reload(store: &Store) {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let polygon = fast_polygon_client(&fake);
    let loader = Loader::new(
        polygon.clone(),
        store.clone(),
        LoaderConfig {
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    // MSFT's split is known before its bars are loaded: they come adjusted.
    fake.add_split(FakeSplit::new("MSFT", d("2025-11-10"), 1.0, 2.0));
    let st = run_in_process(
        &loader,
        &load(&["AAPL", "MSFT"], vec![Timeframe::Day, Timeframe::Hour]),
    )
    .await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    let before = stored_close(store, "AAPL", "2025-11-14").await;

    // Then AAPL splits inside its stored range; another split is announced for later; a
    // split of a symbol not stored is no business of ours.
    let today = tickstock_protocol::bars::ny_date(chrono::Utc::now().timestamp_millis());
    fake.add_split(FakeSplit::new("AAPL", d(SPLIT_DAY), 1.0, 4.0));
    fake.add_split(FakeSplit::new("AAPL", today + Duration::days(20), 1.0, 2.0));
    fake.add_split(FakeSplit::new("NVDA", d("2025-11-20"), 1.0, 10.0));

    let rows = splits::check(store, &polygon, None, today).await.unwrap();
    let state = |sym: &str, date: NaiveDate| {
        rows.iter()
            .find(|r| r.symbol == sym && r.execution_date == date)
            .map(|r| (r.state.clone(), r.detail.clone().unwrap_or_default()))
    };
    let (s, detail) = state("AAPL", d(SPLIT_DAY)).expect("AAPL's split is recorded");
    assert_eq!(s, splits::FLAGGED, "{detail}");
    assert!(
        detail.contains("2025-11-14"),
        "names the bar compared: {detail}"
    );
    assert_eq!(
        state("AAPL", today + Duration::days(20))
            .map(|x| x.0)
            .as_deref(),
        Some(splits::UPCOMING)
    );
    let (s, detail) = state("MSFT", d("2025-11-10")).expect("MSFT's split is recorded");
    assert_eq!(s, splits::UNAFFECTED, "{detail}");
    assert!(rows.iter().all(|r| r.symbol != "NVDA"), "{rows:?}");
    assert_eq!(splits::flagged(store, None).await.unwrap(), vec!["AAPL"]);

    // A second check asks Polygon for the listing only: settled splits are not compared again.
    fake.clear_requests();
    splits::check(store, &polygon, None, today).await.unwrap();
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, vec!["/v3/reference/splits"], "{paths:?}");

    // The reload: AAPL's stored range in one job (day and hour share it).
    let plan = splits::reload_jobs(store, None, "test").await.unwrap();
    assert_eq!(plan.len(), 1);
    let (symbol, jobs) = &plan[0];
    assert_eq!(symbol, "AAPL");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    splits::mark_reloading(store, symbol, &ids).await.unwrap();
    assert_eq!(splits::pending_reload_jobs(store).await.unwrap(), ids);
    // Not over yet: nothing changes.
    assert_eq!(
        splits::settle_reloads(store, &HashMap::new())
            .await
            .unwrap(),
        0
    );

    // A failed reload flags it again, with the reason.
    let failed: HashMap<String, JobState> =
        ids.iter().map(|i| (i.clone(), JobState::Failed)).collect();
    assert_eq!(splits::settle_reloads(store, &failed).await.unwrap(), 1);
    let again = store.split_checks(Some(&["AAPL".into()])).await.unwrap();
    let r = again
        .iter()
        .find(|r| r.execution_date == d(SPLIT_DAY))
        .unwrap();
    assert_eq!(r.state, splits::FLAGGED);
    assert!(
        r.detail.as_deref().unwrap_or("").contains("failed"),
        "{r:?}"
    );

    // Run it for real; once completed the flag clears and the bars are Polygon's adjusted ones.
    let plan = splits::reload_jobs(store, None, "test").await.unwrap();
    let job = &plan[0].1[0];
    splits::mark_reloading(store, "AAPL", std::slice::from_ref(&job.id))
        .await
        .unwrap();
    let st = run_in_process(&loader, job).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    let done: HashMap<String, JobState> = [(job.id.clone(), st.state)].into();
    assert_eq!(splits::settle_reloads(store, &done).await.unwrap(), 1);
    assert!(splits::flagged(store, None).await.unwrap().is_empty());
    let r = store.split_checks(Some(&["AAPL".into()])).await.unwrap();
    assert!(r
        .iter()
        .any(|r| r.execution_date == d(SPLIT_DAY) && r.state == splits::RELOADED));
    let after = stored_close(store, "AAPL", "2025-11-14").await;
    assert!(
        (after * 4.0 - before).abs() < 0.01,
        "adjusted 4-for-1: {before} then {after}"
    );
    // The bars after the split were right all along.
    let served = polygon
        .aggregates_all("AAPL", Timeframe::Day, d("2025-11-20"), d("2025-11-20"))
        .await
        .unwrap();
    assert_eq!(stored_close(store, "AAPL", "2025-11-20").await, served[0].c);
}

#[tokio::test]
async fn splits_flag_and_reload_on_postgres() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    flag_and_reload(&store).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn splits_flag_and_reload_on_tickstocks_tables() {
    let db = tickstock_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    flag_and_reload(&store).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn splits_flag_and_reload_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    flag_and_reload(&store).await;
    store.close().await;
}

#[tokio::test]
async fn the_fake_lists_splits_as_polygon_does() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    for i in 0..25 {
        fake.add_split(FakeSplit::new(
            &format!("T{i:02}"),
            d("2024-01-02") + Duration::days(i),
            1.0,
            2.0,
        ));
    }
    fake.add_split(FakeSplit::new("REV", d("2024-06-03"), 10.0, 1.0));
    let http = reqwest_like_get(&fake);

    // Default page: 10, newest first, with a next_url whose cursor changes every page.
    let (code, first) = http("/v3/reference/splits").await;
    assert_eq!(code, 200);
    let results = first["results"].as_array().unwrap();
    assert_eq!(results.len(), 10);
    assert_eq!(results[0]["ticker"], "REV");
    assert_eq!(results[0]["split_from"], 10);
    assert!(results[0]["id"].as_str().unwrap().starts_with('E'));
    let mut next = first["next_url"].as_str().unwrap().to_string();
    let mut seen = 10;
    let mut cursors = std::collections::HashSet::new();
    while !next.is_empty() {
        assert!(cursors.insert(next.clone()), "a cursor repeated: {next}");
        let path = next.trim_start_matches(&fake.base_url()).to_string();
        let (code, page) = http(&path).await;
        assert_eq!(code, 200, "{page}");
        seen += page["results"].as_array().unwrap().len();
        next = page["next_url"].as_str().unwrap_or("").to_string();
    }
    assert_eq!(seen, 26);

    // Filters.
    let (_, one) = http("/v3/reference/splits?ticker=t03").await;
    assert_eq!(one["results"].as_array().unwrap().len(), 1);
    let (_, since) =
        http("/v3/reference/splits?execution_date.gte=2024-01-20&order=asc&limit=1000").await;
    let dates: Vec<&str> = since["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["execution_date"].as_str().unwrap())
        .collect();
    assert_eq!(dates.first(), Some(&"2024-01-20"));
    assert_eq!(dates.last(), Some(&"2024-06-03"));
    assert_eq!(dates.len(), 8, "{dates:?}");
    assert!(since.get("next_url").is_none());
    let (_, rev) = http("/v3/reference/splits?reverse_split=true").await;
    assert_eq!(rev["results"].as_array().unwrap().len(), 1);

    // Refusals.
    for bad in [
        "/v3/reference/splits?execution_date.gte=2024-13-01",
        "/v3/reference/splits?limit=1001",
        "/v3/reference/splits?limit=0",
        "/v3/reference/splits?order=up",
        "/v3/reference/splits?cursor=zz",
    ] {
        let (code, body) = http(bad).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert_eq!(body["status"], "ERROR");
    }

    // The client pages through all and orders them oldest first; faults reach it.
    let polygon = fast_polygon_client(&fake);
    let all = polygon.splits(&SplitQuery::default()).await.unwrap();
    assert_eq!(all.len(), 26);
    assert!(all
        .windows(2)
        .all(|w| w[0].execution_date <= w[1].execution_date));
    fake.inject_always(SPLITS, tickstock_testkit::fake_polygon::Fault::NotEntitled);
    let err = polygon.splits(&SplitQuery::default()).await.unwrap_err();
    assert!(err.to_string().contains("splits"), "{err}");
}

/// A GET on the fake with the right key: (status, JSON body).
fn reqwest_like_get(
    fake: &FakePolygon,
) -> impl Fn(&str) -> std::pin::Pin<Box<dyn std::future::Future<Output = (u16, serde_json::Value)>>>
{
    let base = fake.base_url();
    let key = fake.api_key().to_string();
    move |path: &str| {
        let url = format!("{base}{path}");
        let key = key.clone();
        Box::pin(async move { http_get(&url, &key).await })
    }
}

/// A minimal HTTP/1.1 GET over a TCP stream (the suite has no HTTP client of its own).
async fn http_get(url: &str, key: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let u = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut target = u.path().to_string();
    if let Some(q) = u.query() {
        target = format!("{target}?{q}");
    }
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let code: u16 = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        code,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_split_reload_schedule_checks_and_submits_the_reloads() {
    use tickstock_data::store::JobRun;
    use tickstock_jobs::schedule::Scheduler;

    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let polygon = fast_polygon_client(&fake);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    let loader = Loader::new(
        polygon.clone(),
        store.clone(),
        LoaderConfig {
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let st = run_in_process(&loader, &load(&["AAPL", "MSFT"], vec![Timeframe::Day])).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    fake.add_split(FakeSplit::new("AAPL", d(SPLIT_DAY), 1.0, 4.0));
    let request = serde_json::json!({"kind": tickstock_jobs::schedule::SPLIT_RELOAD});
    tickstock_jobs::schedule::validate(
        "splits",
        "trading-days 17:00",
        &serde_json::from_value(request.clone()).unwrap(),
    )
    .expect("a split check needs no symbols");
    store
        .add_schedule("splits", "trading-days 17:00", &request)
        .await
        .unwrap();
    let bus = crate::support::bus().await;

    // Without the Polygon client (the app's scheduler): a clear refusal.
    let plain = Scheduler::new(
        store.clone(),
        crate::support::service(&bus, &store),
        "test",
        None,
    );
    let err = plain.run_now("splits").await.unwrap_err();
    assert!(
        err.message().contains("Polygon client"),
        "{}",
        err.message()
    );

    let scheduler = plain.with_polygon(polygon.clone());
    let id = scheduler.run_now("splits").await.unwrap();
    assert!(!id.is_empty(), "a reload was submitted");
    let status = bus
        .status(&id)
        .await
        .unwrap()
        .expect("the reload is on the bus");
    assert_eq!(status.state, JobState::Submitted, "{status:?}");
    let rows = store.split_checks(None).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].symbol.as_str(), rows[0].state.as_str()),
        ("AAPL", splits::RELOADING)
    );
    assert_eq!(rows[0].reload_jobs, vec![id.clone()]);
    assert_eq!(
        store.schedules().await.unwrap()[0].last_job_id.as_deref(),
        Some(id.as_str())
    );

    // A worker ends the reload (its status on the bus, its record in the history); the
    // next pass clears the flag and submits nothing.
    bus.put_status(
        &id,
        &tickstock_protocol::status::JobStatus::new(JobState::Completed),
    )
    .await
    .unwrap();
    let mut run = JobRun::new(&id, "multi_timeframe_load", serde_json::json!({}));
    run.status = "completed".into();
    store.upsert_job_run(&run).await.unwrap();
    let next = scheduler
        .tick(chrono::Utc::now() + Duration::days(4))
        .await
        .unwrap();
    assert_eq!(
        next.fired.len(),
        1,
        "the due time fires once: {:?}",
        next.fired
    );
    assert_eq!(next.fired[0].job_id, "", "nothing left to reload");
    let again = scheduler
        .tick(chrono::Utc::now() + Duration::days(4))
        .await
        .unwrap();
    assert!(again.fired.is_empty(), "{:?}", again.fired);
    let rows = store.split_checks(None).await.unwrap();
    assert_eq!(rows[0].state, splits::RELOADED, "{rows:?}");
    store.close().await;
}

/// Split reloads (`tickstock splits --reload` and the `split_reload` schedule) go through
/// the job service: each reload's submit writes its one history row, and a reload
/// identical to an active job is not submitted again: that job is recorded as the
/// symbol's reload.
#[tokio::test]
async fn split_reloads_are_recorded_at_submit_and_not_queued_again_while_active() {
    use crate::support::{history_ids, service};

    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let polygon = fast_polygon_client(&fake);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    let loader = Loader::new(
        polygon.clone(),
        store.clone(),
        LoaderConfig {
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let st = run_in_process(&loader, &load(&["AAPL"], vec![Timeframe::Day])).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    fake.add_split(FakeSplit::new("AAPL", d(SPLIT_DAY), 1.0, 4.0));
    let today = tickstock_protocol::bars::ny_date(chrono::Utc::now().timestamp_millis());
    splits::check(&store, &polygon, None, today).await.unwrap();
    assert_eq!(splits::flagged(&store, None).await.unwrap(), vec!["AAPL"]);
    let bus = crate::support::bus().await;
    let service = service(&bus, &store);

    let first = splits::submit_reloads(&store, &service, None, "ana")
        .await
        .unwrap();
    assert_eq!(first.0.len(), 1, "{first:?}");
    let id = first.first_submitted().expect("a reload was submitted");
    assert_eq!(first.0[0].job_ids, vec![id.clone()]);
    assert!(first.already_active().is_empty());
    assert_eq!(history_ids(&store).await, vec![id.clone()]);
    let row = store.job_run(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.kind.as_str()),
        ("submitted", "multi_timeframe_load")
    );

    // Flagged again while that reload still waits: nothing new is queued, the active job
    // is the symbol's reload.
    for mut r in store.split_checks(None).await.unwrap() {
        r.state = splits::FLAGGED.into();
        store.upsert_split_check(&r).await.unwrap();
    }
    let again = splits::submit_reloads(&store, &service, None, "bob")
        .await
        .unwrap();
    assert_eq!(again.first_submitted(), None, "{again:?}");
    assert_eq!(again.already_active(), vec![id.clone()]);
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::json!([{"symbol": "AAPL", "job_ids": [id], "already_active": [id]}])
    );
    assert_eq!(history_ids(&store).await, vec![id.clone()]);
    let rows = store.split_checks(None).await.unwrap();
    assert_eq!(rows[0].state, splits::RELOADING);
    assert_eq!(rows[0].reload_jobs, vec![id.clone()]);
    assert_eq!(bus.list_jobs(100).await.unwrap().len(), 1);
    store.close().await;
}
