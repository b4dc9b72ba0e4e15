//! What a load tells about its symbols, on a rate-limited plan where every request counts:
//! a symbol that ends with no bars is named (never silently empty), loaded symbols are
//! registered in `symbols` from the reference list in a handful of pages, and the ticker
//! details only those have (SIC code, sector, industry) are filled from spare requests.

use std::time::Duration;

use chrono::NaiveDate;
use secrecy::SecretString;
use sqlx::Connection;
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::polygon::{PolygonClient, PolygonConfig};
use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, Fault, GROUPED, REFERENCE};
use tickstock_testkit::pg::{fresh_database, TestDb};

use crate::support::run_in_process;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn range(from: &str, to: &str) -> DateRange {
    DateRange {
        start_date: Some(d(from)),
        end_date: Some(d(to)),
        ..Default::default()
    }
}

/// A client for the fake at `rpm` requests a minute (0 = unlimited), quick retries.
fn client(fake: &FakePolygon, rpm: u32) -> PolygonClient {
    PolygonClient::new(config(fake, rpm)).expect("a client for the fake")
}

fn config(fake: &FakePolygon, rpm: u32) -> PolygonConfig {
    PolygonConfig::new(
        fake.base_url(),
        SecretString::from(fake.api_key().to_string()),
    )
    .with_requests_per_minute(rpm)
    .with_max_retries(2)
    .with_request_timeout(Duration::from_secs(5))
    .with_max_backoff(Duration::from_millis(20))
}

/// Runs a job in this process with its `job_runs` row written, as `tickstock load` does.
async fn run_with_history(loader: &Loader, job: &Job) -> tickstock_protocol::status::JobStatus {
    use std::sync::Arc;
    use tickstock_queue::lifecycle::{run_job, ForegroundHost, RunEnv};
    let env = RunEnv::new(
        Arc::new(tickstock_data::exec::MemoryCheckpoints::default()),
        Some(Arc::new(tickstock_data::history::StoreHistory(
            loader.store().clone(),
        ))),
    );
    let host = Arc::new(ForegroundHost::new(Arc::new(tickstock_data::exec::NoSink)));
    let mut start = tickstock_protocol::status::JobStatus::new(JobState::Running);
    start.worker_id = Some("tests".into());
    run_job(job, start, Arc::new(loader.clone()), host, env)
        .await
        .expect("a foreground run cannot fail to write")
        .status()
        .clone()
}

async fn pg_store() -> (TestDb, Store) {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.expect("the test database");
    (db, store)
}

fn historical(symbols: &[String], from: &str, to: &str) -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: symbols.to_vec(),
            timespan: Timeframe::Day,
            range: range(from, to),
        },
        "test",
    )
}

fn no_registration() -> LoaderConfig {
    LoaderConfig {
        symbol_refresh: None,
        ..LoaderConfig::default()
    }
}

