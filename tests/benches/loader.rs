//! Loader benchmark: about 2 million minute bars (20 symbols x one year of 1min, 390 a
//! day) from the fake Polygon server on loopback into PostgreSQL through the real
//! [`Loader`] (one job, run in this process with in-memory checkpoints), compared with
//! plain `COPY .. FROM STDIN` of the same rows into an empty table with the same primary
//! key. Measured for a fresh load (empty tables) and a reload of the same range (every
//! row already stored), with this process's peak memory.
//!
//! The fake server runs in a child process (this binary started again with
//! `LOADER_BENCH_ROLE=fake`), so the memory figures are the loader's alone; it shares the
//! machine's cores with the loader and PostgreSQL, as a real server would not.
//!
//! `cargo bench -p tickstock-tests --bench loader` (PostgreSQL from `TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database is created and dropped).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};
use tickstock_data::exec::{MemoryCheckpoints, NoSink};
use tickstock_data::loader::{Loader, LoaderConfig};
use tickstock_data::polygon::{PolygonClient, PolygonConfig};
use tickstock_data::store::Store;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::Timeframe;
use tickstock_queue::lifecycle::{ForegroundHost, RunEnv};
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};
use tickstock_testkit::pg::fresh_database;

const SYMBOLS: usize = 20;
const FROM: &str = "2024-01-01";
const TO: &str = "2024-12-31";

const GOAL_FRESH: f64 = 0.7;
const GOAL_RELOAD: f64 = 0.3;
const GOAL_PEAK_MB: f64 = 200.0;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn symbols() -> Vec<String> {
    (0..SYMBOLS).map(|i| format!("BM{i:02}")).collect()
}

/// A field of `/proc/self/status` in MB (`VmHWM`, `VmRSS`).
fn proc_mb(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
fn cpu_secs(pid: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15; `rest` starts at field 3. Clock ticks: 100/s.
    (ticks(11) + ticks(12)) / 100.0
}

// ----- the fake server's process -----

fn serve_fake() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let fake = FakePolygon::start(FakePolygonConfig::default()).await;
        println!("{} {}", fake.base_url(), fake.api_key());
        std::io::stdout().flush().expect("stdout");
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await
        .expect("stdin watcher");
    });
}

struct FakeProcess {
    child: Child,
    base_url: String,
    api_key: String,
}

impl FakeProcess {
    fn start() -> FakeProcess {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env("LOADER_BENCH_ROLE", "fake")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fake Polygon process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the fake's address");
        let mut parts = line.split_whitespace();
        let base_url = parts.next().expect("base URL").to_string();
        let api_key = parts.next().expect("API key").to_string();
        FakeProcess {
            child,
            base_url,
            api_key,
        }
    }
}

impl Drop for FakeProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- the loader side -----

/// Runs one load job in this process; returns its final status and how long it took.
async fn run_job(loader: &Loader) -> (JobStatus, Duration) {
    let job = Job::new(
        JobSpec::Historical {
            symbols: symbols(),
            timespan: Timeframe::Minute,
            range: DateRange {
                years: None,
                start_date: Some(date(FROM)),
                end_date: Some(date(TO)),
            },
        },
        "bench",
    );
    let env = RunEnv::new(Arc::new(MemoryCheckpoints::default()), None);
    let host = Arc::new(ForegroundHost::new(Arc::new(NoSink)));
    let started = Instant::now();
    let end = tickstock_queue::lifecycle::run_job(
        &job,
        JobStatus::new(JobState::Running),
        Arc::new(loader.clone()),
        host,
        env,
    )
    .await
    .expect("a foreground run");
    (end.status().clone(), started.elapsed())
}

async fn count_rows(url: &str, table: &str) -> i64 {
    let mut c = PgConnection::connect(url).await.expect("connect");
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut c)
        .await
        .expect("count");
    let _ = c.close().await;
    n
}

// ----- the COPY baseline -----

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;

/// Writes every bar of the load, in COPY binary or text format, to a temp file.
fn copy_file(binary: bool) -> (tempfile::NamedTempFile, u64) {
    let mut f = std::io::BufWriter::with_capacity(
        1 << 20,
        tempfile::NamedTempFile::new().expect("temp file"),
    );
    let mut rows = 0u64;
    if binary {
        f.write_all(b"PGCOPY\n\xff\r\n\0").unwrap();
        f.write_all(&0i32.to_be_bytes()).unwrap();
        f.write_all(&0i32.to_be_bytes()).unwrap();
    }
    for s in symbols() {
        for b in FakePolygon::expected_bars(&s, Timeframe::Minute, date(FROM), date(TO)) {
            rows += 1;
            if binary {
                f.write_all(&7i16.to_be_bytes()).unwrap();
                f.write_all(&(s.len() as i32).to_be_bytes()).unwrap();
                f.write_all(s.as_bytes()).unwrap();
                f.write_all(&8i32.to_be_bytes()).unwrap();
                let micros = b.t * 1000 - PG_EPOCH_UNIX_SECS * 1_000_000;
                f.write_all(&micros.to_be_bytes()).unwrap();
                for v in [b.o, b.h, b.l, b.c, b.v] {
                    f.write_all(&8i32.to_be_bytes()).unwrap();
                    f.write_all(&v.to_be_bytes()).unwrap();
                }
            } else {
                writeln!(
                    f,
                    "{s}\t{}\t{}\t{}\t{}\t{}\t{}",
                    b.time_utc().format("%Y-%m-%d %H:%M:%S+00"),
                    b.o,
                    b.h,
                    b.l,
                    b.c,
                    b.v
                )
                .unwrap();
            }
        }
    }
    if binary {
        f.write_all(&(-1i16).to_be_bytes()).unwrap();
    }
    let file = f.into_inner().expect("flush");
    (file, rows)
}

