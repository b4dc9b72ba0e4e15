//! Against a database shaped like a real TickStock installation
//! (`crates/testkit/sql/tickstock_schema.sql`): TickStock's OHLCV tables with surrogate ids,
//! `DECIMAL(12,4)` prices, `BIGINT` volume, naive `TIMESTAMP` holding UTC and
//! `transactions`; its universe groups with `environment` and a type CHECK; its wide
//! `symbols` table. The store must start on it without altering it, resolve universes as
//! TickStock does (one environment, types UNIVERSE and ETF), land bars at the columns'
//! precision and register loaded symbols in TickStock's own columns.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{fast_polygon_client as polygon, run_in_process as run};
use chrono::NaiveDate;
use sqlx::{Connection, Row};
use tickstock_data::loader::{resolve_for_publish, Loader, LoaderConfig};
use tickstock_data::store::{Store, StoreOptions};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::pg::{fresh_database, tickstock_database, TestDb};
use tokio_util::sync::CancellationToken;

async fn open(db: &TestDb, environment: &str) -> Store {
    Store::connect_with(
        &db.url,
        &StoreOptions {
            environment: environment.into(),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the store opens on TickStock's database: {e}"))
}

async fn conn(db: &TestDb) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&db.url).await.unwrap()
}

/// Every column of TickStock's tables with its type, nullability and default, and every
/// constraint: what "not altered" is checked against.
async fn tickstock_shape(db: &TestDb) -> Vec<String> {
    let mut c = conn(db).await;
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
                || ' ' || COALESCE(column_default, '-')
           FROM information_schema.columns
          WHERE table_schema = 'public'
            AND table_name IN ('definition_groups', 'group_memberships', 'symbols', 'ohlcv_daily',
                               'ohlcv_1min', 'ohlcv_hourly', 'ohlcv_weekly', 'ohlcv_monthly')
          ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let cons: Vec<String> = sqlx::query_scalar(
        "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
           FROM pg_constraint
          WHERE conrelid::regclass::text IN ('definition_groups', 'group_memberships', 'symbols',
                'ohlcv_daily', 'ohlcv_1min', 'ohlcv_hourly', 'ohlcv_weekly', 'ohlcv_monthly')
          ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let idx: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
            AND tablename IN ('definition_groups', 'group_memberships', 'symbols', 'ohlcv_daily',
                              'ohlcv_1min', 'ohlcv_hourly', 'ohlcv_weekly', 'ohlcv_monthly')
          ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    out.extend(cons);
    out.extend(idx);
    out
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn multi(symbols: &[&str], tfs: &[Timeframe], from: &str, to: &str) -> Job {
    Job::new(
        JobSpec::MultiTimeframe {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timeframes: tfs.to_vec(),
            range: DateRange {
                start_date: Some(d(from)),
                end_date: Some(d(to)),
                ..Default::default()
            },
        },
        "test",
    )
}

/// Every daily row as one string, to compare before and after a rerun.
async fn daily_snapshot(c: &mut sqlx::PgConnection) -> String {
    sqlx::query_scalar(
        "SELECT string_agg(symbol || date || open || high || low || close || volume || transactions, ','
                ORDER BY symbol, date) FROM ohlcv_daily",
    )
    .fetch_one(c)
    .await
    .unwrap()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[tokio::test]
async fn the_store_starts_on_tickstock_tables_and_alters_nothing() {
    let db = tickstock_database().await;
    let before = tickstock_shape(&db).await;
    let store = open(&db, "DEFAULT").await;
    // Twice: the second start finds our own tables in place.
    store.close().await;
    let store = open(&db, "DEFAULT").await;
    assert_eq!(
        tickstock_shape(&db).await,
        before,
        "TickStock's tables are used as they are"
    );
    let mut c = conn(&db).await;
    let groups: i64 = sqlx::query_scalar("SELECT count(*) FROM definition_groups")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(
        groups, 5,
        "no built-in universe is written into TickStock's groups"
    );
    // Our own tables exist beside TickStock's.
    let ours: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('job_runs', 'job_checkpoints')",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(ours, 2);
    // Built-in universes are offered beside TickStock's own UNIVERSE and ETF groups; the
    // THEME group is not a universe.
    let keys: Vec<String> = store
        .list_universes()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert_eq!(
        keys,
        ["SPY", "dow30", "etf", "nasdaq100", "sp500", "tech_leaders"]
    );
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn universes_resolve_in_one_environment_as_tickstock_resolves_them() {
    let db = tickstock_database().await;
    let default = open(&db, "DEFAULT").await;
    let test = open(&db, "test").await;
    assert_eq!(test.environment(), "TEST");
    let members = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        default.universe_members("tech_leaders").await.unwrap(),
        members(&["AAPL", "MSFT", "NVDA"])
    );
    assert_eq!(
        test.universe_members("tech_leaders").await.unwrap(),
        members(&["TSTA", "TSTB"]),
        "TEST's group, never DEFAULT's members"
    );
    // An ETF group is that fund's holdings, not the built-in index it tracks.
    assert_eq!(
        default.universe_members("SPY").await.unwrap(),
        members(&["AAPL", "AMZN", "JPM"])
    );
    assert_eq!(
        test.universe_members("SPY:tech_leaders").await.unwrap(),
        members(&["TSTA", "TSTB", "TSTC"])
    );
    assert_eq!(
        default.universe_members("SPY:tech_leaders").await.unwrap(),
        members(&["AAPL", "AMZN", "JPM", "MSFT", "NVDA"])
    );
    // A THEME group is not a universe; an unknown key is unknown.
    assert_eq!(default.universe_members("semis").await.unwrap(), None);
    assert_eq!(default.universe_members("nope").await.unwrap(), None);
    // Built-ins are offered where the database has no such group.
    let dow = default.universe_members("DOW30").await.unwrap().unwrap();
    assert_eq!(dow.len(), 30);

    // A universe job published from here carries the resolved members for TickStockPL.
    let seed = Job::new(
        JobSpec::UniverseSeed {
            universe_type: "tech_leaders".into(),
            refresh: false,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "test",
    );
    let published = resolve_for_publish(seed, Some(&test)).await.unwrap();
    assert_eq!(
        published.to_value()["symbols"],
        serde_json::json!(["TSTA", "TSTB"])
    );
    assert_eq!(published.to_value()["universe_type"], "tech_leaders");
    let csv = Job::new(
        JobSpec::CsvUniverse {
            csv_file: None,
            universe_key: Some("SPY:tech_leaders".into()),
            symbols: None,
            timeframes: vec![Timeframe::Day],
            include_ohlcv: true,
            source: None,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "test",
    );
    let published = resolve_for_publish(csv, Some(&default)).await.unwrap();
    assert_eq!(
        published.to_value()["symbols"],
        serde_json::json!(["AAPL", "AMZN", "JPM", "MSFT", "NVDA"])
    );
    assert_eq!(published.to_value()["universe_key"], "SPY:tech_leaders");
    let unknown = Job::new(
        JobSpec::UniverseSeed {
            universe_type: "semis".into(),
            refresh: false,
            range: DateRange::default(),
        },
        "test",
    );
    let err = resolve_for_publish(unknown, Some(&default))
        .await
        .unwrap_err();
    assert!(err.message().contains("semis"), "{}", err.message());

    // Writing a universe goes into this environment, in a form TickStock's CHECKs accept.
    test.replace_universe(
        "my_list",
        "My list",
        "UNIVERSE",
        Some(d("2026-11-01")),
        &["IBM".to_string()],
    )
    .await
    .unwrap();
    assert_eq!(default.universe_members("my_list").await.unwrap(), None);
    assert_eq!(
        test.universe_members("my_list").await.unwrap(),
        members(&["IBM"])
    );
    let listed = test.list_universes().await.unwrap();
    let mine = listed.iter().find(|u| u.key == "mylist").unwrap();
    assert_eq!(mine.as_of, Some(d("2026-11-01")), "as-of kept in metadata");
    default.close().await;
    test.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn bars_land_in_tickstock_columns_at_their_precision() {
    let db = tickstock_database().await;
    let store = open(&db, "DEFAULT").await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let loader = Loader::new(polygon(&fake), store.clone(), LoaderConfig::default());
    let (from, to) = ("2024-03-08", "2024-03-12");
    let job = multi(
        &["AAPL", "MSFT"],
        &[Timeframe::Day, Timeframe::Minute, Timeframe::Week],
        from,
        to,
    );
    let st = run(&loader, &job).await;
    assert_eq!(st.state, JobState::Completed, "{st:?}");

    let mut c = conn(&db).await;
    for symbol in ["AAPL", "MSFT"] {
        // Daily rows keyed by the New York trading date, values at DECIMAL(12,4), volume
        // whole shares, transactions from `n`.
        let want = FakePolygon::expected_bars(symbol, Timeframe::Day, d(from), d(to));
        let rows = sqlx::query(
            "SELECT date, open::float8, high::float8, low::float8, close::float8, volume, transactions
               FROM ohlcv_daily WHERE symbol = $1 ORDER BY date",
        )
        .bind(symbol)
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert_eq!(rows.len(), want.len(), "{symbol} daily rows");
        for (r, b) in rows.iter().zip(&want) {
            assert_eq!(r.get::<NaiveDate, _>(0), b.ny_date());
            assert_eq!(r.get::<f64, _>(1), round4(b.o));
            assert_eq!(r.get::<f64, _>(2), round4(b.h));
            assert_eq!(r.get::<f64, _>(3), round4(b.l));
            assert_eq!(r.get::<f64, _>(4), round4(b.c));
            assert_eq!(r.get::<i64, _>(5), b.v.round() as i64);
            assert_eq!(
                r.get::<Option<i32>, _>(6).map(i64::from),
                b.n.map(|n| n as i64)
            );
        }
        // Minute rows: the naive TIMESTAMP holds the bar's UTC instant.
        let want = FakePolygon::expected_bars(symbol, Timeframe::Minute, d(from), d(to));
        let rows = sqlx::query(
            "SELECT to_char(\"timestamp\", 'YYYY-MM-DD\"T\"HH24:MI:SS'), close::float8
               FROM ohlcv_1min WHERE symbol = $1 ORDER BY \"timestamp\"",
        )
        .bind(symbol)
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert_eq!(rows.len(), want.len(), "{symbol} minute rows");
        for (r, b) in rows.iter().zip(&want) {
            assert_eq!(
                r.get::<String, _>(0),
                b.time_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
            );
            assert_eq!(r.get::<f64, _>(1), round4(b.c));
        }
        // Read back through the store, as UTC.
        let stored = store.read_bars(symbol, Timeframe::Minute).await.unwrap();
        assert_eq!(stored.len(), want.len());
        assert_eq!(
            stored[0].time,
            want[0]
                .time_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    let ids: i64 = sqlx::query_scalar("SELECT count(DISTINCT id) FROM ohlcv_1min")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ohlcv_1min")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(ids, rows, "TickStock's surrogate ids are filled");

    // A rerun finds every row and changes none (the merge path, with TickStock's types).
    let first = daily_snapshot(&mut c).await;
    let again = run(
        &loader,
        &multi(&["AAPL", "MSFT"], &[Timeframe::Day], from, to),
    )
    .await;
    assert_eq!(again.state, JobState::Completed, "{again:?}");
    assert_eq!(daily_snapshot(&mut c).await, first);
    // A changed stored value is put right by the merge.
    sqlx::query("UPDATE ohlcv_daily SET close = 1, volume = 1 WHERE symbol = 'AAPL'")
        .execute(&mut c)
        .await
        .unwrap();
    run(&loader, &multi(&["AAPL"], &[Timeframe::Day], from, to)).await;
    assert_eq!(daily_snapshot(&mut c).await, first);

    let cov = store.coverage().await.unwrap();
    let minute = cov
        .iter()
        .find(|t| t.timeframe == Timeframe::Minute)
        .unwrap();
    assert_eq!(minute.symbols, 2);
    assert!(minute
        .earliest
        .as_deref()
        .unwrap()
        .starts_with("2024-03-08T14:30:00"));
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn loaded_symbols_are_registered_in_tickstocks_columns() {
    let db = tickstock_database().await;
    let store = open(&db, "DEFAULT").await;
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let loader = Loader::new(polygon(&fake), store.clone(), LoaderConfig::default());
    // ZZZZ is unknown to the reference data: its details call answers 404.
    let job = multi(
        &["AAPL", "SPY", "ZZZZ"],
        &[Timeframe::Day],
        "2024-03-04",
        "2024-03-08",
    );
    let st = run(&loader, &job).await;
    assert_eq!(
        st.state,
        JobState::Completed,
        "a missing details call never fails the bars: {st:?}"
    );
    assert_eq!(st.ohlcv_records_loaded, Some(15));
    // Registered from the reference list (one `ticker=` request each for a few symbols),
    // no details call ahead of the bars; the details are left and said to be.
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.path.starts_with("/v3/reference/tickers/"))
            .count(),
        0
    );
    assert_eq!(st.extra["symbols_to_describe"], 2);

    // Where Polygon has no value, TickStock's own defaults (its loader's
    // `ensure_symbol_exists`): sector and industry Unknown until the SIC code comes,
    // country US, currency symbol $, and its ETF fields.
    let mut c = conn(&db).await;
    let defaults = sqlx::query(
        "SELECT symbol, sector, industry, country, currency_symbol, etf_type, issuer,
                correlation_reference, underlying_index, fmv_supported, dividend_frequency,
                creation_unit_size, sic_updated_at IS NULL
           FROM symbols ORDER BY symbol",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let row = |r: &sqlx::postgres::PgRow| {
        (
            (
                r.get::<String, _>(0),
                r.get::<Option<String>, _>(1),
                r.get::<Option<String>, _>(2),
                r.get::<Option<String>, _>(3),
                r.get::<Option<String>, _>(4),
            ),
            r.get::<Option<String>, _>(5),
            r.get::<Option<String>, _>(6),
            r.get::<Option<String>, _>(7),
            r.get::<Option<String>, _>(8),
            r.get::<Option<bool>, _>(9),
            r.get::<Option<String>, _>(10),
            r.get::<Option<i32>, _>(11),
            r.get::<bool, _>(12),
        )
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        row(&defaults[0]),
        (
            (
                "AAPL".to_string(),
                s("Unknown"),
                s("Unknown"),
                s("US"),
                s("$")
            ),
            None,
            s(""),
            s(""),
            s(""),
            None,
            s(""),
            None,
            true
        )
    );
    assert_eq!(
        row(&defaults[1]),
        (
            (
                "SPY".to_string(),
                s("Unknown"),
                s("Unknown"),
                s("US"),
                s("$")
            ),
            s("ETF"),
            s("State Street"),
            s("SPY"),
            s("S&P 500"),
            Some(true),
            s("quarterly"),
            Some(50_000),
            true
        )
    );

    // Described later (spare requests, or `tickstock load --describe`): the SIC code and
    // what comes from it replace the defaults.
    fake.clear_requests();
    let described = loader
        .describe_all(&["AAPL".into(), "SPY".into()])
        .await
        .unwrap();
    assert_eq!(described, 2);
    assert_eq!(fake.request_count(), 2);
    let rows = sqlx::query(
        "SELECT symbol, name, type, exchange, primary_exchange, active, cik, composite_figi,
                currency_name, sic_code, sic_description, sector, industry, list_date,
                market_cap, last_updated, last_updated_utc
           FROM symbols ORDER BY symbol",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let by: BTreeMap<String, &sqlx::postgres::PgRow> =
        rows.iter().map(|r| (r.get::<String, _>(0), r)).collect();
    assert_eq!(by.keys().collect::<Vec<_>>(), ["AAPL", "SPY"]);
    let aapl = by["AAPL"];
    assert_eq!(aapl.get::<String, _>(1), "Apple Inc.");
    assert_eq!(aapl.get::<String, _>(2), "CS");
    assert_eq!(aapl.get::<String, _>(3), "XNAS");
    assert_eq!(aapl.get::<String, _>(4), "XNAS");
    assert!(aapl.get::<bool, _>(5));
    assert!(aapl.get::<Option<String>, _>(6).is_some(), "CIK");
    assert!(aapl.get::<Option<String>, _>(7).is_some(), "FIGI");
    assert_eq!(aapl.get::<Option<String>, _>(8).as_deref(), Some("usd"));
    let sic: String = aapl.get(9);
    assert_eq!(
        aapl.get::<Option<String>, _>(11).as_deref(),
        tickstock_protocol::sic::sector_of(&sic),
        "sector from the SIC code {sic}"
    );
    assert_eq!(
        aapl.get::<Option<String>, _>(12),
        aapl.get::<Option<String>, _>(10),
        "industry is the SIC description"
    );
    assert!(aapl.get::<Option<NaiveDate>, _>(13).is_some(), "list date");
    assert!(aapl.get::<Option<i64>, _>(14).unwrap() > 0, "market cap");
    let refreshed: chrono::NaiveDateTime = aapl.get(15);
    assert!(
        (chrono::Utc::now().naive_utc() - refreshed)
            .num_minutes()
            .abs()
            < 5,
        "last_updated is the refresh time in UTC"
    );
    let spy = by["SPY"];
    assert_eq!(spy.get::<String, _>(2), "ETF");
    let (aum, inception, sic_updated): (Option<f64>, Option<NaiveDate>, Option<chrono::NaiveDateTime>) =
        sqlx::query_as(
            "SELECT aum_millions::float8, inception_date, sic_updated_at FROM symbols WHERE symbol = 'SPY'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(aum.is_some_and(|a| a > 0.0), "AUM from the market cap");
    assert!(inception.is_some(), "inception from the list date");
    assert!(
        sic_updated.is_some(),
        "described, though an ETF has no SIC code"
    );

    // A second load within the refresh age asks Polygon for no details.
    fake.clear_requests();
    run(
        &loader,
        &multi(&["AAPL"], &[Timeframe::Day], "2024-03-04", "2024-03-08"),
    )
    .await;
    let details = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v3/reference/tickers/"))
        .count();
    assert_eq!(details, 0, "fresh rows are not fetched again");
    // An old row is refreshed.
    sqlx::query("UPDATE symbols SET last_updated = now() - interval '30 days', name = 'old'")
        .execute(&mut c)
        .await
        .unwrap();
    run(
        &loader,
        &multi(&["AAPL"], &[Timeframe::Day], "2024-03-04", "2024-03-08"),
    )
    .await;
    let name: String = sqlx::query_scalar("SELECT name FROM symbols WHERE symbol = 'AAPL'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(name, "Apple Inc.");
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_role_that_may_not_create_tables_still_reads() {
    let db = tickstock_database().await;
    let role = format!("ts_reader_{}", &db.name[8..20]);
    let mut c = conn(&db).await;
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string(),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
        "INSERT INTO ohlcv_daily (symbol, date, open, high, low, close, volume) VALUES ('AAPL', '2024-03-08', 1, 2, 0.5, 1.5, 100)".to_string(),
    ] {
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    }
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_username(&role).unwrap();
    let store = Store::connect(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("a read-only role opens the store: {e}"));
    assert_eq!(
        store
            .universe_members("tech_leaders")
            .await
            .unwrap()
            .unwrap(),
        ["AAPL", "MSFT", "NVDA"]
    );
    let cov = store.coverage().await.unwrap();
    assert_eq!(
        cov.iter()
            .find(|t| t.timeframe == Timeframe::Day)
            .unwrap()
            .rows,
        1
    );
    store.close().await;
    drop(c);
    db.drop_db().await;
    let mut admin = sqlx::PgConnection::connect(&tickstock_testkit::pg::admin_url())
        .await
        .unwrap();
    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&mut admin)
        .await;
}

/// A database of ours created by the first release (its first schema file, which altered
/// existing tables, recorded with its own checksum) opens and is brought up to date.
#[tokio::test]
async fn a_database_from_the_first_release_is_brought_up_to_date() {
    let db = fresh_database().await;
    let mut c = conn(&db).await;
    sqlx::raw_sql(include_str!("data/init_v1.sql"))
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (20250701000001, 'init', TRUE, decode($1, 'hex'), 1)",
    )
    .bind("876272660a80e81a205659040baf667eee8ab78f9aff78b69a4371362ed31e6ecb67594600549ecdfd97697cbe0b3603")
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query("INSERT INTO definition_groups (name, type, description) VALUES ('mine', 'UNIVERSE', 'Mine')")
        .execute(&mut c)
        .await
        .unwrap();
    let store = Store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("a first-release database opens: {e}"));
    let keys: Vec<String> = store
        .list_universes()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert!(
        keys.contains(&"mine".to_string()) && keys.contains(&"sp500".to_string()),
        "{keys:?}"
    );
    let env: String =
        sqlx::query_scalar("SELECT environment FROM definition_groups WHERE name = 'mine'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(env, "DEFAULT");
    store.close().await;
    drop(c);
    db.drop_db().await;
}

/// The whole way, on TickStock's database in its TEST environment: a universe load
/// published the way TickStockAppV2 publishes it (its hash status, then the legacy message)
/// is run by our worker with the real loader, TickStock's page (reading
/// `tickstock.jobs.status:{id}` with TYPE, then GET or HGETALL) sees it running and then
/// completed at 100, and the rows are TEST's members' bars, never DEFAULT's.
#[tokio::test]
async fn a_tickstock_submission_runs_on_tickstocks_database_in_its_environment() {
    use redis::AsyncCommands;
    use tickstock_data::history::StoreHistory;
    use tickstock_queue::worker::Worker;

    let db = tickstock_database().await;
    let store = open(&db, "TEST").await;
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(60),
        ..FakePolygonConfig::default()
    })
    .await;
    let loader = Loader::new(
        polygon(&fake),
        store.clone(),
        LoaderConfig {
            concurrency: 1,
            ..LoaderConfig::default()
        },
    );
    let bus = crate::support::bus().await;
    let stop = CancellationToken::new();
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader),
        crate::support::fast_worker_config(),
        stop.clone(),
        Some(Arc::new(StoreHistory(store.clone()))),
    );
    let worker = tokio::spawn(async move { w.run().await });
    crate::support::wait_subscribed(&bus).await;

    // TickStockAppV2's submit: the hash of strings first, then the message.
    let id = uuid::Uuid::new_v4().to_string();
    let now = chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let message = serde_json::json!({"job_id": id, "job_type": "universe_seed",
        "universe_type": "tech_leaders", "years": 0.02, "requested_by": "admin",
        "timestamp": now});
    let key = bus.keys().status_alt(&id);
    let mut c = bus.conn();
    let _: () = c
        .hset_multiple(
            &key,
            &[
                ("status", "submitted"),
                ("progress", "0"),
                ("message", "Seeding tech_leaders"),
                ("submitted_at", now.as_str()),
            ],
        )
        .await
        .unwrap();
    let _: () = c.expire(&key, 86_400).await.unwrap();
    let _: i64 = c
        .publish(bus.keys().channel_data_load(), message.to_string())
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<(String, String, i64)> = Vec::new();
    loop {
        if let Some((kind, v)) = crate::support::tickstock_view(&bus, &id).await {
            let progress = match &v["progress"] {
                serde_json::Value::String(s) => s.parse().unwrap_or(-1),
                n => n.as_i64().unwrap_or(-1),
            };
            let now = (
                kind,
                v["status"].as_str().unwrap_or_default().to_string(),
                progress,
            );
            if seen.last() != Some(&now) {
                seen.push(now);
            }
            if JobState::parse(&seen.last().unwrap().1).is_some_and(|s| s.is_terminal()) {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
    assert!(
        seen.iter().any(|(_, s, _)| s == "running"),
        "TickStock's page saw it running: {seen:?}"
    );
    let last = seen.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str(), last.2),
        ("string", "completed", 100),
        "{seen:?}"
    );
    let (_, v) = crate::support::tickstock_view(&bus, &id).await.unwrap();
    assert_eq!(v["successful_symbols"], serde_json::json!(["TSTA", "TSTB"]));

    // Rows: TEST's members only, each equal to what Polygon served.
    let mut pg = conn(&db).await;
    let symbols: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT symbol::text FROM ohlcv_daily ORDER BY 1")
            .fetch_all(&mut pg)
            .await
            .unwrap();
    assert_eq!(symbols, ["TSTA", "TSTB"], "DEFAULT's members never load");
    // `years: 0.02` is seven days back from today; a session still open is not final.
    let today = chrono::Utc::now().date_naive();
    let last_closed = tickstock_protocol::calendar::last_closed_session(
        chrono::Utc::now(),
        tickstock_data::loader::FINAL_BAR_DELAY,
    );
    let (from, to) = (today - chrono::Duration::days(7), today.min(last_closed));
    for symbol in ["TSTA", "TSTB"] {
        let want = FakePolygon::expected_bars(symbol, Timeframe::Day, from, to);
        let got: Vec<(NaiveDate, f64)> = sqlx::query_as(
            "SELECT date, close::float8 FROM ohlcv_daily WHERE symbol = $1 ORDER BY date",
        )
        .bind(symbol)
        .fetch_all(&mut pg)
        .await
        .unwrap();
        let want: Vec<(NaiveDate, f64)> = want.iter().map(|b| (b.ny_date(), round4(b.c))).collect();
        assert_eq!(got, want, "{symbol}");
    }
    store.close().await;
    db.drop_db().await;
}
