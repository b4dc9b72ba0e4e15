//! Bus benchmark against local Redis: submit latency over 10,000 submissions and the time
//! to read 1,000 statuses in one call. Prints its figures; asserts nothing about speed.
//!
//! `cargo bench -p tickstock-tests --bench bus`

use std::time::{Duration, Instant};

use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::Bus;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let ns = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let bus = Bus::connect(
        BusConfig::new(url)
            .with_namespace(ns.clone())
            .with_publish_legacy(true),
    )
    .await
    .expect("Redis");
    let n = 10_100; // 100 to warm up, 10,000 measured
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            Job::new(
                JobSpec::Historical {
                    symbols: vec![format!("S{i}"), "AAPL".into(), "MSFT".into()],
                    timespan: Timeframe::Day,
                    range: DateRange {
                        years: Some(1.0),
                        ..Default::default()
                    },
                },
                "bench",
            )
        })
        .collect();
    // Warm up the connection and the scripts.
    for j in jobs.iter().take(100) {
        bus.submit(j).await.unwrap();
    }
    let mut lat = Vec::with_capacity(n);
    let all = Instant::now();
    for j in &jobs[100..] {
        let t = Instant::now();
        bus.submit(j).await.unwrap();
        lat.push(t.elapsed());
    }
    let total = all.elapsed();
    lat.sort();
    println!(
        "submit: {} submissions in {:.2} s ({:.0}/s)",
        lat.len(),
        total.as_secs_f64(),
        lat.len() as f64 / total.as_secs_f64()
    );
    println!(
        "submit latency: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (goal p99 < 2 ms)",
        ms(pct(&lat, 0.50)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    let ids: Vec<String> = jobs.iter().take(1000).map(|j| j.id.clone()).collect();
    bus.statuses(&ids).await.unwrap();
    let mut reads = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let st = bus.statuses(&ids).await.unwrap();
        reads.push(t.elapsed());
        assert_eq!(st.iter().filter(|s| s.is_some()).count(), 1000);
    }
    reads.sort();
    println!(
        "statuses of 1,000 jobs in one call: p50 {:.3} ms, p99 {:.3} ms (goal < 10 ms)",
        ms(pct(&reads, 0.5)),
        ms(pct(&reads, 0.99))
    );
    // Clean up the namespace.
    let mut c = bus.conn();
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{ns}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for chunk in keys.chunks(1000) {
        let _: () = redis::AsyncCommands::del(&mut c, chunk).await.unwrap();
    }
}
