//! Storage: every behaviour against a real PostgreSQL (a fresh database per test) and a
//! SQLite file (a temp folder per test).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::Connection;
use tickstock_data::store::{
    Backend, JobRun, JobRunFilter, Store, StoreError, StoreOptions, SymbolRecord,
};
use tickstock_protocol::{Bar, Timeframe};
use tickstock_testkit::pg::{fresh_database, PrivatePostgres, TestDb};

/// One store under test and what it takes to reach its database directly.
struct Ctx {
    store: Store,
    url: String,
    _pg: Option<TestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl Ctx {
    async fn postgres() -> Ctx {
        let db = fresh_database().await;
        let store = Store::connect(&db.url)
            .await
            .expect("connect to the test database");
        assert_eq!(store.backend(), Backend::Postgres);
        Ctx {
            store,
            url: db.url.clone(),
            _pg: Some(db),
            _dir: None,
        }
    }

    async fn sqlite() -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/dir/ts.db", dir.path().display());
        let store = Store::connect(&url).await.expect("open the SQLite file");
        assert_eq!(store.backend(), Backend::Sqlite);
        Ctx {
            store,
            url,
            _pg: None,
            _dir: Some(dir),
        }
    }

    /// Runs statements directly on the database (outside the store).
    async fn execute(&self, sql: &str) {
        match self.store.backend() {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
        }
    }

    /// One text column of a query, read directly.
    async fn strings(&self, sql: &str) -> Vec<Option<String>> {
        match self.store.backend() {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
            }
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
            }
        }
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some(db) = self._pg {
            db.drop_db().await;
        }
    }
}

/// Each behaviour below runs once per backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let ctx = super::Ctx::postgres().await;
                super::$name(&ctx).await;
                ctx.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let ctx = super::Ctx::sqlite().await;
                super::$name(&ctx).await;
                ctx.finish().await;
            }
        }
    )*};
}

on_both!(
    bars_round_trip_in_every_table,
    daily_dates_are_new_york_dates_across_dst,
    double_write_is_idempotent,
    failing_row_rolls_back_the_whole_batch,
    invalid_bars_are_rejected_before_writing,
    universes_are_seeded_and_resolve_aliases,
    replace_universe_replaces_members,
    job_runs_upsert_get_list_and_delete,
    a_finished_run_never_goes_back_to_running,
    checkpoints_record_done_pairs,
    coverage_counts_rows_symbols_and_span,
    symbols_upsert_keeps_known_fields,
    symbols_are_written_alike_on_both_databases,
);

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

fn bar(t: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
    Bar {
        t,
        o,
        h,
        l,
        c,
        v,
        vw: None,
        n: None,
    }
}

fn simple(t: i64, c: f64) -> Bar {
    bar(t, c, c + 1.0, c - 1.0, c + 0.5, 1000.0 + c)
}

/// `n` consecutive daily bars (midnight New York, 05:00 UTC in winter) from 2020-01-01.
fn daily_series(n: i64, base: f64) -> Vec<Bar> {
    let start = ms(2020, 1, 1, 5, 0);
    (0..n)
        .map(|i| simple(start + i * 86_400_000, base + i as f64))
        .collect()
}

async fn bars_round_trip_in_every_table(ctx: &Ctx) {
    let s = &ctx.store;
    let cases = [
        (
            Timeframe::Minute,
            ms(2024, 3, 11, 13, 30),
            "2024-03-11T13:30:00Z",
        ),
        (
            Timeframe::Hour,
            ms(2024, 3, 11, 14, 0),
            "2024-03-11T14:00:00Z",
        ),
        (Timeframe::Day, ms(2024, 3, 11, 4, 0), "2024-03-11"),
        // Polygon's weekly bars start on Sunday midnight New York time.
        (Timeframe::Week, ms(2024, 3, 10, 5, 0), "2024-03-10"),
        (Timeframe::Month, ms(2024, 3, 1, 5, 0), "2024-03-01"),
    ];
    for (tf, t, expected) in cases {
        let b = bar(
            t,
            187.123_456_789,
            190.5,
            0.000_123,
            189.987_654_321,
            12_345_678.5,
        );
        let later = bar(t + 86_400_000 * 40, 1.0, 2.0, 0.5, 1.5, 0.25);
        assert_eq!(
            s.write_bars("aapl", tf, &[later, b]).await.unwrap(),
            2,
            "{tf}"
        );
        let rows = s.read_bars("AAPL", tf).await.unwrap();
        assert_eq!(rows.len(), 2, "{tf}");
        let r = &rows[0];
        assert_eq!(r.symbol, "AAPL");
        assert_eq!(r.time, expected, "{tf}");
        assert_eq!(
            (r.open, r.high, r.low, r.close, r.volume),
            (
                187.123_456_789,
                190.5,
                0.000_123,
                189.987_654_321,
                12_345_678.5
            ),
            "{tf} values are exact"
        );
        assert_eq!(rows[1].volume, 0.25);
        assert!(rows[0].time < rows[1].time, "ordered by time");
        // Nothing leaked into the other tables' symbol.
        assert!(s.read_bars("MSFT", tf).await.unwrap().is_empty());
    }
    let cov = s.coverage().await.unwrap();
    assert!(cov.iter().all(|c| c.rows == 2 && c.symbols == 1), "{cov:?}");
}

