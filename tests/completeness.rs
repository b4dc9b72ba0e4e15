//! Coverage and gaps against the NYSE calendar, on data the loader stored from the fake
//! Polygon (which, like Polygon, serves no bars on holidays and stops at 13:00 on early
//! closes): on our PostgreSQL and SQLite schemas and on TickStock's (naive timestamps).

use chrono::{NaiveDate, TimeZone, Utc};
use tickstock_core::completeness::{coverage, gaps};
use tickstock_core::job::{DateRange, Job, JobSpec};
use tickstock_core::loader::{Loader, LoaderConfig};
use tickstock_core::status::JobState;
use tickstock_core::store::Store;
use tickstock_core::Timeframe;
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