#[tokio::test]
async fn a_symbol_in_no_grouped_response_is_confirmed_once_and_named() {
    let (db, store) = pg_store().await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    // ZZZZ: nothing anywhere (a typo, a ticker long delisted). TSTQ: in no grouped
    // response, but its own aggregates have bars (a rename the grouped list spells
    // otherwise): the confirming request loads them.
    fake.inject_always("ZZZZ", Fault::NoData);
    let mut symbols = store.universe_members("dow30").await.unwrap().unwrap();
    symbols.push("ZZZZ".into());
    symbols.push("TSTQ".into());
    let job = historical(&symbols, "2024-03-04", "2024-03-08");
    // Rate-limited (grouped daily is used), but not slowed down for the test.
    let loader = Loader::new(client(&fake, 100_000), store.clone(), no_registration());
    let st = run_in_process(&loader, &job).await;

    assert_eq!(fake.requests_for(GROUPED), 5, "one grouped request a day");
    assert_eq!(fake.requests_for("ZZZZ"), 1, "one request confirms ZZZZ");
    assert_eq!(fake.requests_for("TSTQ"), 1, "one request loads TSTQ");
    assert_eq!(fake.request_count(), 7, "no other per-symbol requests");
    assert_eq!(st.state, JobState::CompletedWithErrors, "{st:?}");
    assert_eq!(st.failed_symbols, ["ZZZZ"]);
    assert_eq!(st.failures.len(), 1);
    assert!(
        st.failures[0]
            .reason
            .contains("no bars from Polygon for ZZZZ in 2024-03-04..2024-03-08"),
        "{:?}",
        st.failures
    );
    assert!(
        st.error_message
            .as_deref()
            .is_some_and(|m| m.contains("ZZZZ") && m.contains("no bars from Polygon")),
        "{:?}",
        st.error_message
    );
    assert_eq!(st.successful_symbols.len(), 31);
    assert!(st.successful_symbols.iter().any(|s| s == "TSTQ"));
    // 30 members and TSTQ, five sessions each.
    assert_eq!(st.ohlcv_records_loaded, Some(31 * 5));
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_symbol_with_no_bars_on_the_aggregates_path_is_named() {
    let (db, store) = pg_store().await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    fake.inject_always("ZZZZ", Fault::NoData);
    let symbols: Vec<String> = ["AAPL", "ZZZZ"].iter().map(|s| s.to_string()).collect();
    let loader = Loader::new(client(&fake, 0), store.clone(), no_registration());
    let st = run_in_process(&loader, &historical(&symbols, "2024-03-04", "2024-03-08")).await;
    assert_eq!(st.state, JobState::CompletedWithErrors, "{st:?}");
    assert_eq!(st.failed_symbols, ["ZZZZ"]);
    assert!(st.failures[0]
        .reason
        .contains("no bars from Polygon for ZZZZ in 2024-03-04..2024-03-08"));

    // A range of no closed session (a weekend) has nothing to miss: no error.
    let st = run_in_process(&loader, &historical(&symbols, "2024-03-09", "2024-03-10")).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    store.close().await;
    db.drop_db().await;
}

/// Requests for one ticker's details.
fn details_requests(fake: &FakePolygon) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.starts_with("/v3/reference/tickers/"))
        .count()
}

/// The S&P 500 members as common stocks among about 9,500 other active tickers spread
/// over the alphabet, as Polygon's list of US stocks runs to about ten pages of 1000.
fn a_realistic_reference_list() -> (Vec<String>, Vec<(String, String)>) {
    let members: Vec<String> = tickstock_protocol::universe::find_builtin("sp500")
        .expect("the built-in S&P 500")
        .members();
    let mut rows: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.clone(), "CS".to_string()))
        .collect();
    for i in 0..9_500u32 {
        let l = |k: u32| char::from(b'A' + (k % 26) as u8);
        let t: String = [l(i), l(i / 26), l(i / 676), l(i / 17_576), 'Q']
            .iter()
            .collect();
        rows.push((t, if i % 5 == 0 { "ETF" } else { "CS" }.to_string()));
    }
    (members, rows)
}

