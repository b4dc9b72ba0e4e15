//! Fast coverage (`bar_counts` plus index probes) against a full count of the minute and
//! hour tables: equal after our loads, after another writer appends days or adds a
//! symbol, and after a rebuild once rows inside a counted span changed behind our back.
//! On PostgreSQL (ours and TickStock's tables) and SQLite.

use chrono::NaiveDate;
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::store::{Store, SymbolSpan, TableCoverage};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::pg::{fresh_database, tickstock_database};

use crate::support::{fast_polygon_client, run_in_process};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

enum Db {
    Postgres { url: String, naive: bool },
    Sqlite(String),
}

impl Db {
    /// Runs SQL written for PostgreSQL (`$n`) on either database.
    async fn exec(&self, sql: &str) {
        use sqlx::Connection;
        match self {
            Db::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
            Db::Sqlite(url) => {
                let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
        }
    }

    /// A stored instant as the table's column takes it.
    fn instant(&self, utc: &str) -> String {
        match self {
            Db::Postgres { naive: true, .. } => {
                format!("'{}'", utc.trim_end_matches('Z').replace('T', " "))
            }
            Db::Postgres { .. } => format!("'{utc}'"),
            Db::Sqlite(_) => format!("'{utc}'"),
        }
    }

    /// First, last and count per symbol, counted in full.
    async fn full_spans(&self, tf: Timeframe) -> Vec<(String, String, String, i64)> {
        use sqlx::Connection;
        let (table, col) = match tf {
            Timeframe::Minute => ("ohlcv_1min", "\"timestamp\""),
            _ => ("ohlcv_hourly", "\"timestamp\""),
        };
        match self {
            Db::Postgres { url, naive } => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                let cast = if *naive {
                    format!("to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
                } else {
                    format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
                };
                sqlx::query_as(&format!(
                    "SELECT symbol::text, min({cast}), max({cast}), count(*) FROM {table} GROUP BY symbol ORDER BY symbol"
                ))
                .fetch_all(&mut c)
                .await
                .unwrap()
            }
            Db::Sqlite(url) => {
                let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query_as(&format!(
                    "SELECT symbol, min({col}), max({col}), count(*) FROM {table} GROUP BY symbol ORDER BY symbol"
                ))
                .fetch_all(&mut c)
                .await
                .unwrap()
            }
        }
    }
}

fn tuples(spans: &[SymbolSpan]) -> Vec<(String, String, String, i64)> {
    spans
        .iter()
        .map(|s| (s.symbol.clone(), s.first.clone(), s.last.clone(), s.bars))
        .collect()
}

async fn assert_agree(store: &Store, db: &Db, when: &str) {
    for tf in [Timeframe::Minute, Timeframe::Hour] {
        let full = db.full_spans(tf).await;
        let fast = store.symbol_spans(tf, None).await.unwrap();
        assert_eq!(tuples(&fast), full, "{when}: {tf}, every symbol");
        for one in &full {
            let fast = store
                .symbol_spans(tf, Some(std::slice::from_ref(&one.0)))
                .await
                .unwrap();
            assert_eq!(tuples(&fast), vec![one.clone()], "{when}: {tf}, {}", one.0);
        }
        let table: TableCoverage = store
            .coverage()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.timeframe == tf)
            .unwrap();
        assert_eq!(
            table.rows,
            full.iter().map(|s| s.3).sum::<i64>(),
            "{when}: {tf} rows"
        );
        assert_eq!(table.symbols, full.len() as i64, "{when}: {tf} symbols");
        assert_eq!(table.earliest, full.iter().map(|s| s.1.clone()).min());
        assert_eq!(table.latest, full.iter().map(|s| s.2.clone()).max());
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
    let load = |symbols: &[&str], from: &str, to: &str| {
        Job::new(
            JobSpec::MultiTimeframe {
                symbols: symbols.iter().map(|s| s.to_string()).collect(),
                timeframes: vec![Timeframe::Minute, Timeframe::Hour],
                range: DateRange {
                    start_date: Some(d(from)),
                    end_date: Some(d(to)),
                    ..Default::default()
                },
            },
            "test",
        )
    };
    // Small pages: a load writes many pages, each recounting its days.
    fake.set_page_size(500);
    let st = run_in_process(
        &loader,
        &load(&["AAPL", "MSFT"], "2025-11-24", "2025-12-05"),
    )
    .await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    // A reload of part of the range (rows exist: the merge path) and a later top-up.
    let st = run_in_process(&loader, &load(&["AAPL"], "2025-11-28", "2025-12-02")).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    let st = run_in_process(&loader, &load(&["MSFT"], "2025-12-08", "2025-12-09")).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    assert_agree(store, &db, "after our loads").await;

    // Another writer appends a day to AAPL and adds a symbol the counts do not know.
    let mut rows = Vec::new();
    for (sym, day) in [("AAPL", "2025-12-08"), ("ZZZ", "2025-12-03")] {
        for m in 0..5 {
            rows.push(format!(
                "('{sym}', {}, 1, 1, 1, 1, 100)",
                db.instant(&format!("{day}T14:3{m}:00Z"))
            ));
        }
    }
    db.exec(&format!(
        "INSERT INTO ohlcv_1min (symbol, \"timestamp\", open, high, low, close, volume) VALUES {}",
        rows.join(", ")
    ))
    .await;
    assert_agree(store, &db, "after another writer appended").await;

    // Rows deleted inside a counted span are seen once the counts are rebuilt.
    db.exec(&format!(
        "DELETE FROM ohlcv_1min WHERE symbol = 'MSFT' AND \"timestamp\" >= {} AND \"timestamp\" < {}",
        db.instant("2025-12-01T00:00:00Z"),
        db.instant("2025-12-02T00:00:00Z")
    ))
    .await;
    let stale = store
        .symbol_spans(Timeframe::Minute, Some(&["MSFT".into()]))
        .await
        .unwrap();
    let full = db.full_spans(Timeframe::Minute).await;
    let msft = full.iter().find(|s| s.0 == "MSFT").unwrap();
    assert_eq!(
        stale[0].bars - msft.3,
        390,
        "the deleted day is still counted until a rebuild"
    );
    let counted = store.rebuild_bar_counts().await.unwrap();
    assert_eq!(
        counted[0],
        (Timeframe::Minute, full.iter().map(|s| s.3).sum::<i64>())
    );
    assert_agree(store, &db, "after a rebuild").await;
}

#[tokio::test]
async fn fast_coverage_agrees_with_a_full_count_on_postgres() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    check(
        &store,
        Db::Postgres {
            url: db.url.clone(),
            naive: false,
        },
    )
    .await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn fast_coverage_agrees_with_a_full_count_on_tickstocks_tables() {
    let db = tickstock_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    check(
        &store,
        Db::Postgres {
            url: db.url.clone(),
            naive: true,
        },
    )
    .await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn fast_coverage_agrees_with_a_full_count_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    check(&store, Db::Sqlite(url)).await;
    store.close().await;
}

#[tokio::test]
async fn counts_of_rows_stored_before_are_not_trusted_until_rebuilt() {
    // A database whose minute table held rows before our tables existed (TickStock's).
    let db = tickstock_database().await;
    let pg = Db::Postgres {
        url: db.url.clone(),
        naive: true,
    };
    pg.exec("CREATE TABLE IF NOT EXISTS ohlcv_1min (symbol VARCHAR(20), \"timestamp\" TIMESTAMP, open DECIMAL(12,4), high DECIMAL(12,4), low DECIMAL(12,4), close DECIMAL(12,4), volume BIGINT, PRIMARY KEY (symbol, \"timestamp\"))").await;
    pg.exec("INSERT INTO ohlcv_1min (symbol, \"timestamp\", open, high, low, close, volume) VALUES ('OLD', '2024-01-02 14:30:00', 1, 1, 1, 1, 1), ('OLD', '2024-01-02 14:31:00', 1, 1, 1, 1, 1)").await;
    let store = Store::connect(&db.url).await.unwrap();
    let spans = store.symbol_spans(Timeframe::Minute, None).await.unwrap();
    assert_eq!(tuples(&spans), pg.full_spans(Timeframe::Minute).await);
    assert_eq!(
        spans[0].bars, 2,
        "counted in full: the summary is not complete"
    );
    store.rebuild_bar_counts().await.unwrap();
    assert_agree(&store, &pg, "after the first rebuild").await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_heat_map_counts_each_month_from_the_first_bar() {
    use chrono::{TimeZone, Utc};
    use tickstock_data::completeness::SymbolPage;
    use tickstock_data::heatmap::monthly;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    let day: Vec<_> =
        FakePolygon::expected_bars("AAPL", Timeframe::Day, d("2025-11-12"), d("2025-12-05"))
            .into_iter()
            .filter(|b| b.ny_date() != d("2025-12-02"))
            .collect();
    store
        .write_bars("AAPL", Timeframe::Day, &day)
        .await
        .unwrap();
    let minute =
        FakePolygon::expected_bars("AAPL", Timeframe::Minute, d("2025-11-28"), d("2025-11-28"));
    store
        .write_bars("AAPL", Timeframe::Minute, &minute)
        .await
        .unwrap();
    let now = Utc.with_ymd_and_hms(2025, 12, 8, 17, 0, 0).unwrap();
    let all = SymbolPage::first(200);

    let map = monthly(&store, None, &all, Timeframe::Day, 3, now)
        .await
        .unwrap();
    assert_eq!(map.months, ["2025-10", "2025-11", "2025-12"]);
    assert_eq!(map.to, d("2025-12-05"));
    let cells = &map.rows[0].cells;
    assert_eq!(cells[0].completeness, None, "before the first bar");
    assert_eq!(
        (cells[1].bars, cells[1].expected),
        (12, 12),
        "from Nov 12, Thanksgiving closed"
    );
    assert_eq!((cells[2].bars, cells[2].expected), (4, 5));
    assert_eq!(cells[2].rating, Some("poor"));

    // Minute bars: the early close's 210 minutes, from the counts.
    let map = monthly(
        &store,
        Some(&["AAPL".into()]),
        &all,
        Timeframe::Minute,
        2,
        now,
    )
    .await
    .unwrap();
    let cells = &map.rows[0].cells;
    assert_eq!((cells[0].bars, cells[0].expected), (210, 210));
    assert_eq!(
        cells[1].completeness,
        Some(0.0),
        "nothing stored in December"
    );
    assert!(monthly(&store, None, &all, Timeframe::Week, 3, now)
        .await
        .is_err());
    store.close().await;
}

/// The heat map and the gaps of 230 symbols: pages past the first, and a filter that picks
/// the last one by ticker with its gap.
async fn check_pages_and_filter(store: &Store) {
    use chrono::{TimeZone, Utc};
    use tickstock_data::completeness::{gaps_page, SymbolPage};
    use tickstock_data::heatmap::monthly;
    let (from, to) = (d("2025-12-01"), d("2025-12-05"));
    let now = Utc.with_ymd_and_hms(2025, 12, 8, 17, 0, 0).unwrap();
    // 230 symbols; the last (past 200 by ticker) misses Dec 2 and 3.
    let names: Vec<String> = (0..229)
        .map(|i| format!("S{i:03}"))
        .chain(["ZZZ".into()])
        .collect();
    for name in &names {
        let bars: Vec<_> = FakePolygon::expected_bars(name, Timeframe::Day, from, to)
            .into_iter()
            .filter(|b| name != "ZZZ" || ![d("2025-12-02"), d("2025-12-03")].contains(&b.ny_date()))
            .collect();
        store.write_bars(name, Timeframe::Day, &bars).await.unwrap();
    }
    let page = |filter: Option<&str>, offset: usize, limit: usize| SymbolPage {
        filter: filter.map(str::to_string),
        offset,
        limit,
    };

    let map = monthly(store, None, &page(None, 0, 500), Timeframe::Day, 1, now)
        .await
        .unwrap();
    assert_eq!(
        (map.rows.len(), map.total, map.more),
        (200, 230, 30),
        "at most 200 a page"
    );
    let map = monthly(store, None, &page(None, 200, 200), Timeframe::Day, 1, now)
        .await
        .unwrap();
    assert_eq!((map.offset, map.rows.len(), map.more), (200, 30, 0));
    assert_eq!(map.rows[29].symbol, "ZZZ");
    let map = monthly(
        store,
        None,
        &page(Some("zz"), 0, 200),
        Timeframe::Day,
        1,
        now,
    )
    .await
    .unwrap();
    assert_eq!((map.total, map.rows.len()), (1, 1));
    assert_eq!(
        (map.rows[0].cells[0].bars, map.rows[0].cells[0].expected),
        (3, 5)
    );

    let gaps = gaps_page(
        store,
        None,
        &page(None, 0, 1000),
        Timeframe::Day,
        from,
        to,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (gaps.total, gaps.reports.len()),
        (230, 100),
        "at most 100 daily a page"
    );
    assert!(gaps.reports.iter().all(|r| r.gaps.is_empty()));
    let gaps = gaps_page(
        store,
        None,
        &page(None, 200, 100),
        Timeframe::Day,
        from,
        to,
        now,
    )
    .await
    .unwrap();
    assert_eq!((gaps.offset, gaps.reports.len()), (200, 30));
    let gaps = gaps_page(
        store,
        None,
        &page(Some("ZZZ"), 0, 100),
        Timeframe::Day,
        from,
        to,
        now,
    )
    .await
    .unwrap();
    assert_eq!((gaps.total, gaps.reports.len()), (1, 1));
    assert_eq!(gaps.reports[0].gaps.len(), 1);
    assert_eq!(
        (
            gaps.reports[0].gaps[0].from,
            gaps.reports[0].gaps[0].sessions
        ),
        (d("2025-12-02"), 2)
    );
}

#[tokio::test]
async fn the_heat_map_and_the_gaps_page_past_the_first_symbols_and_filter_them_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/ts.db", dir.path().display()))
        .await
        .unwrap();
    check_pages_and_filter(&store).await;
    store.close().await;
}

#[tokio::test]
async fn the_heat_map_and_the_gaps_page_past_the_first_symbols_and_filter_them_on_postgres() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.unwrap();
    check_pages_and_filter(&store).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn coverage_rebuild_from_the_command_line_trusts_the_counts_after() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ts.db", dir.path().display());
    // Rows stored before our tables existed (another writer's).
    let store = Store::connect(&url).await.unwrap();
    store.close().await;
    let db = Db::Sqlite(url.clone());
    db.exec("DELETE FROM _sqlx_migrations WHERE version = 20251129000012; DROP TABLE bar_counts; DROP TABLE bar_counts_state;").await;
    db.exec("INSERT INTO ohlcv_1min (symbol, \"timestamp\", open, high, low, close, volume) VALUES ('OLD', '2024-01-02T14:30:00Z', 1, 1, 1, 1, 1), ('OLD', '2024-01-02T14:31:00Z', 1, 1, 1, 1, 1)").await;
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::bin("tickstock"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let args = [
        "coverage",
        "--symbols",
        "all",
        "--timeframes",
        "1min",
        "--json",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(before[0]["bars"], 2);
    // The migration runs (a store that writes), finds rows and does not trust empty counts.
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store.symbol_spans(Timeframe::Minute, None).await.unwrap()[0].bars,
        2
    );
    store.close().await;
    let o = run(&["coverage", "--rebuild", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("counted 2 1min bars"));
    let o = run(&args);
    let after: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(after, before);
    assert_agree(
        &Store::connect(&url).await.unwrap(),
        &db,
        "after the command's rebuild",
    )
    .await;
}