async fn daily_dates_are_new_york_dates_across_dst(ctx: &Ctx) {
    let s = &ctx.store;
    let bars = [
        simple(ms(2024, 3, 8, 5, 0), 1.0),   // midnight EST
        simple(ms(2024, 3, 11, 3, 30), 2.0), // 23:30 EDT on Sunday 2024-03-10
        simple(ms(2024, 3, 11, 4, 0), 3.0),  // midnight EDT
        simple(ms(2024, 11, 1, 4, 0), 4.0),  // midnight EDT
        simple(ms(2024, 11, 4, 5, 0), 5.0),  // midnight EST
        simple(ms(2024, 11, 5, 21, 0), 6.0), // grouped-daily style: 16:00 EST
    ];
    assert_eq!(s.write_bars("SPY", Timeframe::Day, &bars).await.unwrap(), 6);
    let got: Vec<(String, f64)> = s
        .read_bars("SPY", Timeframe::Day)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.time, b.open))
        .collect();
    let want = [
        ("2024-03-08", 1.0),
        ("2024-03-10", 2.0),
        ("2024-03-11", 3.0),
        ("2024-11-01", 4.0),
        ("2024-11-04", 5.0),
        ("2024-11-05", 6.0),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(d, o)| (d.to_string(), *o))
            .collect::<Vec<_>>()
    );
}

async fn double_write_is_idempotent(ctx: &Ctx) {
    let s = &ctx.store;
    let bars = daily_series(1500, 10.0);
    assert_eq!(
        s.write_bars("MSFT", Timeframe::Day, &bars).await.unwrap(),
        1500
    );
    let first = s.read_bars("MSFT", Timeframe::Day).await.unwrap();
    // Identical rows are not rewritten.
    assert_eq!(
        s.write_bars("MSFT", Timeframe::Day, &bars).await.unwrap(),
        0
    );
    assert_eq!(s.read_bars("MSFT", Timeframe::Day).await.unwrap(), first);

    // An overlapping reload with one changed bar and one new bar writes exactly those two.
    let mut again = bars[1400..].to_vec();
    again[10].c = 999.5;
    again.push(simple(bars[1499].t + 86_400_000, 7.0));
    assert_eq!(
        s.write_bars("MSFT", Timeframe::Day, &again).await.unwrap(),
        2
    );
    let after = s.read_bars("MSFT", Timeframe::Day).await.unwrap();
    assert_eq!(after.len(), 1501);
    assert_eq!(after[1410].close, 999.5);
    assert_eq!(after[..1410], first[..1410]);

    // The same key twice in one call: the last one wins.
    let t = ms(2024, 1, 2, 15, 0);
    let n = s
        .write_bars("MSFT", Timeframe::Minute, &[simple(t, 1.0), simple(t, 2.0)])
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        s.read_bars("MSFT", Timeframe::Minute).await.unwrap()[0].open,
        2.0
    );
}

