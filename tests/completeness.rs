//! Coverage and gaps against the NYSE calendar, on data the loader stored from the fake
//! Polygon (which, like Polygon, serves no bars on holidays and stops at 13:00 on early
//! closes): on our PostgreSQL and SQLite schemas and on TickStock's (naive timestamps).

use chrono::{NaiveDate, TimeZone, Utc};
use tickstock_data::completeness::{coverage, gaps};
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::pg::{fresh_database, tickstock_database};

use crate::support::{fast_polygon_client, run_in_process};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Thanksgiving week 2025 and the week after: Thursday closed, Friday closing at 13:00.
const FROM: &str = "2025-11-24";
const TO: &str = "2025-12-05";

/// How to delete one New York day of AAPL's bars in the database under test.
enum Db {
    Postgres(String),
    TickStock(String),
    Sqlite(String),
}

impl Db {
    async fn delete_dec_2(&self) {
        use sqlx::Connection;
        let day = "DELETE FROM ohlcv_daily WHERE symbol = 'AAPL' AND date = '2025-12-02'";
        match self {
            Db::Postgres(url) | Db::TickStock(url) => {
                let (a, b) = if matches!(self, Db::Postgres(_)) {
                    ("2025-12-02 05:00:00+00", "2025-12-03 05:00:00+00")
                } else {
                    ("2025-12-02 05:00:00", "2025-12-03 05:00:00")
                };
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query(day).execute(&mut c).await.unwrap();
                let n = sqlx::query(&format!(
                    "DELETE FROM ohlcv_1min WHERE symbol = 'AAPL' AND \"timestamp\" >= '{a}' AND \"timestamp\" < '{b}'"
                ))
                .execute(&mut c)
                .await
                .unwrap()
                .rows_affected();
                assert_eq!(n, 390);
            }
            Db::Sqlite(url) => {
                let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query(day).execute(&mut c).await.unwrap();
                let n = sqlx::query(
                    "DELETE FROM ohlcv_1min WHERE symbol = 'AAPL' AND \"timestamp\" >= '2025-12-02T05:00:00Z' AND \"timestamp\" < '2025-12-03T05:00:00Z'",
                )
                .execute(&mut c)
                .await
                .unwrap()
                .rows_affected();
                assert_eq!(n, 390);
            }
        }
    }
}

