//! The loader end to end: jobs go through real Redis to a worker running the real
//! [`Loader`], which downloads from the fake Polygon server and writes into a real
//! PostgreSQL database (fresh per test) or an SQLite file. Every row stored is compared,
//! value by value, with what the fake served.
//!
//! Covered: each job kind on both databases; New York dates and instants across DST
//! changes; idempotent reruns; a worker killed with SIGKILL (and one shut down) mid-job
//! and resumed by another without re-downloading finished (symbol, timeframe) pairs;
//! pagination as Polygon pages (one cursor, a moving `from`) and the guards against a
//! repeated next_url and endless empty pages; the Polygon fault matrix; PostgreSQL
//! stopping mid-load; the rate limit; and the `tickstock load|coverage|universe` CLI.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, SecondsFormat};
use redis::AsyncCommands;
use secrecy::SecretString;
use tickstock_data::history::StoreHistory;
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::polygon::{PolygonClient, PolygonConfig, RateLimiter};
use tickstock_data::store::{Store, StoreOptions, StoredBar, TableCoverage};
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::{Bar, Ticker, Timeframe, Unit};
use tickstock_queue::bus::Bus;
use tickstock_queue::worker::{Outcome, Worker, WorkerConfig};
use tickstock_testkit::fake_polygon::{
    FakePolygon, FakePolygonConfig, Fault, RecordedRequest, GROUPED, REFERENCE,
};
use tickstock_testkit::pg::{fresh_database, PrivatePostgres, TestDb};
use tickstock_testkit::redis_server::shared_redis_url;
use tokio_util::sync::CancellationToken;

use crate::support::{self, bin, fast_worker_config, run_in_process, wait_for, wait_state};

// ----- fixtures -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Postgres,
    Sqlite,
}

/// Runs an `async fn(Db)` scenario as two tests, `<name>::postgres` and `<name>::sqlite`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Db::Postgres).await
            }
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Db::Sqlite).await
            }
        }
    )*};
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn range(from: &str, to: &str) -> DateRange {
    DateRange {
        years: None,
        start_date: Some(d(from)),
        end_date: Some(d(to)),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// A fake Polygon, a bus in its own namespace and a store on the chosen database.
struct Env {
    db: Db,
    fake: FakePolygon,
    bus: Bus,
    store: Store,
    url: String,
    pg: Option<TestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl Env {
    async fn new(db: Db) -> Env {
        Self::with_fake(db, FakePolygonConfig::default()).await
    }

    async fn with_fake(db: Db, cfg: FakePolygonConfig) -> Env {
        let fake = FakePolygon::start(cfg).await;
        let bus = support::bus().await;
        let (url, pg, dir) = match db {
            Db::Postgres => {
                let t = fresh_database().await;
                (t.url.clone(), Some(t), None)
            }
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/ts.db", dir.path().display());
                (url, None, Some(dir))
            }
        };
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("open the {db:?} test database: {e}"));
        Env {
            db,
            fake,
            bus,
            store,
            url,
            pg,
            _dir: dir,
        }
    }

    fn loader(&self, polygon: PolygonConfig, cfg: LoaderConfig) -> Loader {
        Loader::new(
            PolygonClient::new(polygon).unwrap(),
            self.store.clone(),
            cfg,
        )
    }

    /// The loader with unlimited requests and fast retries.
    fn fast_loader(&self) -> Loader {
        self.loader(fast_polygon(&self.fake), loader_config(4))
    }

    fn worker(&self, loader: Loader, cfg: WorkerConfig) -> (Worker, CancellationToken) {
        let shutdown = CancellationToken::new();
        let w = Worker::with_history(
            self.bus.clone(),
            Arc::new(loader),
            cfg,
            shutdown.clone(),
            Some(Arc::new(StoreHistory(self.store.clone()))),
        );
        (w, shutdown)
    }

    /// Submits the job through Redis and has a fresh worker run it to its end.
    async fn run_job(&self, loader: Loader, job: &Job) -> JobStatus {
        self.bus.submit(job).await.unwrap();
        let (w, _stop) = self.worker(loader, fast_worker_config());
        execute_until_finished(&w, &job.id, Duration::from_secs(60)).await;
        self.bus
            .status(&job.id)
            .await
            .unwrap()
            .expect("final status")
    }

    /// Asserts the end of a clean run: status, progress, counts and the `job_runs` row.
    async fn assert_completed(&self, job: &Job, st: &JobStatus, symbols: &[String], bars: u64) {
        assert_eq!(st.state, JobState::Completed, "{:?}: {st:?}", self.db);
        assert_eq!(st.progress, 100);
        assert_eq!(sorted(&st.successful_symbols), sorted(symbols));
        assert!(st.failed_symbols.is_empty(), "{:?}", st.failures);
        assert_eq!(st.ohlcv_records_loaded, Some(bars), "bars counted");
        assert_eq!(st.symbols_loaded, Some(symbols.len() as u64));
        let run = self
            .store
            .job_run(&job.id)
            .await
            .unwrap()
            .expect("a job_runs row");
        assert_eq!(run.status, "completed");
        assert_eq!(run.kind, job.job_type().as_str());
        assert_eq!(run.progress, 100);
        assert_eq!(run.symbols_ok, symbols.len() as i64);
        assert_eq!(run.symbols_failed, 0);
        assert_eq!(run.bars_loaded, bars as i64);
        assert!(run.started_at.is_some() && run.completed_at.is_some());
        assert!(run.worker.is_some());
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some(pg) = self.pg {
            pg.drop_db().await;
        }
    }
}

/// Unlimited requests, a few quick retries.
fn fast_polygon(fake: &FakePolygon) -> PolygonConfig {
    PolygonConfig::new(
        fake.base_url(),
        SecretString::from(fake.api_key().to_string()),
    )
    .with_requests_per_minute(0)
    .with_max_retries(3)
    .with_request_timeout(Duration::from_secs(5))
    .with_max_backoff(Duration::from_millis(50))
}

/// These tests count the requests for bars: symbol registration (ticker details) is
/// tested on its own in `tickstock.rs`.
fn loader_config(concurrency: usize) -> LoaderConfig {
    LoaderConfig {
        concurrency,
        symbol_refresh: None,
        ..LoaderConfig::default()
    }
}

/// Steps the worker until it has run `id` to an end state.
async fn execute_until_finished(w: &Worker, id: &str, timeout: Duration) -> JobState {
    let deadline = Instant::now() + timeout;
    loop {
        match w.try_execute_next().await.unwrap() {
            Outcome::Executed { job_id, state } if job_id == id => return state,
            Outcome::Idle => {}
            other => panic!("unexpected worker step while waiting for {id}: {other:?}"),
        }
        assert!(Instant::now() < deadline, "job {id} did not finish in time");
    }
}

/// How a bar is keyed in its table, formatted as [`StoredBar::time`].
fn row_key(b: &Bar, tf: Timeframe) -> String {
    if tf.is_dated() {
        b.ny_date().format("%Y-%m-%d").to_string()
    } else {
        b.time_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// The rows a load of the fake's bars must leave, oldest first.
fn expected_rows(symbol: &str, tf: Timeframe, from: NaiveDate, to: NaiveDate) -> Vec<StoredBar> {
    FakePolygon::expected_bars(symbol, tf, from, to)
        .iter()
        .map(|b| StoredBar {
            symbol: symbol.to_string(),
            time: row_key(b, tf),
            open: b.o,
            high: b.h,
            low: b.l,
            close: b.c,
            volume: b.v,
        })
        .collect()
}

fn assert_same_rows(got: &[StoredBar], want: &[StoredBar], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: row {i} differs\n stored: {:?}\n served: {:?}",
            got[i], want[i]
        );
    }
}

/// Asserts that the table holds exactly the fake's bars for `symbol`; returns their count.
async fn assert_rows(
    store: &Store,
    symbol: &str,
    tf: Timeframe,
    from: NaiveDate,
    to: NaiveDate,
) -> u64 {
    let want = expected_rows(symbol, tf, from, to);
    assert!(!want.is_empty(), "the fake serves {symbol} {tf} bars");
    let got = store.read_bars(symbol, tf).await.unwrap();
    assert_same_rows(
        &got,
        &want,
        &format!("{symbol} {tf} in {}", store.describe()),
    );
    want.len() as u64
}

/// Asserts every (symbol, timeframe) and returns the total row count.
async fn assert_all_rows(
    store: &Store,
    symbols: &[String],
    tfs: &[Timeframe],
    from: NaiveDate,
    to: NaiveDate,
) -> u64 {
    let mut total = 0;
    for s in symbols {
        for tf in tfs {
            total += assert_rows(store, s, *tf, from, to).await;
        }
    }
    total
}

/// (ticker, polygon timespan) of an aggregates request.
fn aggregate_unit(r: &RecordedRequest) -> Option<(String, String)> {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v2", "aggs", "ticker", t, "range", _, span, ..] => {
            Some((t.to_string(), span.to_string()))
        }
        _ => None,
    }
}