async fn failing_row_rolls_back_the_whole_batch(ctx: &Ctx) {
    let s = &ctx.store;
    // A trigger that refuses one row stands for any failure inside the database.
    match s.backend() {
        Backend::Postgres => {
            ctx.execute(
                "CREATE FUNCTION ts_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.volume = 666 THEN RAISE EXCEPTION 'refused row'; END IF; RETURN NEW; END $$;
                 CREATE TRIGGER ts_refuse BEFORE INSERT OR UPDATE ON ohlcv_daily
                   FOR EACH ROW EXECUTE FUNCTION ts_refuse();",
            )
            .await
        }
        Backend::Sqlite => {
            ctx.execute(
                "CREATE TRIGGER ts_refuse_ins BEFORE INSERT ON ohlcv_daily WHEN NEW.volume = 666
                 BEGIN SELECT RAISE(ABORT, 'refused row'); END;
                 CREATE TRIGGER ts_refuse_upd BEFORE UPDATE ON ohlcv_daily WHEN NEW.volume = 666
                 BEGIN SELECT RAISE(ABORT, 'refused row'); END;",
            )
            .await
        }
    }
    // A fresh load (PostgreSQL: straight COPY) whose last row fails: nothing stays.
    let mut bars = daily_series(1200, 1.0);
    bars[1199].v = 666.0;
    let err = s
        .write_bars("FRESH", Timeframe::Day, &bars)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Query { .. }), "{err:?}");
    assert!(err.to_string().contains(&s.describe()), "{err}");
    assert!(s
        .read_bars("FRESH", Timeframe::Day)
        .await
        .unwrap()
        .is_empty());

    // A merge over stored rows (changed values, new rows) whose last row fails: the stored
    // rows keep their old values and no new row appears.
    let old = daily_series(100, 1.0);
    s.write_bars("MERGE", Timeframe::Day, &old).await.unwrap();
    let before = s.read_bars("MERGE", Timeframe::Day).await.unwrap();
    let mut merge = daily_series(1200, 50.0);
    merge[1199].v = 666.0;
    assert!(s.write_bars("MERGE", Timeframe::Day, &merge).await.is_err());
    assert_eq!(s.read_bars("MERGE", Timeframe::Day).await.unwrap(), before);

    // The store is still usable afterwards (no half-open transaction or copy left behind).
    merge.pop();
    assert_eq!(
        s.write_bars("MERGE", Timeframe::Day, &merge).await.unwrap(),
        1199
    );

    if s.backend() == Backend::Postgres {
        // TickStock's schema holds at most 20 characters per symbol.
        let long = "X".repeat(25);
        let err = s
            .write_bars(
                &long,
                Timeframe::Minute,
                &[simple(ms(2024, 1, 2, 15, 0), 1.0)],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Query { .. }), "{err:?}");
        assert!(err.to_string().contains("PostgreSQL at"), "{err}");
        assert!(!err.to_string().contains("INSERT"), "no SQL text: {err}");
        assert!(s.coverage().await.unwrap()[0].rows == 0);
    }
}

async fn invalid_bars_are_rejected_before_writing(ctx: &Ctx) {
    let s = &ctx.store;
    let mut bars = daily_series(10, 1.0);
    bars[7].h = f64::NAN;
    let err = s
        .write_bars("NANCO", Timeframe::Day, &bars)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("NANCO"), "{err}");
    assert!(s
        .read_bars("NANCO", Timeframe::Day)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .write_bars("  ", Timeframe::Day, &bars[..1])
        .await
        .is_err());
    assert_eq!(s.write_bars("EMPTY", Timeframe::Day, &[]).await.unwrap(), 0);
    let core: tickstock_protocol::Error = err.into();
    assert_eq!(core.kind(), tickstock_protocol::ErrorKind::InvalidInput);
}

async fn universes_are_seeded_and_resolve_aliases(ctx: &Ctx) {
    let s = &ctx.store;
    let list = s.list_universes().await.unwrap();
    let keys: Vec<&str> = list.iter().map(|u| u.key.as_str()).collect();
    for k in ["dow30", "etf", "nasdaq100", "sp500"] {
        assert!(keys.contains(&k), "{k} seeded: {keys:?}");
    }
    let sp = list.iter().find(|u| u.key == "sp500").unwrap();
    assert!(sp.members > 490, "S&P 500 has {} members", sp.members);
    assert_eq!(sp.name, "S&P 500");
    assert_eq!(sp.kind, "UNIVERSE");
    assert!(sp.as_of.is_some());
    let members = s.universe_members("sp500").await.unwrap().unwrap();
    assert_eq!(members.len() as i64, sp.members);
    assert!(members.contains(&"AAPL".to_string()) && members.contains(&"BRK.B".to_string()));
    for alias in ["SPY", "SP500", "sp_500", "SNP500"] {
        assert_eq!(
            s.universe_members(alias).await.unwrap().as_ref(),
            Some(&members),
            "{alias}"
        );
    }
    let dow = s.universe_members("DIA").await.unwrap().unwrap();
    assert_eq!(dow.len(), 30);
    let nasdaq = s.universe_members("QQQ").await.unwrap().unwrap();
    assert!(nasdaq.len() >= 100, "{}", nasdaq.len());
    let union = s.universe_members("SPY:dow30").await.unwrap().unwrap();
    let mut expected: Vec<String> = members.iter().chain(dow.iter()).cloned().collect();
    expected.sort();
    expected.dedup();
    assert_eq!(union, expected);
    assert_eq!(s.universe_members("no_such_list").await.unwrap(), None);
    assert_eq!(s.universe_members("SPY:no_such_list").await.unwrap(), None);
    let etf = list.iter().find(|u| u.key == "etf").unwrap();
    assert_eq!(etf.kind, "ETF");
    assert!(etf.members >= 39, "{}", etf.members);

    // Seeding again (another connect) changes nothing.
    let again = Store::connect(&ctx.url).await.unwrap();
    assert_eq!(again.list_universes().await.unwrap(), list);
    again.close().await;
}

