//! Soak benchmark: 10,000 jobs over three worker processes (`sim-worker`, the real worker
//! runtime with a simulated loader) on a private Redis, the workers set as operators mix
//! them (take-overs after 1 s, 5 s and the default 60 s) and writing one PostgreSQL job
//! history, while faults arrive as the work is done:
//! - at a quarter, every Redis client connection is killed (`CLIENT KILL`);
//! - at three eighths and five eighths, every connection to the history's database is
//!   killed (`pg_terminate_backend`, as a failover or an idle-timeout proxy does);
//! - at half, Redis restarts (with its append-only file, as a production restart);
//! - at three quarters, Redis stalls for 20 s (SIGSTOP, then SIGCONT).
//!
//! One job in a hundred names 150 symbols and runs for 3 s, longer than the fastest
//! take-over, so a live job taken by a quick worker would show. Prints jobs/s, the final
//! state of every job, the jobs run more than once, the history's rows against the jobs,
//! and each worker's memory (VmRSS) at start and end. Asserts that every job reached a
//! final state, none ran twice, and the history holds every job final.
//!
//! `cargo build --release -p tickstock-testkit --bins && cargo bench -p tickstock-tests --bench soak`
//! (`SOAK_JOBS=N` for another count, `SOAK_FAULTS=redis-kill,pg-kill,restart,stall` for
//! some of the faults only).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::Bus;
use tickstock_testkit::redis_server::RedisServer;
use tickstock_testkit::sim::executions_key;

const WORKERS: usize = 3;

fn sim_worker_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("bench exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("sim-worker");
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p tickstock-testkit --bins",
        path.display()
    );
    path
}

/// Resident memory of a process in MiB, from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
        }
        for c in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Take-over idle times of the workers: as an operator may mix them.
const CLAIM_IDLE_MS: [u64; WORKERS] = [1_000, 5_000, 60_000];
/// Simulated time per symbol: a one-symbol job takes 20 ms, a long one 3 s.
const MS_PER_SYMBOL: u64 = 20;
const LONG_EVERY: usize = 100;
const LONG_SYMBOLS: usize = 150;
const STALL: Duration = Duration::from_secs(20);

fn job(i: usize) -> Job {
    let symbols = if i.is_multiple_of(LONG_EVERY) {
        (0..LONG_SYMBOLS).map(|k| format!("S{i}X{k}")).collect()
    } else {
        vec![format!("S{i}")]
    };
    Job::new(
        JobSpec::Historical {
            symbols,
            timespan: Timeframe::Day,
            range: DateRange {
                years: Some(1.0),
                ..Default::default()
            },
        },
        "soak",
    )
}

async fn final_states(bus: &Bus, ids: &[String]) -> BTreeMap<String, usize> {
    let mut states = BTreeMap::new();
    for chunk in ids.chunks(1000) {
        for st in bus.statuses(chunk).await.unwrap_or_default() {
            let name = st
                .map(|s| s.state.as_str().to_string())
                .unwrap_or_else(|| "missing".into());
            *states.entry(name).or_insert(0) += 1;
        }
    }
    states
}