/// The aggregates requests the fake received for `ticker`, oldest first (ticker details
/// and other endpoints left out).
fn aggregate_requests(fake: &FakePolygon, ticker: &str) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| aggregate_unit(r).is_some_and(|(t, _)| t == ticker))
        .collect()
}

// ----- 1. every job kind, through Redis and a worker, on both databases -----

async fn historical_load(db: Db) {
    let env = Env::new(db).await;
    let symbols = strings(&["AAPL", "MSFT", "BRK.B"]);
    let (from, to) = (d("2024-01-02"), d("2024-03-29"));
    let job = Job::new(
        JobSpec::Historical {
            symbols: symbols.clone(),
            timespan: Timeframe::Day,
            range: range("2024-01-02", "2024-03-29"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    let bars = assert_all_rows(&env.store, &symbols, &[Timeframe::Day], from, to).await;
    // Jan 2 .. Mar 29: 64 weekdays, but MLK Day, Washington's Birthday and Good Friday
    // (Mar 29) are holidays with no bars.
    assert_eq!(bars, 3 * 61, "61 sessions");
    env.assert_completed(&job, &st, &symbols, bars).await;
    // One request per symbol: a quarter of day bars is one page.
    for s in &symbols {
        assert_eq!(env.fake.requests_for(s), 1, "{s}");
    }
    // The history keeps the requests made beside the estimate, for the job's detail.
    let run = env.store.job_run(&job.id).await.unwrap().expect("row");
    assert_eq!(run.polygon_requests, Some(3), "{run:?}");
    assert_eq!(run.polygon_requests_estimated, Some(3), "{run:?}");
    env.finish().await;
}

async fn multi_timeframe_load(db: Db) {
    let env = Env::new(db).await;
    let symbols = strings(&["AAPL", "NVDA"]);
    let tfs = [
        Timeframe::Minute,
        Timeframe::Hour,
        Timeframe::Day,
        Timeframe::Week,
        Timeframe::Month,
    ];
    let (from, to) = (d("2024-02-26"), d("2024-03-08"));
    let job = Job::new(
        JobSpec::MultiTimeframe {
            symbols: symbols.clone(),
            timeframes: tfs.to_vec(),
            range: range("2024-02-26", "2024-03-08"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    let bars = assert_all_rows(&env.store, &symbols, &tfs, from, to).await;
    // Per symbol: 10 days x 390 minutes, 10 x 7 hours, 10 days, 2 weeks, 2 months.
    assert_eq!(bars, 2 * (3900 + 70 + 10 + 2 + 2));
    env.assert_completed(&job, &st, &symbols, bars).await;
    env.finish().await;
}

async fn universe_seed_dow30(db: Db) {
    let env = Env::new(db).await;
    let members = env
        .store
        .universe_members("dow30")
        .await
        .unwrap()
        .expect("dow30 is seeded");
    assert_eq!(members.len(), 30);
    let (from, to) = (d("2024-03-04"), d("2024-03-08"));
    let job = Job::new(
        JobSpec::UniverseSeed {
            universe_type: "DOW30".into(),
            refresh: false,
            range: range("2024-03-04", "2024-03-08"),
        },
        "test",
    );
    // A rate-limited plan and fewer weekdays (5) than symbols (30): grouped daily, one
    // request per day, and its 16:00 New York stamps must land on the trading date.
    let polygon = fast_polygon(&env.fake).with_requests_per_minute(100_000);
    let st = env
        .run_job(env.loader(polygon, loader_config(4)), &job)
        .await;
    assert_eq!(env.fake.requests_for(GROUPED), 5);
    assert_eq!(env.fake.request_count(), 5, "no per-symbol requests");
    let bars = assert_all_rows(&env.store, &members, &[Timeframe::Day], from, to).await;
    assert_eq!(bars, 30 * 5);
    env.assert_completed(&job, &st, &members, bars).await;
    // On a rate-limited universe seed the estimate is the fake's count (the goal is 5 %).
    let run = env.store.job_run(&job.id).await.unwrap().expect("row");
    assert_eq!(run.polygon_requests, Some(5), "{run:?}");
    assert_eq!(run.polygon_requests_estimated, Some(5), "{run:?}");
    env.finish().await;
}

async fn universe_seed_etf_refresh(db: Db) {
    let reference = [
        ("SPY", "ETF"),
        ("QQQ", "ETF"),
        ("XYZE", "ETF"),
        ("AAPL", "CS"),
        ("MSFT", "CS"),
    ];
    let env = Env::with_fake(
        db,
        FakePolygonConfig {
            reference_tickers: reference
                .iter()
                .map(|(t, ty)| (t.to_string(), ty.to_string()))
                .collect(),
            ..FakePolygonConfig::default()
        },
    )
    .await;
    let before = env.store.universe_members("etf").await.unwrap().unwrap();
    assert!(before.len() > 3 && !before.contains(&"XYZE".to_string()));
    let (from, to) = (d("2024-03-04"), d("2024-03-08"));
    let job = Job::new(
        JobSpec::UniverseSeed {
            universe_type: "etf".into(),
            refresh: true,
            range: range("2024-03-04", "2024-03-08"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    let etfs = strings(&["QQQ", "SPY", "XYZE"]);
    assert_eq!(
        env.store.universe_members("etf").await.unwrap().unwrap(),
        etfs,
        "the etf universe is rebuilt from the reference ETFs"
    );
    assert!(env.fake.requests_for(REFERENCE) >= 1);
    let bars = assert_all_rows(&env.store, &etfs, &[Timeframe::Day], from, to).await;
    env.assert_completed(&job, &st, &etfs, bars).await;
    env.finish().await;
}

async fn csv_universe_from_file(db: Db) {
    let env = Env::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("watch_list.csv"),
        "# my watch list\nticker,name\naapl,Apple\n NVDA ,Nvidia\nbrk.b,Berkshire\n",
    )
    .unwrap();
    let symbols = strings(&["AAPL", "NVDA", "BRK.B"]);
    let tfs = [Timeframe::Day, Timeframe::Hour];
    let (from, to) = (d("2024-03-04"), d("2024-03-15"));
    let job = Job::new(
        JobSpec::CsvUniverse {
            csv_file: Some("watch_list.csv".into()),
            universe_key: None,
            symbols: None,
            timeframes: tfs.to_vec(),
            include_ohlcv: true,
            source: None,
            range: range("2024-03-04", "2024-03-15"),
        },
        "test",
    );
    let loader = env.loader(
        fast_polygon(&env.fake),
        LoaderConfig {
            csv_dir: Some(dir.path().to_path_buf()),
            ..loader_config(4)
        },
    );
    let st = env.run_job(loader, &job).await;
    let bars = assert_all_rows(&env.store, &symbols, &tfs, from, to).await;
    assert_eq!(bars, 3 * (10 + 70));
    env.assert_completed(&job, &st, &symbols, bars).await;
    env.finish().await;
}

async fn csv_universe_from_joined_keys(db: Db) {
    let env = Env::new(db).await;
    env.store
        .replace_universe(
            "tiny_set",
            "Tiny set",
            "UNIVERSE",
            None,
            &strings(&["AAPL", "ZZTOP"]),
        )
        .await
        .unwrap();
    // `DIA` stands for the Dow 30, `TINY-SET` for the universe just imported.
    let mut union: BTreeSet<String> = env
        .store
        .universe_members("dow30")
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .collect();
    union.insert("ZZTOP".into());
    let symbols: Vec<String> = union.into_iter().collect();
    assert_eq!(symbols.len(), 31, "AAPL is in both");
    let (from, to) = (d("2024-03-04"), d("2024-03-06"));
    let job = Job::new(
        JobSpec::CsvUniverse {
            csv_file: None,
            universe_key: Some("TINY-SET:DIA".into()),
            symbols: None,
            timeframes: vec![Timeframe::Day],
            include_ohlcv: true,
            source: None,
            range: range("2024-03-04", "2024-03-06"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    let bars = assert_all_rows(&env.store, &symbols, &[Timeframe::Day], from, to).await;
    assert_eq!(bars, 31 * 3);
    env.assert_completed(&job, &st, &symbols, bars).await;
    env.finish().await;
}

on_both_databases!(
    historical_load,
    multi_timeframe_load,
    universe_seed_dow30,
    universe_seed_etf_refresh,
    csv_universe_from_file,
    csv_universe_from_joined_keys,
);

// ----- 2. New York dates and instants across DST changes -----

async fn dates_and_instants_across_dst(db: Db) {
    let env = Env::new(db).await;
    let tfs = [Timeframe::Minute, Timeframe::Hour, Timeframe::Day];
    let ranges = [
        ("2024-03-08", "2024-03-12"), // EST -> EDT on Sunday 10 March
        ("2024-10-31", "2024-11-05"), // EDT -> EST on Sunday 3 November
    ];
    for (from, to) in ranges {
        let job = Job::new(
            JobSpec::MultiTimeframe {
                symbols: strings(&["SPY"]),
                timeframes: tfs.to_vec(),
                range: range(from, to),
            },
            "test",
        );
        let st = env.run_job(env.fast_loader(), &job).await;
        assert_eq!(st.state, JobState::Completed, "{st:?}");
    }
    // Every table holds exactly both ranges' bars.
    for tf in tfs {
        let mut want = Vec::new();
        for (from, to) in ranges {
            want.extend(expected_rows("SPY", tf, d(from), d(to)));
        }
        let got = env.store.read_bars("SPY", tf).await.unwrap();
        assert_same_rows(&got, &want, &format!("SPY {tf}"));
    }
    // Trading dates: consecutive weekdays, nothing shifted by the clock change.
    let days: Vec<String> = env
        .store
        .read_bars("SPY", Timeframe::Day)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.time)
        .collect();
    assert_eq!(
        days,
        [
            "2024-03-08",
            "2024-03-11",
            "2024-03-12",
            "2024-10-31",
            "2024-11-01",
            "2024-11-04",
            "2024-11-05"
        ]
    );
    // 09:30 New York is 14:30Z in winter (EST) and 13:30Z in summer (EDT); 15:59 likewise.
    let minutes = env.store.read_bars("SPY", Timeframe::Minute).await.unwrap();
    assert_eq!(minutes.len(), 7 * 390);
    let firsts: Vec<&str> = minutes
        .iter()
        .step_by(390)
        .map(|b| b.time.as_str())
        .collect();
    assert_eq!(
        firsts,
        [
            "2024-03-08T14:30:00Z",
            "2024-03-11T13:30:00Z",
            "2024-03-12T13:30:00Z",
            "2024-10-31T13:30:00Z",
            "2024-11-01T13:30:00Z",
            "2024-11-04T14:30:00Z",
            "2024-11-05T14:30:00Z"
        ]
    );
    let lasts: Vec<&str> = minutes
        .iter()
        .skip(389)
        .step_by(390)
        .map(|b| b.time.as_str())
        .collect();
    assert_eq!(
        lasts,
        [
            "2024-03-08T20:59:00Z",
            "2024-03-11T19:59:00Z",
            "2024-03-12T19:59:00Z",
            "2024-10-31T19:59:00Z",
            "2024-11-01T19:59:00Z",
            "2024-11-04T20:59:00Z",
            "2024-11-05T20:59:00Z"
        ]
    );
    let hours = env.store.read_bars("SPY", Timeframe::Hour).await.unwrap();
    assert_eq!(hours[0].time, "2024-03-08T14:00:00Z");
    assert_eq!(hours[7].time, "2024-03-11T13:00:00Z");
    env.finish().await;
}

// ----- 3. reruns and interrupted jobs -----

async fn all_rows(store: &Store, symbols: &[String], tfs: &[Timeframe]) -> Vec<StoredBar> {
    let mut out = Vec::new();
    for s in symbols {
        for tf in tfs {
            out.extend(store.read_bars(s, *tf).await.unwrap());
        }
    }
    out
}

async fn same_job_twice_leaves_the_same_rows(db: Db) {
    let env = Env::new(db).await;
    let symbols = strings(&["AAPL", "MSFT"]);
    let tfs = [
        Timeframe::Minute,
        Timeframe::Day,
        Timeframe::Week,
        Timeframe::Month,
    ];
    let spec = JobSpec::MultiTimeframe {
        symbols: symbols.clone(),
        timeframes: tfs.to_vec(),
        range: range("2024-02-26", "2024-03-08"),
    };
    let first = Job::new(spec.clone(), "test");
    let st1 = env.run_job(env.fast_loader(), &first).await;
    let after_first = all_rows(&env.store, &symbols, &tfs).await;
    let coverage_first = env.store.coverage().await.unwrap();
    let second = Job::new(spec, "test");
    let st2 = env.run_job(env.fast_loader(), &second).await;
    let bars = assert_all_rows(&env.store, &symbols, &tfs, d("2024-02-26"), d("2024-03-08")).await;
    env.assert_completed(&first, &st1, &symbols, bars).await;
    env.assert_completed(&second, &st2, &symbols, bars).await;
    let after_second = all_rows(&env.store, &symbols, &tfs).await;
    assert_same_rows(&after_second, &after_first, "rows after the rerun");
    assert_eq!(env.store.coverage().await.unwrap(), coverage_first);
    env.finish().await;
}

on_both_databases!(
    dates_and_instants_across_dst,
    same_job_twice_leaves_the_same_rows
);

/// Kills the child on drop, so a failing test leaves no worker behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn checkpoints(bus: &Bus, job_id: &str) -> HashSet<String> {
    let mut c = bus.conn();
    c.smembers(bus.keys().checkpoint(job_id)).await.unwrap()
}

/// Asserts that no finished unit was downloaded again and every other unit was.
fn assert_no_redownload(
    requests: &[RecordedRequest],
    done_before: &HashSet<String>,
    symbols: &[String],
    tfs: &[Timeframe],
) {
    let fetched: HashSet<(String, String)> = requests.iter().filter_map(aggregate_unit).collect();
    for s in symbols {
        for tf in tfs {
            let unit = (s.clone(), tf.polygon_timespan().to_string());
            // The checkpoint set holds units in their stored form, `SYMBOL|timeframe`.
            let stored = Unit::new(s.parse::<Ticker>().unwrap(), *tf).to_string();
            if done_before.contains(&stored) {
                assert!(
                    !fetched.contains(&unit),
                    "{s} {tf} was finished before the interruption but downloaded again"
                );
            } else {
                assert!(fetched.contains(&unit), "{s} {tf} was never finished");
            }
        }
    }
}

/// A slow fake (every page 100 ms, one trading day of minutes per page), six symbols x
/// (1min, day): about 3 s of work for two units at a time.
async fn interrupt_env(db: Db) -> (Env, Job, Vec<String>, [Timeframe; 2]) {
    let env = Env::with_fake(
        db,
        FakePolygonConfig {
            latency: Duration::from_millis(100),
            page_size: 390,
            ..FakePolygonConfig::default()
        },
    )
    .await;
    let symbols = strings(&["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA"]);
    let tfs = [Timeframe::Minute, Timeframe::Day];
    let job = Job::new(
        JobSpec::MultiTimeframe {
            symbols: symbols.clone(),
            timeframes: tfs.to_vec(),
            range: range("2024-03-04", "2024-03-15"),
        },
        "test",
    );
    (env, job, symbols, tfs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_is_taken_over_without_redownloading_finished_pairs() {
    let (env, job, symbols, tfs) = interrupt_env(Db::Postgres).await;
    env.bus.submit(&job).await.unwrap();
    let child = std::process::Command::new(bin("tickstock"))
        .arg("worker")
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", env.bus.keys().namespace())
        .env("DATABASE_URL", &env.url)
        .env("POLYGON_BASE_URL", env.fake.base_url())
        .env("POLYGON_API_KEY", env.fake.api_key())
        .env("POLYGON_RPM", "0")
        .env("TICKSTOCK_LOAD_CONCURRENCY", "2")
        .env("TICKSTOCK_CLAIM_IDLE_SECS", "1")
        .env("TICKSTOCK_LISTEN_LEGACY", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tickstock worker");
    let mut child = KillOnDrop(child);
    wait_for(
        Duration::from_secs(30),
        "the worker to finish three units",
        || async { (checkpoints(&env.bus, &job.id).await.len() >= 3).then_some(()) },
    )
    .await;
    child.0.kill().expect("SIGKILL the worker");
    child.0.wait().unwrap();
    let done_before = checkpoints(&env.bus, &job.id).await;
    assert!(
        done_before.len() < symbols.len() * tfs.len(),
        "the job was still running when its worker was killed"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.fake.clear_requests();

    // Another worker takes the silent job over once it has been idle for a second.
    let cfg = WorkerConfig {
        claim_idle: Duration::from_secs(1),
        ..fast_worker_config()
    };
    let (w, _stop) = env.worker(env.loader(fast_polygon(&env.fake), loader_config(2)), cfg);
    let state = execute_until_finished(&w, &job.id, Duration::from_secs(60)).await;
    assert_eq!(state, JobState::Completed);
    let st = env.bus.status(&job.id).await.unwrap().unwrap();
    assert_eq!(st.progress, 100);
    assert_eq!(sorted(&st.successful_symbols), sorted(&symbols));
    assert_no_redownload(&env.fake.requests(), &done_before, &symbols, &tfs);
    assert_all_rows(&env.store, &symbols, &tfs, d("2024-03-04"), d("2024-03-15")).await;
    let run = env.store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(run.worker.as_deref(), Some(w.id()));
    env.finish().await;
}

/// A worker eager to take over anything idle for 200 ms, beside a `tickstock worker` on
/// the default 60 s (which refreshes its claim every 15 s), never takes the live job:
/// the take-over is judged by the owner's lease, not by the taker's setting. Every page
/// is requested once and the job runs on its first worker only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_short_idle_setting_never_takes_a_live_job_from_a_slower_one() {
    let (env, job, symbols, _tfs) = interrupt_env(Db::Postgres).await;
    env.bus.submit(&job).await.unwrap();
    let child = std::process::Command::new(bin("tickstock"))
        .arg("worker")
        .env("REDIS_URL", shared_redis_url())
        .env("TICKSTOCK_NAMESPACE", env.bus.keys().namespace())
        .env("DATABASE_URL", &env.url)
        .env("POLYGON_BASE_URL", env.fake.base_url())
        .env("POLYGON_API_KEY", env.fake.api_key())
        .env("POLYGON_RPM", "0")
        .env("TICKSTOCK_LOAD_CONCURRENCY", "2")
        .env("TICKSTOCK_LISTEN_LEGACY", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tickstock worker");
    let _child = KillOnDrop(child);
    let running = wait_state(
        &env.bus,
        &job.id,
        JobState::Running,
        Duration::from_secs(30),
    )
    .await;
    let owner = running
        .worker_id
        .clone()
        .expect("the running job names its worker");
    let cfg = WorkerConfig {
        claim_idle: Duration::from_millis(200),
        ..fast_worker_config()
    };
    let (eager, stop) = env.worker(env.loader(fast_polygon(&env.fake), loader_config(2)), cfg);
    let eager_id = eager.id().to_string();
    let h = tokio::spawn(async move { eager.run().await });
    let st = wait_state(
        &env.bus,
        &job.id,
        JobState::Completed,
        Duration::from_secs(60),
    )
    .await;
    stop.cancel();
    h.await.unwrap().unwrap();
    assert_eq!(st.worker_id.as_deref(), Some(owner.as_str()), "{st:?}");
    assert_ne!(owner, eager_id);
    assert!(
        !st.message
            .as_deref()
            .unwrap_or_default()
            .contains("Resumed"),
        "{st:?}"
    );
    assert_eq!(sorted(&st.successful_symbols), sorted(&symbols));
    // Counted at the fake: no page of any unit was requested twice.
    let mut seen = HashSet::new();
    let aggregates: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| aggregate_unit(r).is_some())
        .collect();
    assert!(!aggregates.is_empty());
    for r in &aggregates {
        assert!(
            seen.insert((r.path.clone(), r.query.clone())),
            "requested twice: {} {}",
            r.path,
            r.query
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_released_by_a_shutdown_resumes_from_its_checkpoint() {
    let (env, job, symbols, tfs) = interrupt_env(Db::Sqlite).await;
    env.bus.submit(&job).await.unwrap();
    let (w1, stop1) = env.worker(
        env.loader(fast_polygon(&env.fake), loader_config(2)),
        fast_worker_config(),
    );
    let run1 = tokio::spawn(async move { w1.try_execute_next().await });
    wait_for(
        Duration::from_secs(30),
        "the first worker to finish three units",
        || async { (checkpoints(&env.bus, &job.id).await.len() >= 3).then_some(()) },
    )
    .await;
    stop1.cancel();
    assert_eq!(
        run1.await.unwrap().unwrap(),
        Outcome::Released {
            job_id: job.id.clone()
        }
    );
    let done_before = checkpoints(&env.bus, &job.id).await;
    assert!(done_before.len() < symbols.len() * tfs.len());
    let st = env.bus.status(&job.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Queued, "released for another worker");
    env.fake.clear_requests();

    let (w2, _stop2) = env.worker(
        env.loader(fast_polygon(&env.fake), loader_config(2)),
        fast_worker_config(),
    );
    let state = execute_until_finished(&w2, &job.id, Duration::from_secs(60)).await;
    assert_eq!(state, JobState::Completed);
    assert_no_redownload(&env.fake.requests(), &done_before, &symbols, &tfs);
    assert_all_rows(&env.store, &symbols, &tfs, d("2024-03-04"), d("2024-03-15")).await;
    let run = env.store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed");
    env.finish().await;
}

// ----- 4. pagination -----

async fn pages_of_100_load_completely(db: Db) {
    let env = Env::new(db).await;
    env.fake.set_page_size(100);
    let symbols = strings(&["AAPL", "MSFT"]);
    let tfs = [Timeframe::Minute, Timeframe::Hour];
    let (from, to) = (d("2024-03-04"), d("2024-03-08"));
    let job = Job::new(
        JobSpec::MultiTimeframe {
            symbols: symbols.clone(),
            timeframes: tfs.to_vec(),
            range: range("2024-03-04", "2024-03-08"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    let bars = assert_all_rows(&env.store, &symbols, &tfs, from, to).await;
    env.assert_completed(&job, &st, &symbols, bars).await;
    // 1950 minute bars in 20 pages and 35 hourly bars in one, per symbol.
    for s in &symbols {
        assert_eq!(env.fake.requests_for(s), 21, "{s}");
    }
    env.finish().await;
}

async fn a_repeating_cursor_fails_the_symbol_not_the_job(db: Db) {
    let env = Env::new(db).await;
    env.fake.set_page_size(100);
    // MSFT's third page points at itself as the next page.
    env.fake.inject(
        "MSFT",
        [
            Fault::Slow(Duration::ZERO),
            Fault::Slow(Duration::ZERO),
            Fault::RepeatCursor,
        ],
    );
    let (from, to) = (d("2024-03-04"), d("2024-03-08"));
    let job = Job::new(
        JobSpec::Historical {
            symbols: strings(&["AAPL", "MSFT"]),
            timespan: Timeframe::Minute,
            range: range("2024-03-04", "2024-03-08"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    assert_eq!(st.state, JobState::CompletedWithErrors, "{st:?}");
    assert_eq!(st.progress, 100);
    assert_eq!(st.successful_symbols, ["AAPL"]);
    assert_eq!(st.failed_symbols, ["MSFT"]);
    let reason = &st.failures[0].reason;
    assert!(reason.contains("same next_url"), "{reason}");
    assert_eq!(
        env.fake.requests_for("MSFT"),
        3,
        "stopped instead of looping"
    );
    assert_rows(&env.store, "AAPL", Timeframe::Minute, from, to).await;
    let run = env.store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed_with_errors");
    assert_eq!((run.symbols_ok, run.symbols_failed), (1, 1));
    assert!(run.error.unwrap_or_default().contains("MSFT"));
    env.finish().await;
}

async fn empty_pages_without_end_fail_the_symbol_not_the_job(db: Db) {
    let env = Env::new(db).await;
    // Every MSFT page is empty and points at a new page one millisecond further on.
    env.fake.inject_always("MSFT", Fault::EmptyPagesForever);
    let (from, to) = (d("2024-03-04"), d("2024-03-08"));
    let job = Job::new(
        JobSpec::Historical {
            symbols: strings(&["AAPL", "MSFT"]),
            timespan: Timeframe::Minute,
            range: range("2024-03-04", "2024-03-08"),
        },
        "test",
    );
    let started = Instant::now();
    let st = env.run_job(env.fast_loader(), &job).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no endless paging"
    );
    assert_eq!(st.state, JobState::CompletedWithErrors, "{st:?}");
    assert_eq!(st.successful_symbols, ["AAPL"]);
    assert_eq!(st.failed_symbols, ["MSFT"]);
    let reason = &st.failures[0].reason;
    assert!(
        reason.contains(
            "Polygon kept sending empty pages for MSFT minute bars 2024-03-04..2024-03-08; \
             stopped after 3"
        ),
        "{reason}"
    );
    assert_eq!(
        aggregate_requests(&env.fake, "MSFT").len(),
        3,
        "stopped after three pages"
    );
    assert_rows(&env.store, "AAPL", Timeframe::Minute, from, to).await;
    assert!(env
        .store
        .read_bars("MSFT", Timeframe::Minute)
        .await
        .unwrap()
        .is_empty());
    let run = env.store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed_with_errors");
    assert!(run.error.unwrap_or_default().contains("MSFT"));
    env.finish().await;
}

on_both_databases!(
    pages_of_100_load_completely,
    a_repeating_cursor_fails_the_symbol_not_the_job,
    empty_pages_without_end_fail_the_symbol_not_the_job
);

/// Fifteen months of one symbol's minute bars in Polygon's own pages of 50,000: the second
/// and third pages come with the same cursor and a `from` moved to the next bar, the way
/// the real API sends them (a cursor-keyed guard stopped here at page three).
#[tokio::test]
async fn fifteen_months_of_minute_bars_in_pages_of_50000_are_stored_bar_for_bar() {
    let env = Env::new(Db::Postgres).await;
    let (from, to) = (d("2023-10-02"), d("2024-12-31"));
    let job = Job::new(
        JobSpec::Historical {
            symbols: strings(&["NVDA"]),
            timespan: Timeframe::Minute,
            range: range("2023-10-02", "2024-12-31"),
        },
        "test",
    );
    let st = env.run_job(env.fast_loader(), &job).await;
    let expected = FakePolygon::expected_bars("NVDA", Timeframe::Minute, from, to);
    // 315 sessions, four of them closing at 13:00; no bars on the 12 holidays.
    assert_eq!(
        expected.len() as u64,
        tickstock_protocol::calendar::expected_bars(Timeframe::Minute, from, to)
    );
    assert_eq!(expected.len(), 122_130);
    // Every stored row, value by value, against what the fake served.
    let bars = assert_rows(&env.store, "NVDA", Timeframe::Minute, from, to).await;
    assert_eq!(bars, 122_130);
    env.assert_completed(&job, &st, &strings(&["NVDA"]), bars)
        .await;

    let reqs = aggregate_requests(&env.fake, "NVDA");
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    let base = "/v2/aggs/ticker/NVDA/range/1/minute";
    assert_eq!(
        paths,
        [
            format!("{base}/2023-10-02/2024-12-31"),
            format!("{base}/{}/2024-12-31", expected[50_000].t),
            format!("{base}/{}/2024-12-31", expected[100_000].t),
        ]
    );
    assert_eq!(reqs[0].query, "adjusted=true&sort=asc&limit=50000");
    for r in &reqs[1..] {
        assert_eq!(r.query, "cursor=bGltaXQ9NTAwMDAmc29ydD1hc2M", "{r:?}");
    }
    env.finish().await;
}

// ----- 5. the fault matrix -----

#[tokio::test]
async fn polygon_faults_are_retried_or_fail_only_their_symbol() {
    const KEY: &str = "pk-Sup3rSecret-0042";
    let env = Env::with_fake(
        Db::Postgres,
        FakePolygonConfig {
            api_key: KEY.into(),
            ..FakePolygonConfig::default()
        },
    )
    .await;
    let transient: [(&str, Fault); 6] = [
        (
            "AAPL",
            Fault::TooManyRequests {
                retry_after: Some(1),
            },
        ),
        ("MSFT", Fault::TooManyRequests { retry_after: None }),
        ("NVDA", Fault::ServerError),
        ("AMZN", Fault::HtmlErrorPage),
        ("GOOGL", Fault::TruncatedJson),
        ("META", Fault::Slow(Duration::from_secs(3))),
    ];
    // A refused key (401) stops the whole job instead: `faults.rs`.
    let permanent: [(&str, Fault, &str); 2] = [
        (
            "JPM",
            Fault::NotEntitled,
            "You are not entitled to this data",
        ),
        ("V", Fault::NotFound, "Data not found."),
    ];
    for (t, f) in &transient {
        env.fake.inject(t, [f.clone()]);
    }
    for (t, f, _) in &permanent {
        env.fake.inject_always(t, f.clone());
    }
    let ok: Vec<String> = transient.iter().map(|(t, _)| t.to_string()).collect();
    let mut all = ok.clone();
    all.extend(permanent.iter().map(|(t, _, _)| t.to_string()));
    let (from, to) = (d("2024-03-01"), d("2024-03-29"));
    let job = Job::new(
        JobSpec::Historical {
            symbols: all.clone(),
            timespan: Timeframe::Day,
            range: range("2024-03-01", "2024-03-29"),
        },
        "test",
    );
    let polygon = fast_polygon(&env.fake).with_request_timeout(Duration::from_secs(1));
    let loader = env.loader(polygon, loader_config(all.len()));
    let st = env.run_job(loader, &job).await;

    assert_eq!(st.state, JobState::CompletedWithErrors, "{st:?}");
    assert_eq!(st.progress, 100);
    assert_eq!(sorted(&st.successful_symbols), sorted(&ok));
    let bars = assert_all_rows(&env.store, &ok, &[Timeframe::Day], from, to).await;
    assert_eq!(st.ohlcv_records_loaded, Some(bars));
    // Each transient fault cost exactly one retry.
    for t in &ok {
        assert_eq!(env.fake.requests_for(t), 2, "{t}: one failure, one retry");
    }
    let aapl: Vec<std::time::Instant> = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.ticker.as_deref() == Some("AAPL"))
        .map(|r| r.time)
        .collect();
    assert!(
        aapl[1] - aapl[0] >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({:?})",
        aapl[1] - aapl[0]
    );
    // Refusals: no retry, the server's own words, the symbol failed, the others loaded.
    for (t, _, words) in &permanent {
        assert_eq!(env.fake.requests_for(t), 1, "{t} is not retried");
        let f = st
            .failures
            .iter()
            .find(|f| f.symbol == *t)
            .unwrap_or_else(|| panic!("{t} is recorded as failed: {:?}", st.failures));
        assert!(f.reason.contains(words), "{t}: {}", f.reason);
        assert!(env
            .store
            .read_bars(t, Timeframe::Day)
            .await
            .unwrap()
            .is_empty());
    }
    let run = env.store.job_run(&job.id).await.unwrap().unwrap();
    assert_eq!(run.status, "completed_with_errors");
    assert_eq!((run.symbols_ok, run.symbols_failed), (6, 2));
    assert_eq!(run.bars_loaded, bars as i64);

    // The key went only in the Authorization header and is written nowhere.
    assert!(env.fake.requests().iter().all(|r| r.bearer && !r.query_key));
    let status_json = env.bus.status(&job.id).await.unwrap().unwrap().to_json();
    let run_json = serde_json::to_string(&run).unwrap();
    for text in [
        &status_json,
        &run_json,
        &st.error_message.clone().unwrap_or_default(),
    ] {
        assert!(!text.contains(KEY), "the API key leaked: {text}");
    }
    assert!(st.error_message.unwrap().contains("JPM"));
    env.finish().await;
}

// ----- 6. PostgreSQL stopping in the middle of a load -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopping_mid_load_fails_the_job_and_a_rerun_completes() {
    const PASSWORD: &str = "pw-n0t-4-logs";
    const PAGE: usize = 250;
    let pg = Arc::new(
        tokio::task::spawn_blocking(PrivatePostgres::new)
            .await
            .unwrap()
            .expect("a private PostgreSQL server (initdb, pg_ctl)"),
    );
    let url = format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
        pg.port()
    );
    let store = Store::connect_with(
        &url,
        &StoreOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let target = store.describe();
    assert_eq!(
        target,
        format!("PostgreSQL at 127.0.0.1:{}/postgres", pg.port())
    );
    let fake = FakePolygon::start(FakePolygonConfig {
        latency: Duration::from_millis(40),
        page_size: PAGE,
        ..FakePolygonConfig::default()
    })
    .await;
    let bus = support::bus().await;
    let symbols = strings(&["AAPL", "MSFT", "NVDA", "AMZN"]);
    let (from, to) = (d("2024-02-05"), d("2024-03-01"));
    let spec = JobSpec::Historical {
        symbols: symbols.clone(),
        timespan: Timeframe::Minute,
        range: range("2024-02-05", "2024-03-01"),
    };
    let loader = Loader::new(
        PolygonClient::new(fast_polygon(&fake)).unwrap(),
        store.clone(),
        loader_config(2),
    );
    let worker = |shutdown: CancellationToken| {
        Worker::with_history(
            bus.clone(),
            Arc::new(loader.clone()),
            fast_worker_config(),
            shutdown,
            Some(Arc::new(StoreHistory(store.clone()))),
        )
    };

    let job = Job::new(spec.clone(), "test");
    bus.submit(&job).await.unwrap();
    let w = worker(CancellationToken::new());
    let id = job.id.clone();
    let run =
        tokio::spawn(async move { execute_until_finished(&w, &id, Duration::from_secs(60)).await });
    wait_for(
        Duration::from_secs(30),
        "some rows to be written",
        || async {
            let cov = store.coverage().await.ok()?;
            (cov[0].rows >= 1500).then_some(())
        },
    )
    .await;
    let stopper = pg.clone();
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .unwrap()
        .expect("stop PostgreSQL");
    assert_eq!(run.await.unwrap(), JobState::Failed);
    let st = bus.status(&job.id).await.unwrap().unwrap();
    assert_eq!(st.state, JobState::Failed);
    let err = st.error_message.clone().unwrap_or_default();
    assert!(err.contains(&target), "the error names the database: {err}");
    let all_text = st.to_json();
    assert!(!all_text.contains(PASSWORD), "password leaked: {all_text}");

    let starter = pg.clone();
    tokio::task::spawn_blocking(move || starter.start())
        .await
        .unwrap()
        .expect("start PostgreSQL again");
    // No partial page: each symbol holds the first whole pages of its bars, or all of them.
    let mut stored_total = 0;
    for s in &symbols {
        let want = expected_rows(s, Timeframe::Minute, from, to);
        let got = store.read_bars(s, Timeframe::Minute).await.unwrap();
        assert!(
            got.len() % PAGE == 0 || got.len() == want.len(),
            "{s}: {} rows is not a whole number of pages",
            got.len()
        );
        assert_same_rows(&got, &want[..got.len()], &format!("{s} before the rerun"));
        stored_total += got.len();
    }
    assert!(
        stored_total < symbols.len() * 7800,
        "the load was cut short"
    );

    // The same load again completes with exactly the expected rows.
    let rerun = Job::new(spec, "test");
    bus.submit(&rerun).await.unwrap();
    let w = worker(CancellationToken::new());
    let state = execute_until_finished(&w, &rerun.id, Duration::from_secs(60)).await;
    assert_eq!(state, JobState::Completed);
    let bars = assert_all_rows(&store, &symbols, &[Timeframe::Minute], from, to).await;
    assert_eq!(
        bars as u64,
        4 * tickstock_protocol::calendar::expected_bars(Timeframe::Minute, from, to)
    );
    let history = store.job_run(&rerun.id).await.unwrap().unwrap();
    assert_eq!(history.status, "completed");
    store.close().await;
}

// ----- 7. the rate limit -----

#[tokio::test(start_paused = true)]
async fn the_limiter_never_lets_a_sixth_request_into_a_minute() {
    let rl = Arc::new(RateLimiter::per_minute(5));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let rl = rl.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for _ in 0..6 {
                rl.acquire().await;
                times.push(tokio::time::Instant::now() - start);
                // Some callers take a while between requests.
                tokio::time::sleep(Duration::from_secs(7)).await;
            }
            times
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.unwrap());
    }
    times.sort();
    assert_eq!(times.len(), 18);
    for w in times.windows(6) {
        // A minute plus the 2 s margin for the way to Polygon.
        assert!(
            w[5] - w[0] >= Duration::from_secs(62),
            "six requests within a minute and its margin: {w:?}"
        );
    }
    // The first five never wait: three callers at once, then two of them 7 s later.
    let s = Duration::from_secs;
    assert_eq!(times[..5], [s(0), s(0), s(0), s(7), s(7)]);
    // Nor does anyone wait longer than the window requires: five grants per 62 s (three
    // at 62 s, two 7 s later) put the 18th at exactly three windows.
    assert_eq!(times[5..8], [s(62); 3]);
    assert_eq!(times[17], s(186));
}

#[tokio::test]
async fn a_job_respects_the_plan_rate_limit() {
    let env = Env::new(Db::Sqlite).await;
    let symbols: Vec<String> = [
        "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "V", "MA", "KO", "PG", "HD",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let job = Job::new(
        JobSpec::Historical {
            symbols: symbols.clone(),
            timespan: Timeframe::Day,
            range: range("2024-03-04", "2024-03-08"),
        },
        "test",
    );
    // The free plan's 5 requests, over a one-second window instead of a minute.
    let mut polygon = fast_polygon(&env.fake).with_requests_per_minute(5);
    polygon.rate_window = Duration::from_secs(1);
    let loader = env.loader(
        polygon,
        LoaderConfig {
            grouped_daily: false,
            ..loader_config(4)
        },
    );
    let started = Instant::now();
    let st = run_in_process(&loader, &job).await;
    let took = started.elapsed();
    assert_eq!(st.state, JobState::Completed, "{st:?}");
    assert_all_rows(
        &env.store,
        &symbols,
        &[Timeframe::Day],
        d("2024-03-04"),
        d("2024-03-08"),
    )
    .await;
    let times: Vec<std::time::Instant> = env.fake.requests().iter().map(|r| r.time).collect();
    assert_eq!(times.len(), 12);
    // The status counts the job's requests as the fake did, beside the plan's estimate
    // (one page of day bars per symbol).
    let figure = |k: &str| st.extra.get(k).and_then(|v| v.as_u64());
    assert_eq!(figure("polygon_requests"), Some(12), "{:?}", st.extra);
    assert_eq!(
        figure("polygon_requests_estimated"),
        Some(12),
        "{:?}",
        st.extra
    );
    for w in times.windows(6) {
        assert!(
            // Arrival times: allow for the way from the limiter to the server.
            w[5] - w[0] >= Duration::from_millis(900),
            "six requests within one window: {:?}",
            w[5] - w[0]
        );
    }
    // 12 requests at 5 per second: two waits, and no sleeping beyond them.
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
    env.finish().await;
}

// ----- 8. the CLI -----

struct Cli {
    db_url: String,
    fake: FakePolygon,
}

struct CliOutput {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> CliOutput {
        let out = tokio::process::Command::new(bin("tickstock"))
            .args(args)
            .env("DATABASE_URL", &self.db_url)
            .env("POLYGON_BASE_URL", self.fake.base_url())
            .env("POLYGON_API_KEY", self.fake.api_key())
            .env("POLYGON_RPM", "0")
            .env_remove("RUST_LOG")
            .env_remove("TICKSTOCK_CSV_DIR")
            .output()
            .await
            .expect("run tickstock");
        CliOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
    }
}

fn json(o: &CliOutput) -> serde_json::Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            o.stdout, o.stderr
        )
    })
}

#[tokio::test]
async fn cli_load_coverage_and_universe_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/cli.db", dir.path().display());
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let cli = Cli {
        db_url: db_url.clone(),
        fake: fake.clone(),
    };
    let load = [
        "load",
        "--symbols",
        "AAPL,MSFT",
        "--timeframes",
        "day,hour",
        "--from",
        "2024-03-04",
        "--to",
        "2024-03-08",
        "--json",
    ];

    // Success: exit 0 and a JSON summary.
    let out = cli.run(&load).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["symbols_ok"], 2);
    assert_eq!(v["symbols_failed"], 0);
    assert_eq!(v["bars"], 2 * (5 + 35));
    let store = Store::connect(&db_url).await.unwrap();
    assert_eq!(v["database"], store.describe());
    let symbols = strings(&["AAPL", "MSFT"]);
    assert_all_rows(
        &store,
        &symbols,
        &[Timeframe::Day, Timeframe::Hour],
        d("2024-03-04"),
        d("2024-03-08"),
    )
    .await;
    let run = store
        .job_run(v["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .expect("the load is in the job history");
    assert_eq!(run.status, "completed");

    // A symbol the plan does not cover: exit 3, the rest loaded.
    fake.inject_always("MSFT", Fault::NotEntitled);
    let out = cli.run(&load).await;
    assert_eq!(out.code, 3, "stderr: {}", out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "completed_with_errors");
    assert_eq!(
        (v["symbols_ok"].as_u64(), v["symbols_failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["failures"][0]["symbol"], "MSFT");
    assert!(v["failures"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("not entitled"));
    fake.clear_faults();

    // Bad input: exit 2 and one line on stderr, before anything is fetched.
    let before = fake.request_count();
    for (args, needle) in [
        (
            vec!["load", "--symbols", "AAPL,BAD$SYM", "--json"],
            "BAD$SYM",
        ),
        (
            vec!["load", "--universe", "nosuchverse", "--json"],
            "nosuchverse",
        ),
    ] {
        let out = cli.run(&args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    assert_eq!(fake.request_count(), before);

    // coverage --json is what the store reports.
    let out = cli.run(&["coverage", "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cov: Vec<TableCoverage> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cov, store.coverage().await.unwrap());
    let by_table: BTreeMap<&str, i64> = cov.iter().map(|c| (c.table.as_str(), c.rows)).collect();
    assert_eq!(by_table["ohlcv_daily"], 10);
    assert_eq!(by_table["ohlcv_hourly"], 70);
    assert_eq!(by_table["ohlcv_1min"], 0);

    // universe import, then show.
    let csv = dir.path().join("mine.csv");
    std::fs::write(&csv, "symbol,weight\nmsft,1\nAAPL,2\nBRK.B,3\n").unwrap();
    let out = cli
        .run(&["universe", "import", "my_picks", csv.to_str().unwrap()])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = cli.run(&["universe", "show", "my_picks", "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["members"], serde_json::json!(["AAPL", "BRK.B", "MSFT"]));
    let out = cli.run(&["universe", "list", "--json"]).await;
    let list = json(&out);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|u| u["key"] == "mypicks" && u["members"] == 3),
        "{list}"
    );
    store.close().await;
}