async fn replace_universe_replaces_members(ctx: &Ctx) {
    let s = &ctx.store;
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 31);
    let members: Vec<String> = ["aapl", "MSFT", " aapl "]
        .iter()
        .map(|m| m.to_string())
        .collect();
    s.replace_universe("My-List", "My list", "custom", as_of, &members)
        .await
        .unwrap();
    assert_eq!(
        s.universe_members("mylist").await.unwrap().unwrap(),
        vec!["AAPL", "MSFT"]
    );
    let u = s
        .list_universes()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.key == "mylist")
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.kind.as_str(), u.members, u.as_of),
        ("My list", "CUSTOM", 2, as_of)
    );

    s.replace_universe("my_list", "My list", "CUSTOM", None, &["NVDA".to_string()])
        .await
        .unwrap();
    assert_eq!(
        s.universe_members("MY_LIST").await.unwrap().unwrap(),
        vec!["NVDA"]
    );

    // A refreshed built-in list survives the next connect (seeding only fills gaps).
    let three: Vec<String> = ["A", "B", "C"].iter().map(|m| m.to_string()).collect();
    s.replace_universe("SPY", "S&P 500", "UNIVERSE", as_of, &three)
        .await
        .unwrap();
    let again = Store::connect(&ctx.url).await.unwrap();
    assert_eq!(
        again.universe_members("sp500").await.unwrap().unwrap(),
        three
    );
    again.close().await;

    let err = s
        .replace_universe("bad key!", "x", "custom", None, &three)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

fn at(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(1_720_000_000 + secs, 123_456_000)
}

fn run(id: &str, kind: &str, status: &str, symbols: &[&str], submitted: i64) -> JobRun {
    let mut r = JobRun::new(
        id,
        kind,
        serde_json::json!({"job_id": id, "job_type": kind, "symbols": symbols, "years": 0.5}),
    );
    r.status = status.into();
    r.submitted_at = at(submitted);
    r
}

