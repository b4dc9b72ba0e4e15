//! Redis at its memory limit (`maxmemory` with `noeviction`) refuses every write but still
//! answers reads: `health` says it is up and full, and the read commands answer. They used
//! to fail with OOM (connecting tried to create the job stream's group, a write), and
//! `health` said Redis was down.

use std::process::{Command, Output};

use tickstock_queue::bus::Bus;
use tickstock_testkit::redis_server::RedisServer;

use crate::support::{self, bin, job};

fn run(url: &str, db: &str, args: &[&str]) -> Output {
    Command::new(bin("tickstock"))
        .args(args)
        .env("REDIS_URL", url)
        .env("TICKSTOCK_NAMESPACE", "full")
        .env("DATABASE_URL", db)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tickstock")
}

/// Sets a memory limit just above what Redis uses and writes until it refuses.
async fn fill(bus: &Bus) {
    let mut c = bus.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async(&mut c)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut c)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + 512 * 1024)
        .query_async(&mut c)
        .await
        .unwrap();
    let filler = "x".repeat(16 * 1024);
    for i in 0.. {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("filler:{i}"))
            .arg(&filler)
            .query_async(&mut c)
            .await;
        match r {
            Ok(()) => assert!(i < 10_000, "Redis never filled"),
            Err(e) => {
                assert_eq!(e.code(), Some("OOM"), "{e}");
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_is_up_and_full_and_read_commands_answer() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/ts.db", dir.path().display());
    let bus = support::bus_at(&url, "full").await;
    let j = job(&["AAPL"]);
    bus.submit(&j).await.unwrap();
    fill(&bus).await;

    // In process: connecting works, health says up and full, a write is refused.
    let bus = support::bus_at(&url, "full").await;
    let h = bus.health(std::time::Duration::from_secs(60)).await;
    assert!(h.redis.connected, "{h:?}");
    let full = h.redis.full.clone().expect("full");
    assert!(
        full.contains("Redis is full") && full.contains("refuses writes"),
        "{full}"
    );
    assert!(h.queue.is_some(), "the queue is read: {h:?}");
    let refused = bus.submit(&job(&["MSFT"])).await.unwrap_err();
    assert!(refused.message().contains("OOM"), "{}", refused.message());

    // The commands an operator reads with.
    let o = run(&url, &db, &["health"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("redis    connected"), "{text}");
    assert!(text.contains("FULL, writes refused"), "{text}");
    let o = run(&url, &db, &["health", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["redis"]["connected"], true, "{v}");
    assert!(v["redis"]["full"].as_str().is_some(), "{v}");
    for args in [
        vec!["status", j.id.as_str()],
        vec!["queue"],
        vec!["jobs"],
        vec!["workers"],
    ] {
        let o = run(&url, &db, &args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{args:?}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        if args[0] != "workers" {
            assert!(out.contains(&j.id), "{args:?} names the job: {out}");
        }
    }
}
