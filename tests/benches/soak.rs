//! Soak benchmark: 10,000 one-symbol jobs over three worker processes (`sim-worker`, the
//! real worker runtime with a simulated loader) on a private Redis that is restarted in
//! the middle (with its append-only file, as a production restart). Prints jobs/s, the
//! final state of every job, and each worker's memory (VmRSS) at start and end. Asserts
//! that every job reached a final state.
//!
//! `cargo build --release -p tickstock-testkit --bins && cargo bench -p tickstock-tests --bench soak`
//! (`SOAK_JOBS=N` for another count).

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

fn job(i: usize) -> Job {
    Job::new(
        JobSpec::Historical {
            symbols: vec![format!("S{i}")],
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
    let bus = Bus::connect(BusConfig::new(url.clone()).with_namespace(ns.clone()))
        .await
        .expect("private Redis");

    let bin = sim_worker_bin();
    let workers = Workers(
        (0..WORKERS)
            .map(|i| {
                Command::new(&bin)
                    .args(["--redis-url", &url, "--namespace", &ns])
                    .args(["--ms-per-symbol", "0", "--concurrency", "4"])
                    .args(["--claim-idle-ms", "5000", "--max-deliveries", "5"])
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
    let mut restarted_at = None;
    for (i, j) in jobs.iter().enumerate() {
        // Redis goes down and comes back half way, while workers are busy.
        if i == n / 2 {
            let done: usize = conn.llen(executions_key(&ns)).await.unwrap_or(0);
            redis.restart();
            restarted_at = Some((started.elapsed(), done));
        }
        let mut tries = 0;
        while let Err(e) = bus.submit(j).await {
            tries += 1;
            assert!(tries < 100, "submit kept failing after the restart: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let submitted = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: usize = conn.llen(executions_key(&ns)).await.unwrap_or(0);
        if done >= n {
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
    let executions: usize = conn.llen(executions_key(&ns)).await.unwrap_or(0);
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
    if let Some((at, done)) = restarted_at {
        println!(
            "  Redis restarted at {:.1} s, after {done} executions",
            at.as_secs_f64()
        );
    }
    println!(
        "  all final after {:.2} s: {:.0} jobs/s; {executions} executions",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    println!("  final states: {states:?}");
    println!("  worker VmRSS MiB at start: {}", fmt(&rss_start));
    println!("  worker VmRSS MiB at end:   {}", fmt(&rss_end));
    drop(workers);
    assert!(
        states.iter().all(|(k, _)| is_final(k)),
        "every job must reach a final state: {states:?}"
    );
}
