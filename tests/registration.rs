//! What a load tells about its symbols, on a rate-limited plan where every request counts:
//! a symbol that ends with no bars is named (never silently empty), loaded symbols are
//! registered in `symbols` from the reference list in a handful of pages, and the ticker
//! details only those have (SIC code, sector, industry) are filled from spare requests.

use std::time::Duration;

use chrono::NaiveDate;
use secrecy::SecretString;
use tickstock_core::job::{DateRange, Job, JobSpec};
use tickstock_core::loader::{Loader, LoaderConfig};
use tickstock_core::polygon::{PolygonClient, PolygonConfig};
use tickstock_core::status::JobState;
use tickstock_core::store::Store;
use tickstock_core::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, Fault, GROUPED};
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
    PolygonClient::new(
        PolygonConfig::new(
            fake.base_url(),
            SecretString::from(fake.api_key().to_string()),
        )
        .with_requests_per_minute(rpm)
        .with_max_retries(2)
        .with_request_timeout(Duration::from_secs(5))
        .with_max_backoff(Duration::from_millis(20)),
    )
    .expect("a client for the fake")
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