/// COPYs the file into an empty table shaped like `ohlcv_1min`; returns the time taken.
async fn copy_baseline(url: &str, binary: bool) -> (u64, Duration) {
    let (file, rows) = copy_file(binary);
    let mut c = PgConnection::connect(url).await.expect("connect");
    sqlx::query("DROP TABLE IF EXISTS bench_copy")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE bench_copy (LIKE ohlcv_1min INCLUDING ALL)")
        .execute(&mut c)
        .await
        .unwrap();
    let source = tokio::fs::File::open(file.path()).await.expect("open");
    let format = if binary { "binary" } else { "text" };
    let started = Instant::now();
    let mut copy = c
        .copy_in_raw(&format!(
            "COPY bench_copy (symbol, \"timestamp\", open, high, low, close, volume) FROM STDIN (FORMAT {format})"
        ))
        .await
        .expect("COPY");
    copy.read_from(source).await.expect("send");
    let n = copy.finish().await.expect("COPY finished");
    let took = started.elapsed();
    assert_eq!(n, rows);
    sqlx::query("DROP TABLE bench_copy")
        .execute(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    (rows, took)
}

fn rate(rows: u64, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

async fn bench() {
    let fake = FakeProcess::start();
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.expect("the bench database");
    let polygon = PolygonClient::new(
        PolygonConfig::new(
            fake.base_url.clone(),
            SecretString::from(fake.api_key.clone()),
        )
        .with_requests_per_minute(0),
    )
    .expect("client");
    let loader = Loader::new(polygon, store.clone(), LoaderConfig::default());
    let expected: u64 = symbols()
        .iter()
        .map(|s| {
            FakePolygon::expected_bars(s, Timeframe::Minute, date(FROM), date(TO)).len() as u64
        })
        .sum();
    println!(
        "loader bench: {SYMBOLS} symbols x 1min {FROM}..{TO} = {expected} bars, fake Polygon (child process) -> {}",
        store.describe()
    );

    let rss_before = proc_mb("VmRSS:");
    let fake_pid = fake.child.id().to_string();
    let (own0, fake0) = (cpu_secs("self"), cpu_secs(&fake_pid));
    let (fresh, fresh_took) = run_job(&loader).await;
    let (own1, fake1) = (cpu_secs("self"), cpu_secs(&fake_pid));
    assert_eq!(
        fresh.state,
        JobState::Completed,
        "{:?}",
        fresh.error_message
    );
    assert_eq!(fresh.ohlcv_records_loaded, Some(expected));
    assert_eq!(count_rows(&db.url, "ohlcv_1min").await as u64, expected);
    let (own2, fake2) = (cpu_secs("self"), cpu_secs(&fake_pid));
    let (reload, reload_took) = run_job(&loader).await;
    let (own3, fake3) = (cpu_secs("self"), cpu_secs(&fake_pid));
    assert_eq!(
        reload.state,
        JobState::Completed,
        "{:?}",
        reload.error_message
    );
    assert_eq!(count_rows(&db.url, "ohlcv_1min").await as u64, expected);
    let peak = proc_mb("VmHWM:");
    let rss_after = proc_mb("VmRSS:");
    store.close().await;

    let (rows_bin, copy_bin) = copy_baseline(&db.url, true).await;
    let (rows_text, copy_text) = copy_baseline(&db.url, false).await;
    assert_eq!((rows_bin, rows_text), (expected, expected));

    let copy_rate = rate(expected, copy_bin).max(rate(expected, copy_text));
    let fresh_rate = rate(expected, fresh_took);
    let reload_rate = rate(expected, reload_took);
    println!(
        "COPY binary:  {:>9.0} bars/s ({:.2} s)",
        rate(expected, copy_bin),
        copy_bin.as_secs_f64()
    );
    println!(
        "COPY text:    {:>9.0} bars/s ({:.2} s)",
        rate(expected, copy_text),
        copy_text.as_secs_f64()
    );
    println!(
        "fresh load:   {:>9.0} bars/s ({:.2} s), {:.2}x the faster COPY (goal >= {GOAL_FRESH}x: {})",
        fresh_rate,
        fresh_took.as_secs_f64(),
        fresh_rate / copy_rate,
        verdict(fresh_rate / copy_rate >= GOAL_FRESH)
    );
    println!(
        "reload:       {:>9.0} bars/s ({:.2} s), {:.2}x the faster COPY (goal >= {GOAL_RELOAD}x: {})",
        reload_rate,
        reload_took.as_secs_f64(),
        reload_rate / copy_rate,
        verdict(reload_rate / copy_rate >= GOAL_RELOAD)
    );
    println!(
        "memory:       peak (VmHWM) {peak:.0} MB, RSS {rss_before:.0} MB before the loads, {rss_after:.0} MB after (growth to peak {:.0} MB) (goal peak < {GOAL_PEAK_MB} MB: {})",
        peak - rss_before,
        verdict(peak < GOAL_PEAK_MB)
    );
    println!(
        "CPU:          fresh load: loader {:.1} s, fake server {:.1} s; reload: loader {:.1} s, fake server {:.1} s (2 cores shared with PostgreSQL)",
        own1 - own0,
        fake1 - fake0,
        own3 - own2,
        fake3 - fake2
    );
    db.drop_db().await;
}

fn main() {
    if std::env::var("LOADER_BENCH_ROLE").as_deref() == Ok("fake") {
        serve_fake();
        return;
    }
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(bench());
}