async fn check(store: &Store, db: Db) {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let loader = Loader::new(
        fast_polygon_client(&fake),
        store.clone(),
        LoaderConfig {
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let job = Job::new(
        JobSpec::MultiTimeframe {
            symbols: vec!["AAPL".into()],
            timeframes: vec![Timeframe::Minute, Timeframe::Day],
            range: DateRange {
                start_date: Some(d(FROM)),
                end_date: Some(d(TO)),
                ..Default::default()
            },
        },
        "test",
    );
    let st = run_in_process(&loader, &job).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    // Monday Dec 8, noon in New York: Friday Dec 5 is the last closed session.
    let now = Utc.with_ymd_and_hms(2025, 12, 8, 17, 0, 0).unwrap();

    // Complete: no gap; the holiday and the early close's afternoon are not gaps.
    for tf in [Timeframe::Minute, Timeframe::Day] {
        let r = gaps(store, "AAPL", tf, d(FROM), d(TO), now).await.unwrap();
        assert!(r.gaps.is_empty(), "{tf}: {r:?}");
        assert!(r.partial_sessions.is_empty(), "{tf}: {r:?}");
        assert_eq!(r.bars, r.expected, "{tf}");
        assert_eq!(r.rating, "good");
    }
    let r = gaps(
        store,
        "AAPL",
        Timeframe::Minute,
        d("2025-11-28"),
        d("2025-11-28"),
        now,
    )
    .await
    .unwrap();
    assert_eq!((r.bars, r.expected), (210, 210), "the early close");
    let r = gaps(store, "AAPL", Timeframe::Day, d(FROM), d(TO), now)
        .await
        .unwrap();
    assert_eq!(r.expected, 9, "ten weekdays, Thanksgiving closed");

    // A day deleted from both tables is a gap, and the only one.
    db.delete_dec_2().await;
    for tf in [Timeframe::Minute, Timeframe::Day] {
        let r = gaps(store, "AAPL", tf, d(FROM), d(TO), now).await.unwrap();
        assert_eq!(r.gaps.len(), 1, "{tf}: {r:?}");
        assert_eq!(
            (r.gaps[0].from, r.gaps[0].to),
            (d("2025-12-02"), d("2025-12-02"))
        );
        let per_session = if tf == Timeframe::Day { 1 } else { 390 };
        assert_eq!(r.expected - r.bars, per_session, "{tf}");
    }
    // Coverage per symbol: eight of nine sessions between the first and the last bar,
    // current as of the last closed session.
    let cov = coverage(store, Some(&["AAPL".to_string()]), &[Timeframe::Day], now)
        .await
        .unwrap();
    assert_eq!(cov.len(), 1);
    assert_eq!((cov[0].bars, cov[0].expected), (8, 9));
    assert_eq!(cov[0].rating, "poor");
    assert_eq!((cov[0].first.as_str(), cov[0].last.as_str()), (FROM, TO));
    assert_eq!(cov[0].sessions_behind, 0);
    let later = Utc.with_ymd_and_hms(2025, 12, 10, 22, 0, 0).unwrap();
    let cov = coverage(store, None, &[Timeframe::Day], later)
        .await
        .unwrap();
    assert_eq!(
        cov[0].sessions_behind, 3,
        "Dec 8, 9 and 10 have closed since"
    );
}

#[tokio::test]
async fn gaps_and_coverage_on_postgres() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    check(&store, Db::Postgres(db.url.clone())).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn gaps_and_coverage_on_tickstocks_tables() {
    let db = tickstock_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    check(&store, Db::TickStock(db.url.clone())).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn gaps_and_coverage_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    check(&store, Db::Sqlite(url)).await;
    store.close().await;
}

/// Aggregates requests the fake received, as (ticker, timespan, from, to) path parts.
fn aggregate_requests(fake: &FakePolygon) -> Vec<(String, String, String, String)> {
    fake.requests()
        .into_iter()
        .filter_map(|r| {
            let parts: Vec<String> = r
                .path
                .trim_start_matches('/')
                .split('/')
                .map(str::to_string)
                .collect();
            (parts.len() == 9 && parts[1] == "aggs" && parts[2] == "ticker").then(|| {
                (
                    parts[3].clone(),
                    parts[6].clone(),
                    parts[7].clone(),
                    parts[8].clone(),
                )
            })
        })
        .collect()
}

/// Top-up and fill as jobs through Redis and a worker: a top-up asks for one request per
/// symbol and timeframe from the last stored session to the last closed one; a fill asks
/// only for the runs of missing sessions; neither reaches TickStockPL's channel.
#[tokio::test]
async fn top_up_and_fill_load_only_what_is_missing() {
    use futures_util::StreamExt;
    use std::sync::Arc;
    use tickstock_data::history::StoreHistory;
    use tickstock_queue::worker::Worker;
    use tokio_util::sync::CancellationToken;

    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let loader = Loader::new(
        fast_polygon_client(&fake),
        store.clone(),
        LoaderConfig {
            symbol_refresh: None,
            ..LoaderConfig::default()
        },
    );
    let last_closed = tickstock_protocol::calendar::last_closed_session(
        Utc::now(),
        tickstock_data::loader::FINAL_BAR_DELAY,
    );
    let sessions = tickstock_protocol::calendar::trading_days(
        last_closed - chrono::Duration::days(40),
        last_closed,
    );
    let n = sessions.len();
    let (start, loaded_to) = (sessions[n - 20], sessions[n - 6]);
    let symbols = ["AAPL".to_string(), "MSFT".to_string()];
    let tfs = [Timeframe::Minute, Timeframe::Day];
    let first = Job::new(
        JobSpec::MultiTimeframe {
            symbols: symbols.to_vec(),
            timeframes: tfs.to_vec(),
            range: DateRange {
                start_date: Some(start),
                end_date: Some(loaded_to),
                ..Default::default()
            },
        },
        "test",
    );
    assert_eq!(
        run_in_process(&loader, &first).await.state,
        JobState::Completed
    );

    let bus = crate::support::bus().await;
    let mut legacy = redis::Client::open(tickstock_testkit::redis_server::shared_redis_url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    legacy
        .subscribe(bus.keys().channel_data_load())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader),
        crate::support::fast_worker_config(),
        stop.clone(),
        Some(Arc::new(StoreHistory(store.clone()))),
    );
    let worker = tokio::spawn(async move { w.run().await });

    // Top-up: from the last stored session (again) to the last closed one.
    fake.clear_requests();
    let top_up = Job::new(
        JobSpec::TopUp {
            symbols: symbols.to_vec(),
            timeframes: tfs.to_vec(),
            fill: false,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "scheduler:daily",
    );
    bus.submit(&top_up).await.unwrap();
    let st = crate::support::wait_state(
        &bus,
        &top_up.id,
        JobState::Completed,
        std::time::Duration::from_secs(30),
    )
    .await;
    let mut reqs = aggregate_requests(&fake);
    reqs.sort();
    let mut want = Vec::new();
    for s in &symbols {
        for span in ["day", "minute"] {
            want.push((
                s.clone(),
                span.to_string(),
                loaded_to.to_string(),
                last_closed.to_string(),
            ));
        }
    }
    want.sort();
    assert_eq!(
        reqs, want,
        "one request per symbol and timeframe, from the last bar"
    );
    let new_days = 5u64;
    assert_eq!(
        st.ohlcv_records_loaded,
        Some(
            2 * (new_days + 1)
                + 2 * tickstock_protocol::calendar::expected_bars(
                    Timeframe::Minute,
                    loaded_to,
                    last_closed
                )
        ),
        "the last stored session again, then the five new ones"
    );
    for s in &symbols {
        for tf in tfs {
            let r = gaps(&store, s, tf, start, last_closed, Utc::now())
                .await
                .unwrap();
            assert!(r.gaps.is_empty() && r.bars == r.expected, "{s} {tf}: {r:?}");
        }
    }

    // Fill: two runs deleted from AAPL's daily bars, two requests, nothing else.
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let holes = [sessions[n - 18], sessions[n - 17], sessions[n - 10]];
    for day in holes {
        sqlx::query("DELETE FROM ohlcv_daily WHERE symbol = 'AAPL' AND date = $1")
            .bind(day)
            .execute(&mut c)
            .await
            .unwrap();
    }
    fake.clear_requests();
    let fill = Job::new(
        JobSpec::TopUp {
            symbols: vec!["AAPL".into()],
            timeframes: vec![Timeframe::Day],
            fill: true,
            range: DateRange {
                start_date: Some(start),
                end_date: Some(last_closed),
                ..Default::default()
            },
        },
        "test",
    );
    bus.submit(&fill).await.unwrap();
    let st = crate::support::wait_state(
        &bus,
        &fill.id,
        JobState::Completed,
        std::time::Duration::from_secs(30),
    )
    .await;
    assert_eq!(st.ohlcv_records_loaded, Some(3));
    let reqs = aggregate_requests(&fake);
    assert_eq!(
        reqs,
        [
            (
                "AAPL".into(),
                "day".into(),
                holes[0].to_string(),
                holes[1].to_string()
            ),
            (
                "AAPL".into(),
                "day".into(),
                holes[2].to_string(),
                holes[2].to_string()
            ),
        ]
    );
    let r = gaps(
        &store,
        "AAPL",
        Timeframe::Day,
        start,
        last_closed,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(r.gaps.is_empty(), "{r:?}");

    // Neither job went to TickStockPL's channel.
    let mut messages = legacy.on_message();
    let heard = tokio::time::timeout(std::time::Duration::from_millis(300), messages.next()).await;
    assert!(
        heard.is_err(),
        "a top_up reached the legacy channel: {heard:?}"
    );
    drop(messages);
    stop.cancel();
    worker.await.unwrap().unwrap();
    store.close().await;
    db.drop_db().await;
}