#[tokio::test]
async fn a_500_symbol_universe_is_registered_from_a_few_list_pages_and_described_from_spare_requests(
) {
    let (db, store) = pg_store().await;
    let (members, reference) = a_realistic_reference_list();
    assert!(members.len() >= 500);
    let fake = FakePolygon::start(FakePolygonConfig {
        reference_tickers: reference,
        ..FakePolygonConfig::default()
    })
    .await;
    // January 2024: 21 sessions, fewer than symbols, so daily bars come from grouped daily.
    let job = Job::new(
        JobSpec::UniverseSeed {
            universe_type: "SP500".into(),
            refresh: false,
            range: range("2024-01-01", "2024-01-31"),
        },
        "test",
    );
    let loader = Loader::new(
        client(&fake, 100_000),
        store.clone(),
        LoaderConfig::default(),
    );
    let st = run_with_history(&loader, &job).await;
    assert_eq!(st.state, JobState::Completed, "{:?}", st.failures);
    assert_eq!(st.successful_symbols.len(), members.len());

    let grouped = fake.requests_for(GROUPED);
    let pages = fake.requests_for(REFERENCE);
    assert_eq!(grouped, 21);
    assert!(
        (1..=15).contains(&pages),
        "registered in {pages} list requests"
    );
    assert_eq!(details_requests(&fake), 0, "no details ahead of the bars");
    assert_eq!(fake.request_count(), grouped + pages, "nothing else");
    // Every list request is one Polygon knows: a ticker range of US stocks, active.
    for r in fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v3/reference/tickers")
    {
        assert!(
            r.query.contains("cursor=")
                || (r.query.contains("ticker.gte=") && r.query.contains("market=stocks")),
            "{}",
            r.query
        );
    }

    // Registered from the list, with TickStock's defaults where the list has no value;
    // the details are left, and the status says so.
    let rows = sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>)>(
        "SELECT symbol, name, sector, sic_code FROM symbols ORDER BY symbol",
    )
    .fetch_all(&mut sqlx::PgConnection::connect(&db.url).await.unwrap())
    .await
    .unwrap();
    assert_eq!(rows.len(), members.len(), "every member and nothing else");
    assert!(rows
        .iter()
        .all(|r| r.1.is_some() && r.2.as_deref() == Some("Unknown") && r.3.is_none()));
    let left = members.len();
    assert_eq!(st.extra["symbols_to_describe"], left);
    let note = format!("{left} symbols left to describe: from spare requests");
    assert!(
        st.message.as_deref().is_some_and(|m| m.contains(&note)),
        "{:?}",
        st.message
    );
    let run = store
        .job_run(&job.id)
        .await
        .unwrap()
        .expect("a job_runs row");
    assert!(
        run.message.as_deref().is_some_and(|m| m.contains(&note)),
        "the job detail says it too: {:?}",
        run.message
    );

    // Spare requests describe them, one details call each.
    fake.clear_requests();
    for _ in 0..3 {
        assert!(loader.describe_one().await.unwrap());
    }
    assert_eq!(details_requests(&fake), 3);
    assert_eq!(fake.request_count(), 3);
    let described: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT symbol, sic_code, sector FROM symbols WHERE described_at IS NOT NULL ORDER BY symbol",
    )
    .fetch_all(&mut sqlx::PgConnection::connect(&db.url).await.unwrap())
    .await
    .unwrap();
    assert_eq!(described.len(), 3);
    for (symbol, sic, sector) in &described {
        assert_eq!(
            Some(sector.as_str()),
            tickstock_protocol::sic::sector_of(sic),
            "{symbol}: the sector from the SIC code replaces the default"
        );
    }
    let names = members.clone();
    let still = store
        .symbols_to_describe(Some(&names), Duration::from_secs(86_400), usize::MAX)
        .await
        .unwrap();
    assert_eq!(still.len(), left - 3);

    // A later load of the same symbols registers nothing again.
    fake.clear_requests();
    let again = run_in_process(&loader, &job).await;
    assert_eq!(fake.requests_for(REFERENCE), 0);
    assert_eq!(details_requests(&fake), 0);
    assert_eq!(again.extra["symbols_to_describe"], left - 3);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn spare_requests_wait_for_a_free_slot_of_the_rate_limit() {
    let (db, store) = pg_store().await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let symbols: Vec<String> = ["AAPL", "MSFT"].iter().map(|s| s.to_string()).collect();
    // Four requests in two seconds: two bars and two registration lookups fill it.
    let mut cfg = config(&fake, 4);
    cfg.rate_window = Duration::from_secs(2);
    let loader = Loader::new(
        PolygonClient::new(cfg).unwrap(),
        store.clone(),
        LoaderConfig::default(),
    );
    let job = historical(&symbols, "2024-03-04", "2024-03-08");
    let st = run_in_process(&loader, &job).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    assert_eq!(fake.request_count(), 4);
    fake.clear_requests();
    // Nothing is spare now: nothing is sent, and nothing waits.
    let t = std::time::Instant::now();
    assert!(!loader.describe_one().await.unwrap());
    assert!(t.elapsed() < Duration::from_millis(500));
    assert_eq!(fake.request_count(), 0);
    // Once the window has room, both are described, then nothing is left.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(loader.describe_one().await.unwrap());
    assert!(loader.describe_one().await.unwrap());
    assert!(!loader.describe_one().await.unwrap());
    assert_eq!(details_requests(&fake), 2);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_fake_refuses_a_reference_filter_polygon_does_not_have() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let http = reqwest::Client::new();
    let get = |q: &str| {
        http.get(format!("{}/v3/reference/tickers?{q}", fake.base_url()))
            .bearer_auth(fake.api_key())
            .send()
    };
    // Polygon has no filter by a list of tickers.
    let r = get("ticker.any_of=AAPL,MSFT&limit=1000").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.to_string().contains("ticker.any_of"), "{body}");
    // The range filters it has are served.
    let r = get("ticker.gte=AAPL&ticker.lte=AMZN&market=stocks&active=true&limit=1000")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let tickers: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticker"].as_str().unwrap())
        .collect();
    assert_eq!(tickers, ["AAPL", "ABBV", "ADBE", "AGG", "AMD", "AMZN"]);
}
