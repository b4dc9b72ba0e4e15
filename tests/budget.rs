//! One Polygon request budget per API key, shared through Redis by every process: the
//! Lua sliding window across several "processes" (each its own connection), fairness,
//! the 429 cool-down, the plan's value, secrecy of the key, the fall-back when Redis goes
//! away, and three `tickstock worker` processes on one key against the fake Polygon.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use secrecy::SecretString;
use tickstock_data::polygon::{key_digest, PolygonClient, PolygonConfig, SharedBudget};
use tickstock_queue::bus::Bus;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, Fault};
use tickstock_testkit::redis_server::{shared_redis_url, unique_namespace, RedisServer};

use crate::support::{self, bus_at};

/// The plan of these tests: 5 requests per 2 s window (counted over 2 s + its margin).
const PER_WINDOW: u32 = 5;
const WINDOW: Duration = Duration::from_secs(2);

const KEY: &str = "sekrit-polygon-key-4711";

fn key(fake: &FakePolygon) -> SecretString {
    SecretString::from(fake.api_key().to_string())
}

/// `n` "processes" on one key: each its own connection to Redis and its own budget.
async fn contenders(n: usize) -> (Vec<Bus>, Vec<Arc<SharedBudget>>) {
    let ns = unique_namespace();
    let mut buses = Vec::new();
    let mut budgets = Vec::new();
    for _ in 0..n {
        let bus = bus_at(&shared_redis_url(), &ns).await;
        budgets.push(Arc::new(SharedBudget::new(
            bus.conn(),
            bus.keys(),
            &SecretString::from(KEY),
            PER_WINDOW,
            WINDOW,
        )));
        buses.push(bus);
    }
    (buses, budgets)
}