fn is_final(name: &str) -> bool {
    matches!(
        name,
        "completed" | "completed_with_errors" | "failed" | "cancelled"
    )
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("SOAK_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut redis = RedisServer::start();
    let url = redis.url();
    let ns = "soak".to_string();
    let db = tickstock_testkit::pg::fresh_database().await;
    // Migrated before the workers start, so they only write.
    tickstock_data::store::Store::connect(&db.url)
        .await
        .expect("the history's database")
        .close()
        .await;
    let bus = Bus::connect(BusConfig::new(url.clone()).with_namespace(ns.clone()))
        .await
        .expect("private Redis");

    let bin = sim_worker_bin();
    let workers = Workers(
        (0..WORKERS)
            .map(|i| {
                Command::new(&bin)
                    .args(["--redis-url", &url, "--namespace", &ns])
                    .args(["--database-url", &db.url])
                    .args(["--ms-per-symbol", &MS_PER_SYMBOL.to_string()])
                    .args(["--concurrency", "4", "--max-deliveries", "5"])
                    .args(["--claim-idle-ms", &CLAIM_IDLE_MS[i].to_string()])
                    .args(["--worker-id", &format!("soak-{i}")])
                    .env("RUST_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start sim-worker")
            })
            .collect(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_start: Vec<Option<f64>> = workers.0.iter().map(|c| rss_mib(c.id())).collect();

    let jobs: Vec<Job> = (0..n).map(job).collect();
    let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    let started = Instant::now();
    let mut conn = bus.conn();
    // Which faults (SOAK_FAULTS, a comma list; all by default), each when that share of
    // the executions is done, so it lands while the workers are busy.
    let chosen =
        std::env::var("SOAK_FAULTS").unwrap_or_else(|_| "redis-kill,pg-kill,restart,stall".into());
    let mut plan: Vec<(usize, &str)> = [
        (n / 4, "redis-kill"),
        (3 * n / 8, "pg-kill"),
        (n / 2, "restart"),
        (5 * n / 8, "pg-kill"),
        (3 * n / 4, "stall"),
    ]
    .into_iter()
    .filter(|(_, f)| chosen.split(',').any(|c| c.trim() == *f))
    .collect();
    plan.reverse();
    let mut faults: Vec<String> = Vec::new();
    for j in &jobs {
        let mut tries = 0;
        while let Err(e) = bus.submit(j).await {
            tries += 1;
            assert!(tries < 100, "submit kept failing: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let submitted = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: usize = conn.llen(executions_key(&ns)).await.unwrap_or(0);
        while plan.last().is_some_and(|(at, _)| done >= *at) {
            let (_, fault) = plan.pop().unwrap();
            let what = match fault {
                "redis-kill" => {
                    let killed: i64 = redis::cmd("CLIENT")
                        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
                        .query_async(&mut conn)
                        .await
                        .unwrap_or(0);
                    format!("{killed} Redis connections killed")
                }
                "pg-kill" => format!(
                    "{} PostgreSQL connections killed",
                    kill_pg_connections(&db.name).await
                ),
                "restart" => {
                    redis.restart();
                    "Redis restarted".to_string()
                }
                _ => {
                    redis.freeze();
                    tokio::time::sleep(STALL).await;
                    redis.thaw();
                    format!("Redis stalled {} s", STALL.as_secs())
                }
            };
            faults.push(format!(
                "{what} at {:.1} s ({done} executions)",
                started.elapsed().as_secs_f64()
            ));
        }
        if done >= n && plan.is_empty() {
            let states = final_states(&bus, &ids).await;
            if states.iter().all(|(k, _)| is_final(k)) {
                break;
            }
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    let states = final_states(&bus, &ids).await;
    let executions: Vec<String> = conn
        .lrange(executions_key(&ns), 0, -1)
        .await
        .unwrap_or_default();
    let mut runs: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &executions {
        *runs.entry(id.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<(&str, usize)> = runs
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (*id, *n))
        .collect();
    let history = history_states(&db.url).await;
    let rss_end: Vec<Option<f64>> = workers.0.iter().map(|c| rss_mib(c.id())).collect();

    let fmt = |v: &[Option<f64>]| {
        v.iter()
            .map(|m| m.map(|m| format!("{m:.1}")).unwrap_or_else(|| "?".into()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("soak: {n} jobs over {WORKERS} workers (sim loader), private Redis with AOF");
    println!(
        "  submitted in {:.2} s ({:.0} submits/s)",
        submitted.as_secs_f64(),
        n as f64 / submitted.as_secs_f64()
    );
    println!(
        "  workers' take-over idle: {} ms",
        CLAIM_IDLE_MS.map(|m| m.to_string()).join(", ")
    );
    println!("  faults: {}", faults.join("; "));
    println!(
        "  all final after {:.2} s: {:.0} jobs/s; {} executions",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        executions.len()
    );
    println!("  final states: {states:?}");
    println!(
        "  jobs run more than once: {} {:?}",
        twice.len(),
        twice.iter().take(10).collect::<Vec<_>>()
    );
    println!("  history rows by state: {history:?}");
    println!("  worker VmRSS MiB at start: {}", fmt(&rss_start));
    println!("  worker VmRSS MiB at end:   {}", fmt(&rss_end));
    drop(workers);
    assert!(
        states.iter().all(|(k, _)| is_final(k)),
        "every job must reach a final state: {states:?}"
    );
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    assert!(
        history.iter().all(|(k, _)| is_final(k)) && history.values().sum::<usize>() == n,
        "the history must hold every job final: {history:?}"
    );
}

/// Kills every connection to database `name`; how many.
async fn kill_pg_connections(name: &str) -> i64 {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&tickstock_testkit::pg::admin_url())
        .await
        .expect("PostgreSQL");
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) t",
    )
    .bind(name)
    .fetch_one(&mut admin)
    .await
    .unwrap_or(0)
}

/// The history's rows by state.
async fn history_states(url: &str) -> BTreeMap<String, usize> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.expect("PostgreSQL");
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM job_runs GROUP BY status")
            .fetch_all(&mut c)
            .await
            .unwrap_or_default();
    rows.into_iter().map(|(s, n)| (s, n as usize)).collect()
}