async fn job_runs_upsert_get_list_and_delete(ctx: &Ctx) {
    let s = &ctx.store;
    let a = run(
        "aaaa1111-0000-4000-8000-000000000001",
        "historical_load",
        "completed",
        &["AAPL", "MSFT"],
        0,
    );
    let b = run(
        "bbbb2222-0000-4000-8000-000000000002",
        "multi_timeframe_load",
        "failed",
        &["NVDA"],
        10,
    );
    let c = run(
        "bbbb3333-0000-4000-8000-000000000003",
        "historical_load",
        "running",
        &["AAPL"],
        20,
    );
    for r in [&a, &b, &c] {
        s.upsert_job_run(r).await.unwrap();
    }
    assert_eq!(s.job_run(&a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(s.job_run("nope").await.unwrap(), None);

    // A later write from the worker: progress, counts, failures; submitted_at left empty.
    let mut c2 = c.clone();
    c2.submitted_at = None;
    c2.started_at = at(21);
    c2.completed_at = at(30);
    c2.status = "completed_with_errors".into();
    c2.progress = 100;
    c2.message = Some("done".into());
    c2.symbols_total = 2;
    c2.symbols_ok = 1;
    c2.symbols_failed = 1;
    c2.bars_loaded = 504;
    c2.failed_symbols = serde_json::json!([{"symbol": "ZZZ", "reason": "no data"}]);
    c2.error = Some("1 symbol failed".into());
    c2.worker = Some("host-1".into());
    s.upsert_job_run(&c2).await.unwrap();
    let got = s.job_run(&c.id).await.unwrap().unwrap();
    let mut want = c2.clone();
    want.submitted_at = c.submitted_at;
    assert_eq!(got, want);

    let ids = |p: &tickstock_data::store::JobRunPage| {
        p.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    let all = s.list_job_runs(&JobRunFilter::default()).await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(
        ids(&all),
        vec![c.id.clone(), b.id.clone(), a.id.clone()],
        "newest first"
    );

    let by_symbol = s
        .list_job_runs(&JobRunFilter {
            symbol: Some("aapl".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&by_symbol), vec![c.id.clone(), a.id.clone()]);
    let by_kind = s
        .list_job_runs(&JobRunFilter {
            kind: Some("historical_load".into()),
            status: Some("completed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((ids(&by_kind), by_kind.total), (vec![a.id.clone()], 1));
    let by_prefix = s
        .list_job_runs(&JobRunFilter {
            id_prefix: Some("BBBB".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&by_prefix), vec![c.id.clone(), b.id.clone()]);

    let page = |n| JobRunFilter {
        page: n,
        page_size: 2,
        ..Default::default()
    };
    let p0 = s.list_job_runs(&page(0)).await.unwrap();
    let p1 = s.list_job_runs(&page(1)).await.unwrap();
    let p2 = s.list_job_runs(&page(2)).await.unwrap();
    assert_eq!((p0.items.len(), p1.items.len(), p2.items.len()), (2, 1, 0));
    assert_eq!((p0.total, p1.total, p2.total), (3, 3, 3));
    assert_eq!(p1.items[0].id, a.id);

    let err = s.delete_job_runs_by_prefix("bbb").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    s.mark_pair_done(&b.id, "NVDA", Timeframe::Day, 10)
        .await
        .unwrap();
    assert_eq!(s.delete_job_runs_by_prefix("BBBB2222").await.unwrap(), 1);
    assert_eq!(s.job_run(&b.id).await.unwrap(), None);
    assert!(
        s.done_pairs(&b.id).await.unwrap().is_empty(),
        "checkpoints go with the run"
    );
    assert_eq!(
        s.list_job_runs(&JobRunFilter::default())
            .await
            .unwrap()
            .total,
        2
    );
}

async fn a_finished_run_never_goes_back_to_running(ctx: &Ctx) {
    let s = &ctx.store;
    let mut done = run(
        "dddd0000-0000-4000-8000-000000000001",
        "historical_load",
        "completed",
        &["AAPL"],
        0,
    );
    done.progress = 100;
    done.bars_loaded = 50_000;
    done.started_at = at(1);
    done.completed_at = at(60);
    s.upsert_job_run(&done).await.unwrap();
    // A late progress write and an old poll's "submitted" both arrive after the end.
    for late in ["running", "submitted", "queued", "cancelling"] {
        let mut stale = done.clone();
        stale.status = late.into();
        stale.progress = 49;
        stale.bars_loaded = 0;
        stale.completed_at = None;
        s.upsert_job_run(&stale).await.unwrap();
        assert_eq!(
            s.job_run(&done.id).await.unwrap().as_ref(),
            Some(&done),
            "{late} must not overwrite completed"
        );
    }
    // Another final state may still be written (a later, truer ending).
    let mut cancelled = done.clone();
    cancelled.status = "cancelled".into();
    cancelled.message = Some("Cancelled by admin".into());
    s.upsert_job_run(&cancelled).await.unwrap();
    assert_eq!(
        s.job_run(&done.id).await.unwrap().unwrap().status,
        "cancelled"
    );
    // Every final state holds, not only `completed`.
    for fin in ["completed_with_errors", "failed", "cancelled"] {
        let mut r = run(
            &format!("dddd1111-{fin}"),
            "historical_load",
            fin,
            &["MSFT"],
            5,
        );
        r.progress = 100;
        s.upsert_job_run(&r).await.unwrap();
        r.status = "running".into();
        r.progress = 3;
        s.upsert_job_run(&r).await.unwrap();
        let got = s.job_run(&r.id).await.unwrap().unwrap();
        assert_eq!((got.status.as_str(), got.progress), (fin, 100));
    }
}

async fn checkpoints_record_done_pairs(ctx: &Ctx) {
    let s = &ctx.store;
    let job = "cccc0000-0000-4000-8000-000000000000";
    s.mark_pair_done(job, "MSFT", Timeframe::Day, 5)
        .await
        .unwrap();
    s.mark_pair_done(job, "aapl", Timeframe::Day, 10)
        .await
        .unwrap();
    s.mark_pair_done(job, "AAPL", Timeframe::Minute, 100)
        .await
        .unwrap();
    s.mark_pair_done(job, "AAPL", Timeframe::Day, 12)
        .await
        .unwrap();
    s.mark_pair_done("other-job", "AAPL", Timeframe::Week, 1)
        .await
        .unwrap();
    assert_eq!(
        s.done_pairs(job).await.unwrap(),
        vec![
            ("AAPL".to_string(), Timeframe::Minute, 100),
            ("AAPL".to_string(), Timeframe::Day, 12),
            ("MSFT".to_string(), Timeframe::Day, 5),
        ]
    );
    assert!(s.done_pairs("unknown").await.unwrap().is_empty());
}

async fn coverage_counts_rows_symbols_and_span(ctx: &Ctx) {
    let s = &ctx.store;
    let empty = s.coverage().await.unwrap();
    assert_eq!(empty.len(), 5);
    assert!(empty
        .iter()
        .all(|c| c.rows == 0 && c.symbols == 0 && c.earliest.is_none()));
    s.write_bars("AAPL", Timeframe::Day, &daily_series(3, 1.0))
        .await
        .unwrap();
    s.write_bars("MSFT", Timeframe::Day, &daily_series(2, 1.0))
        .await
        .unwrap();
    s.write_bars(
        "MSFT",
        Timeframe::Minute,
        &[simple(ms(2024, 3, 11, 13, 30), 1.0)],
    )
    .await
    .unwrap();
    let cov = s.coverage().await.unwrap();
    let tables: Vec<&str> = cov.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(
        tables,
        [
            "ohlcv_1min",
            "ohlcv_hourly",
            "ohlcv_daily",
            "ohlcv_weekly",
            "ohlcv_monthly"
        ]
    );
    let day = &cov[2];
    assert_eq!(day.timeframe, Timeframe::Day);
    assert_eq!((day.rows, day.symbols), (5, 2));
    assert_eq!(day.earliest.as_deref(), Some("2020-01-01"));
    assert_eq!(day.latest.as_deref(), Some("2020-01-03"));
    let min = &cov[0];
    assert_eq!((min.rows, min.symbols), (1, 1));
    assert_eq!(min.earliest.as_deref(), Some("2024-03-11T13:30:00Z"));
    assert_eq!(cov[1].rows, 0);
}

async fn symbols_upsert_keeps_known_fields(ctx: &Ctx) {
    let s = &ctx.store;
    let rec = |sym: &str, name: &str, cik: Option<&str>| SymbolRecord {
        symbol: sym.into(),
        name: name.into(),
        market: "stocks".into(),
        exchange: "XNAS".into(),
        type_: "CS".into(),
        active: true,
        cik: cik.map(str::to_string),
        currency: Some("usd".into()),
        last_updated: at(0),
        ..Default::default()
    };
    let n = s
        .upsert_symbols(&[
            rec("aapl", "Apple", Some("0000320193")),
            rec("MSFT", "Microsoft", None),
            rec("AAPL", "Apple Inc.", Some("0000320193")),
        ])
        .await
        .unwrap();
    assert_eq!(n, 2, "duplicates in one call are merged");
    // An update without a CIK keeps the stored one.
    s.upsert_symbols(&[rec("AAPL", "Apple Inc", None)])
        .await
        .unwrap();
    let got = ctx
        .strings("SELECT name || '|' || COALESCE(cik, '-') FROM symbols ORDER BY symbol")
        .await;
    assert_eq!(
        got,
        vec![
            Some("Apple Inc|0000320193".to_string()),
            Some("Microsoft|-".to_string())
        ]
    );
}

/// The `symbols` SQL is written once for both databases: every kind of value lands as its
/// column keeps it, defaults fill only empty columns, statements past one chunk of rows or
/// of an `IN` list hold all the rows, and the refresh and description queries agree.
async fn symbols_are_written_alike_on_both_databases(ctx: &Ctx) {
    let s = &ctx.store;
    let now = Utc::now();
    let full = SymbolRecord {
        symbol: "IBM".into(),
        name: "International Business Machines".into(),
        market: "stocks".into(),
        exchange: "XNYS".into(),
        type_: "CS".into(),
        active: false,
        market_cap: Some(2.5e11),
        weighted_shares_outstanding: Some(918_000_000.0),
        total_employees: Some(282_200),
        list_date: NaiveDate::from_ymd_opt(1915, 11, 11),
        sic_code: Some("3570".into()),
        sector: Some("Technology".into()),
        refreshed_at: Some(now),
        described_at: Some(now),
        defaults: vec![("sector", "Unknown".into()), ("industry", "Unknown".into())],
        ..Default::default()
    };
    // 1,200 symbols: more than one statement's rows and one IN list's values.
    let many: Vec<SymbolRecord> = (0..1200)
        .map(|i| SymbolRecord {
            symbol: format!("Z{i:04}"),
            name: format!("Listed {i}"),
            active: true,
            refreshed_at: Some(now),
            defaults: vec![("sector", "Unknown".into())],
            ..Default::default()
        })
        .collect();
    let mut all = vec![full];
    all.extend(many);
    assert_eq!(s.upsert_symbols(&all).await.unwrap(), 1201);

    let row = ctx
        .strings(
            "SELECT name || '|' || (CASE WHEN active THEN 'active' ELSE 'inactive' END) || '|' || \
             CAST(CAST(market_cap AS BIGINT) AS TEXT) || '|' || CAST(total_employees AS TEXT) || \
             '|' || CAST(list_date AS TEXT) || '|' || sector || '|' || industry \
             FROM symbols WHERE symbol = 'IBM'",
        )
        .await;
    assert_eq!(
        row,
        vec![Some(
            "International Business Machines|inactive|250000000000|282200|1915-11-11|Technology|Unknown"
                .to_string()
        )],
        "every kind of value as its column keeps it; a default only where the row had none"
    );
    let unknown = ctx
        .strings("SELECT symbol FROM symbols WHERE symbol LIKE 'Z%' AND sector = 'Unknown'")
        .await;
    assert_eq!(unknown.len(), 1200, "defaults reach every chunk's rows");

    let symbols: Vec<String> = all.iter().map(|r| r.symbol.clone()).collect();
    let mut asked = symbols.clone();
    asked.push("NEWCO".into());
    assert_eq!(
        s.symbols_to_refresh(&asked, Duration::from_secs(3600))
            .await
            .unwrap(),
        vec!["NEWCO".to_string()],
        "registered within the hour: only the unknown symbol needs registering"
    );
    let to_describe = s
        .symbols_to_describe(Some(&symbols), Duration::from_secs(3600), 3)
        .await
        .unwrap();
    assert_eq!(
        to_describe,
        vec!["Z0000", "Z0001", "Z0002"],
        "the first by symbol of those registered and never described, across IN lists"
    );
    s.mark_described(&symbols[1..1101]).await.unwrap();
    let left = s
        .symbols_to_describe(None, Duration::from_secs(3600), 500)
        .await
        .unwrap();
    assert_eq!(
        left,
        (1100..1200).map(|i| format!("Z{i:04}")).collect::<Vec<_>>(),
        "marked described: only the last 100 are left"
    );
}

#[tokio::test]
async fn sqlite_in_memory_works_and_describes_itself() {
    let s = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(s.describe(), "SQLite in memory");
    s.write_bars("AAPL", Timeframe::Day, &daily_series(5, 1.0))
        .await
        .unwrap();
    assert_eq!(s.read_bars("AAPL", Timeframe::Day).await.unwrap().len(), 5);
    assert!(s.ping().await.unwrap() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_never_show_the_password() {
    let err = Store::connect("mysql://u:secret@h/db").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret"), "{err}");

    // Nothing listens on port 1: refused at once.
    let err = Store::connect("postgres://u:secret@127.0.0.1:1/tickstock")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(
        text.contains("PostgreSQL at 127.0.0.1:1/tickstock"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
    assert!(err.is_retryable());
    let core: tickstock_protocol::Error = err.into();
    assert_eq!(core.kind(), tickstock_protocol::ErrorKind::Database);
    assert!(!core.message().contains("secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_postgres_stop_and_start_is_seen_by_the_store() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::new)
        .await
        .unwrap()
        .expect("start a private PostgreSQL");
    // Trust authentication accepts any password, so a URL with one can be used here.
    let url = format!(
        "postgres://postgres:hunter2secret@127.0.0.1:{}/postgres",
        pg.port()
    );
    let opts = StoreOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(3),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(&url, &opts).await.unwrap();
    let desc = store.describe();
    assert_eq!(
        desc,
        format!("PostgreSQL at 127.0.0.1:{}/postgres", pg.port())
    );
    assert!(!format!("{store:?}").contains("hunter2"));
    store
        .write_bars("AAPL", Timeframe::Day, &daily_series(10, 1.0))
        .await
        .unwrap();

    let pg = tokio::task::spawn_blocking(move || pg.stop().map(|_| pg))
        .await
        .unwrap()
        .unwrap();
    let err = store
        .write_bars("AAPL", Timeframe::Day, &daily_series(20, 1.0))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Connect { .. } | StoreError::Query { .. }),
        "{err:?}"
    );
    assert!(text.contains(&desc), "names the database: {text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(err.is_retryable(), "{err:?}");
    assert!(store.ping().await.is_err());

    let pg = tokio::task::spawn_blocking(move || pg.start().map(|_| pg))
        .await
        .unwrap()
        .unwrap();
    let written = store
        .write_bars("AAPL", Timeframe::Day, &daily_series(20, 1.0))
        .await
        .expect("the pool reconnects after a restart");
    assert_eq!(written, 10);
    assert_eq!(
        store.read_bars("AAPL", Timeframe::Day).await.unwrap().len(),
        20
    );
    store.close().await;
    drop(pg);
}

/// Bulk-load speed against a plain binary `COPY` of the same rows into a table of the same
/// shape. Run with `cargo test -p tickstock-tests --release --test tests bulk_load -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn bulk_load_rate_compared_with_plain_copy() {
    const SYMBOLS: usize = 10;
    const BARS: i64 = 50_000;
    let ctx = Ctx::postgres().await;
    let s = &ctx.store;
    let start = ms(2023, 1, 3, 14, 30);
    let series: Vec<Vec<Bar>> = (0..SYMBOLS)
        .map(|k| {
            (0..BARS)
                .map(|i| simple(start + i * 60_000, 100.0 + k as f64 + i as f64 * 0.001))
                .collect()
        })
        .collect();
    let total = (SYMBOLS as i64 * BARS) as f64;

    // Baseline: COPY straight into an empty table with the same columns and key.
    let mut conn = sqlx::PgConnection::connect(&ctx.url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE copy_baseline (LIKE ohlcv_1min INCLUDING ALL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let began = std::time::Instant::now();
    for (k, bars) in series.iter().enumerate() {
        let symbol = format!("SYM{k}");
        let mut buf = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        for b in bars {
            buf.extend_from_slice(&7i16.to_be_bytes());
            buf.extend_from_slice(&(symbol.len() as i32).to_be_bytes());
            buf.extend_from_slice(symbol.as_bytes());
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&(b.t * 1000 - 946_684_800_000_000).to_be_bytes());
            for v in [b.o, b.h, b.l, b.c, b.v] {
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&v.to_be_bytes());
            }
        }
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        let mut tx = conn.begin().await.unwrap();
        let mut copy = tx
            .copy_in_raw("COPY copy_baseline (symbol, \"timestamp\", open, high, low, close, volume) FROM STDIN (FORMAT binary)")
            .await
            .unwrap();
        copy.send(buf).await.unwrap();
        copy.finish().await.unwrap();
        tx.commit().await.unwrap();
    }
    let copy_rate = total / began.elapsed().as_secs_f64();

    let began = std::time::Instant::now();
    for (k, bars) in series.iter().enumerate() {
        let n = s
            .write_bars(&format!("SYM{k}"), Timeframe::Minute, bars)
            .await
            .unwrap();
        assert_eq!(n, BARS as u64);
    }
    let fresh_rate = total / began.elapsed().as_secs_f64();

    let began = std::time::Instant::now();
    for (k, bars) in series.iter().enumerate() {
        assert_eq!(
            s.write_bars(&format!("SYM{k}"), Timeframe::Minute, bars)
                .await
                .unwrap(),
            0
        );
    }
    let reload_rate = total / began.elapsed().as_secs_f64();

    let began = std::time::Instant::now();
    for (k, bars) in series.iter().enumerate() {
        let changed: Vec<Bar> = bars.iter().map(|b| Bar { v: b.v + 1.0, ..*b }).collect();
        assert_eq!(
            s.write_bars(&format!("SYM{k}"), Timeframe::Minute, &changed)
                .await
                .unwrap(),
            BARS as u64
        );
    }
    let update_rate = total / began.elapsed().as_secs_f64();

    println!(
        "plain COPY {copy_rate:.0} rows/s; fresh load {fresh_rate:.0} rows/s ({:.2}x); \
         identical reload {reload_rate:.0} rows/s ({:.2}x); changed reload {update_rate:.0} rows/s ({:.2}x)",
        fresh_rate / copy_rate,
        reload_rate / copy_rate,
        update_rate / copy_rate
    );
    let _ = conn.close().await;
    ctx.finish().await;
}