/// Each budget asks for requests back to back for `run`; the grant times (Redis `TIME`,
/// µs) of each.
async fn hammer(budgets: &[Arc<SharedBudget>], run: Duration) -> Vec<Vec<i64>> {
    let deadline = Instant::now() + run;
    let tasks: Vec<_> = budgets
        .iter()
        .map(|b| {
            let b = b.clone();
            tokio::spawn(async move {
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    let g = b.acquire().await.expect("Redis answers");
                    assert!(g.granted);
                    if Instant::now() < deadline {
                        times.push(g.at_us);
                    }
                }
                times
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_one_key_never_exceed_the_plan_in_any_window() {
    let (_buses, budgets) = contenders(3).await;
    let per = hammer(&budgets, Duration::from_millis(6_500)).await;
    let mut all: Vec<i64> = per.iter().flatten().copied().collect();
    all.sort();
    let n = PER_WINDOW as usize;
    for w in all.windows(n + 1) {
        assert!(
            w[n] - w[0] >= WINDOW.as_micros() as i64,
            "{} requests within {WINDOW:?}: {w:?}",
            n + 1
        );
    }
    // Nor does anyone wait longer than the window asks: 5 at once, then 5 per 2.07 s.
    assert!(all.len() >= 3 * n, "only {} grants in 6.5 s", all.len());
    assert!(all.len() <= 4 * n, "{} grants in 6.5 s", all.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_process_starves_while_three_wait_for_one_key() {
    let (_buses, budgets) = contenders(3).await;
    let per = hammer(&budgets, Duration::from_millis(8_500)).await;
    let counts: Vec<usize> = per.iter().map(Vec::len).collect();
    let total: usize = counts.iter().sum();
    assert!(total >= 20, "{counts:?}");
    // The oldest waiter goes first: the three take turns, whoever asks fastest.
    for c in &counts {
        assert!(c * 5 >= total, "an unfair share: {counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cool_down_recorded_by_one_process_holds_back_the_others() {
    let (_buses, budgets) = contenders(3).await;
    let started = Instant::now();
    budgets[0]
        .cool_down(Duration::from_millis(1_200))
        .await
        .unwrap();
    // Nothing is spent, yet the others wait.
    let g = budgets[1].try_acquire().await.unwrap();
    assert!(!g.granted, "{g:?}");
    assert!(g.wait > Duration::from_millis(900), "{g:?}");
    let g = budgets[2].acquire().await.unwrap();
    assert!(g.granted);
    assert!(
        started.elapsed() >= Duration::from_millis(1_150),
        "granted after {:?}",
        started.elapsed()
    );
    // A shorter cool-down never cuts a longer one.
    budgets[0]
        .cool_down(Duration::from_millis(1_000))
        .await
        .unwrap();
    let left = budgets[1]
        .cool_down(Duration::from_millis(10))
        .await
        .unwrap();
    assert!(left > Duration::from_millis(800), "{left:?}");
}

/// A 429 one client gets (someone outside our processes spends the key) holds back the
/// other processes on the key for as long as it waits itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_answered_to_one_client_slows_every_process_on_the_key() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let ns = unique_namespace();
    let cfg = PolygonConfig::new(fake.base_url(), key(&fake))
        .with_requests_per_minute(100)
        .with_max_backoff(Duration::from_secs(5));
    let (a, b) = (
        PolygonClient::new(cfg.clone()).unwrap(),
        PolygonClient::new(cfg).unwrap(),
    );
    let (bus_a, bus_b) = (
        bus_at(&shared_redis_url(), &ns).await,
        bus_at(&shared_redis_url(), &ns).await,
    );
    bus_a
        .share_polygon_budget(&a, false, "test a")
        .await
        .unwrap();
    bus_b
        .share_polygon_budget(&b, false, "test b")
        .await
        .unwrap();
    fake.inject(
        "AAPL",
        [Fault::TooManyRequests {
            retry_after: Some(1),
        }],
    );
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.ticker_details("AAPL").await }
    });
    let cooldown = bus_a.keys().polygon_cooldown(&key_digest(&key(&fake)));
    let mut c = bus_a.conn();
    let left = support::wait_for(Duration::from_secs(5), "the cool-down", || {
        let mut c = c.clone();
        let key = cooldown.clone();
        async move {
            let ms: i64 = c.pttl(&key).await.ok()?;
            (ms > 0).then_some(Duration::from_millis(ms as u64))
        }
    })
    .await;
    let asked = Instant::now();
    b.ticker_details("MSFT").await.unwrap();
    assert!(
        asked.elapsed() + Duration::from_millis(50) >= left,
        "B went after {:?} of a {left:?} cool-down",
        asked.elapsed()
    );
    first.await.unwrap().unwrap();
    let _: () = c.del(&cooldown).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_never_stored_in_redis() {
    let (buses, budgets) = contenders(2).await;
    let one = Arc::new(SharedBudget::new(
        buses[0].conn(),
        buses[0].keys(),
        &SecretString::from(KEY),
        1,
        WINDOW,
    ));
    one.adopt_plan(1, true, "test").await.unwrap();
    one.acquire().await.unwrap();
    budgets[0]
        .cool_down(Duration::from_millis(500))
        .await
        .unwrap();
    // A second contender waits (its ticket is in Redis) while the keys are read.
    let waiter = tokio::spawn({
        let b = budgets[1].clone();
        async move { b.acquire().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = buses[0].conn();
    let pattern = format!("{}:*", buses[0].keys().namespace());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut c)
        .await
        .unwrap();
    let digest = key_digest(&SecretString::from(KEY));
    for suffix in ["budget", "plan", "waiters", "cooldown"] {
        assert!(
            keys.iter()
                .any(|k| k.contains(&format!("tickstock:polygon:{suffix}:{digest}"))),
            "no {suffix} key in {keys:?}"
        );
    }
    let mut text = keys.join("\n");
    for k in &keys {
        let kind: String = redis::cmd("TYPE").arg(k).query_async(&mut c).await.unwrap();
        let v: Vec<String> = match kind.as_str() {
            "string" => vec![c.get(k).await.unwrap()],
            "hash" => c.hgetall::<_, Vec<String>>(k).await.unwrap(),
            "zset" => c.zrange_withscores(k, 0, -1).await.unwrap(),
            "set" => c.smembers(k).await.unwrap(),
            "list" => c.lrange(k, 0, -1).await.unwrap(),
            _ => Vec::new(),
        };
        text.push_str(&v.join("\n"));
    }
    assert!(!text.contains(KEY), "the key is in Redis");
    assert!(!text.contains(&KEY[..12]), "part of the key is in Redis");
    waiter.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_explicit_plan_wins_for_every_process() {
    let (_buses, budgets) = contenders(3).await;
    // The first to start stores its value; the next adopts it, however it was set.
    let v = budgets[0].adopt_plan(5, false, "first").await.unwrap();
    assert!(v.written);
    assert_eq!(v.rpm, 5);
    let v = budgets[1].adopt_plan(50, false, "second").await.unwrap();
    assert!(!v.written);
    assert_eq!((v.rpm, v.set_by.as_str()), (5, "first"));
    assert_eq!(budgets[1].limit(), 5);
    // An explicit setting replaces it, for everyone from their next request.
    let v = budgets[2].adopt_plan(7, true, "operator").await.unwrap();
    assert_eq!((v.rpm, v.written, v.previous), (7, true, Some(5)));
    let g = budgets[0].try_acquire().await.unwrap();
    assert_eq!(g.limit, 7);
    assert_eq!(budgets[0].limit(), 7);
}

/// A client's live plan change (the app's Settings) is an explicit setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_plan_change_is_shared() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let ns = unique_namespace();
    let cfg = PolygonConfig::new(fake.base_url(), key(&fake)).with_requests_per_minute(50);
    let (a, b) = (
        PolygonClient::new(cfg.clone()).unwrap(),
        PolygonClient::new(cfg.with_requests_per_minute(90)).unwrap(),
    );
    let bus = bus_at(&shared_redis_url(), &ns).await;
    bus.share_polygon_budget(&a, false, "a").await.unwrap();
    // B starts with another value but no explicit one: A's stands.
    let plan = bus.share_polygon_budget(&b, false, "b").await.unwrap();
    assert_eq!(plan.rpm, 50);
    assert_eq!(b.rate_limiter().describe(), "50/min");
    a.set_requests_per_minute(120);
    support::wait_for(Duration::from_secs(5), "the plan shared", || async {
        b.ticker_details("AAPL").await.unwrap();
        (b.rate_limiter().limit() == 120).then_some(())
    })
    .await;
}

/// What the dashboard reads: the key's requests in the last minute by every process on
/// it, and the plan in force, which is the key's and not this process's own setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_spending_in_the_last_minute_counts_every_process() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let ns = unique_namespace();
    let cfg = PolygonConfig::new(fake.base_url(), key(&fake)).with_requests_per_minute(60);
    let (a, b) = (
        PolygonClient::new(cfg.clone()).unwrap(),
        PolygonClient::new(cfg.with_requests_per_minute(5)).unwrap(),
    );
    let bus = bus_at(&shared_redis_url(), &ns).await;
    bus.share_polygon_budget(&a, false, "a").await.unwrap();
    bus.share_polygon_budget(&b, false, "b").await.unwrap();
    for t in ["AAPL", "MSFT", "NVDA"] {
        a.ticker_details(t).await.unwrap();
    }
    b.ticker_details("KO").await.unwrap();
    assert_eq!(
        b.rate_limiter().limit(),
        60,
        "the key's plan, not B's own 5"
    );
    let spent = b
        .rate_limiter()
        .shared()
        .expect("shared")
        .spent_in_plan_window()
        .await
        .unwrap();
    assert_eq!(spent, 4, "A's three and B's one");
    assert_eq!(fake.request_count(), 4);
}

/// Redis going away mid-run never fails a request: the in-process limiter takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_on_when_the_budgets_redis_goes_away() {
    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    let mut server = RedisServer::start();
    let bus = bus_at(&server.url(), &unique_namespace()).await;
    let c = PolygonClient::new(
        PolygonConfig::new(fake.base_url(), key(&fake)).with_requests_per_minute(100),
    )
    .unwrap();
    bus.share_polygon_budget(&c, false, "test").await.unwrap();
    c.ticker_details("AAPL").await.unwrap();
    assert!(c.rate_limiter().is_shared());
    server.stop();
    let started = Instant::now();
    c.ticker_details("MSFT").await.unwrap();
    c.ticker_details("NVDA").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(c.requests_sent(), 3);
}

/// A Redis without persistence restarts empty while the window is full: the log of
/// grants is gone, but the processes put back what they spent, so the next request still
/// waits for the window (it used to be granted at once, and Polygon answered 429).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_spent_before_redis_restarts_empty_is_still_spent_after() {
    let mut server = RedisServer::start();
    let ns = unique_namespace();
    let mut buses = Vec::new();
    let mut budgets = Vec::new();
    for _ in 0..2 {
        let bus = bus_at(&server.url(), &ns).await;
        budgets.push(Arc::new(SharedBudget::new(
            bus.conn(),
            bus.keys(),
            &SecretString::from(KEY),
            4,
            Duration::from_secs(8),
        )));
        buses.push(bus);
    }
    // Two processes spend the window: 3 and 1 requests.
    for (b, n) in budgets.iter().zip([3, 1]) {
        for _ in 0..n {
            assert!(b.try_acquire().await.unwrap().granted);
        }
    }
    assert!(!budgets[0].try_acquire().await.unwrap().granted, "spent");
    server.restart_empty();
    // Each process's first look after the restart (once Redis answers) puts back its own
    // grants and is told to wait while the others do; then the window is full again.
    let g = support::wait_for(Duration::from_secs(10), "Redis back", || async {
        budgets[1].try_acquire().await.ok()
    })
    .await;
    assert!(
        !g.granted,
        "a grant on the look that found the log lost: {g:?}"
    );
    assert!(g.wait >= Duration::from_secs(1), "{g:?}");
    let g = support::wait_for(Duration::from_secs(10), "Redis back", || async {
        budgets[0].try_acquire().await.ok()
    })
    .await;
    assert!(
        !g.granted,
        "a grant on the look that found the log lost: {g:?}"
    );
    for b in &budgets {
        let g = b.try_acquire().await.unwrap();
        assert!(!g.granted, "a grant over the plan after the restart: {g:?}");
    }
    let mut c = buses[0].conn();
    let digest = key_digest(&SecretString::from(KEY));
    let logged: i64 = c
        .zcard(buses[0].keys().polygon_budget(&digest))
        .await
        .unwrap();
    assert_eq!(logged, 4, "the window's grants are counted whole again");
}

/// Three `tickstock worker` processes on one key, each with a job of its own, against a
/// fake Polygon that counts every request beyond the plan as Polygon would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_on_one_key_stay_within_the_plan() {
    use std::process::Stdio;
    use tickstock_protocol::job::{DateRange, Job, JobSpec};
    use tickstock_protocol::status::JobState;
    use tickstock_protocol::Timeframe;

    let fake = FakePolygon::start(FakePolygonConfig::default()).await;
    // Polygon's window as the fake measures arrivals, a little shorter than the plan's
    // for the way from the limiter to the server on a busy machine; three processes each
    // spending the whole plan would still go far beyond it.
    fake.set_rate_limit(
        PER_WINDOW as usize,
        WINDOW - Duration::from_millis(250),
        false,
    );
    let bus = support::bus().await;
    let dir = tempfile::tempdir().unwrap();
    let mut workers = Vec::new();
    for i in 0..3 {
        let child = tokio::process::Command::new(support::bin("tickstock"))
            .args(["worker", "--scheduler", "false", "--listen-legacy", "false"])
            .env("REDIS_URL", shared_redis_url())
            .env("TICKSTOCK_NAMESPACE", bus.keys().namespace())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/w{i}.sqlite", dir.path().display()),
            )
            .env("POLYGON_BASE_URL", fake.base_url())
            .env("POLYGON_API_KEY", fake.api_key())
            .env("POLYGON_RPM", PER_WINDOW.to_string())
            .env(
                "TICKSTOCK_POLYGON_WINDOW_MS",
                WINDOW.as_millis().to_string(),
            )
            .env("TICKSTOCK_SYMBOL_REFRESH_DAYS", "0")
            .env("TICKSTOCK_LOAD_CONCURRENCY", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start a worker");
        workers.push(child);
    }
    support::wait_for(Duration::from_secs(30), "three live workers", || async {
        let h = bus.health(Duration::from_secs(60)).await;
        (h.workers.iter().filter(|w| w.alive).count() == 3).then_some(())
    })
    .await;
    let symbols = [
        ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA"],
        ["JPM", "V", "MA", "KO", "PG", "HD"],
        ["XOM", "JNJ", "WMT", "CVX", "MRK", "PEP"],
    ];
    let mut ids = Vec::new();
    for s in symbols {
        let job = Job::new(
            JobSpec::Historical {
                symbols: s.iter().map(|x| x.to_string()).collect(),
                // Hour bars: one request per symbol (no grouped daily shortcut).
                timespan: Timeframe::Hour,
                range: DateRange {
                    start_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 4),
                    end_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 5),
                    ..Default::default()
                },
            },
            "test",
        );
        bus.submit(&job).await.unwrap();
        ids.push(job.id.clone());
    }
    let started = Instant::now();
    let mut runners = std::collections::HashSet::new();
    for id in &ids {
        let st = support::wait_status(&bus, id, Duration::from_secs(60), |s| s.state.is_terminal())
            .await;
        assert_eq!(st.state, JobState::Completed, "{st:?}");
        runners.insert(st.worker_id.clone());
        assert_eq!(fake.over_limit(), 0, "beyond the plan after {id}");
    }
    let took = started.elapsed();
    let sent = fake.request_count();
    assert!(sent >= 18, "{sent} requests");
    assert_eq!(fake.over_limit(), 0, "requests beyond the plan");
    // 18 requests at 5 per ~2 s: at least three windows, whoever sent them.
    assert!(
        took >= Duration::from_secs(6),
        "{sent} requests in {took:?}"
    );
    assert!(runners.len() >= 2, "the jobs ran on {runners:?}");
    for mut w in workers {
        let _ = w.kill().await;
    }
}
