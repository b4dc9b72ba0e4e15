//! Scale-out benchmark: 1, 2 and 4 real `tickstock worker` processes (the release CLI)
//! against one Redis (a private `redis-server`, append-only file on), one PostgreSQL (a
//! fresh database on `TEST_PG_URL`'s server) and the fake Polygon (in this process).
//!
//! Each worker runs in a network namespace of its own (`unshare --net`, a veth pair to
//! this host) where the machine allows it; PostgreSQL and Redis listen on loopback only,
//! so a relay process (this binary started again with `SCALE_BENCH_ROLE=relay`) forwards
//! each worker's host-side veth address to them. Otherwise (not root, no `unshare` or
//! veth, or `SCALE_NET=loopback`) the workers run on loopback, each sent to its own
//! 127.0.1.N address of the fake so its requests can still be told apart. The mode used
//! is printed.
//!
//! - **unlimited plan**: bars/s of a 200-symbol minute load (2024-01..04, eight jobs of 25
//!   symbols) with 1, 2 and 4 workers, with the Polygon requests it took and the CPU time
//!   of each party, to say where it stops scaling;
//! - **a 5/min plan** for `SCALE_PLAN_SECS` (600) with 3 workers on one key and 3 queued
//!   universe seeds: requests per minute at the fake, the most in any 60 s window, 429s,
//!   the share of the plan used while the jobs wait and each worker's share. Asserts no
//!   window over the plan and no 429.
//!
//! `cargo build --release -p tickstock-cli -p tickstock-testkit --bins &&
//!  cargo bench -p tickstock-tests --bench scale` (`SCALE_SCENARIOS=unlimited` or `plan`
//! for one of them; `SCALE_PLAN_SECS=N`; `SCALE_NET=loopback`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use sqlx::{Connection, PgConnection};
use tickstock_data::store::Store;
use tickstock_jobs::service::JobService;
use tickstock_protocol::job::{DateRange, Job, JobSpec};
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::status::JobState;
use tickstock_protocol::Timeframe;
use tickstock_queue::bus::Bus;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig, RecordedRequest};
use tickstock_testkit::pg::{admin_url, fresh_database, TestDb};
use tickstock_testkit::redis_server::RedisServer;

const SYMBOLS: usize = 200;
const JOBS: usize = 8;
const FROM: &str = "2024-01-01";
const TO: &str = "2024-04-30";
const NAMESPACE: &str = "scale";
const PLAN_RPM: usize = 5;
const PLAN_WORKERS: usize = 3;
const PLAN_UNIVERSES: [&str; 3] = ["SP500", "NASDAQ100", "DOW30"];
const GOAL_PLAN_SHARE: f64 = 0.95;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn tickstock_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("bench exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("tickstock");
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p tickstock-cli -p tickstock-testkit --bins",
        path.display()
    );
    path
}

// ----- CPU time from /proc -----

/// CPU seconds (user + system) a process has used so far (clock ticks of 100/s).
fn cpu_secs(pid: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Pids whose command name is `comm`.
fn pids_named(comm: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// The machine's busy CPU seconds over all cores (everything but idle and iowait).
fn machine_busy_secs() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    (total - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0)) / 100.0
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU seconds of each party, read at the start and end of a measured run.
#[derive(Default, Clone)]
struct Cpu {
    workers: f64,
    postgres: f64,
    redis: f64,
    fake: f64,
    relay: f64,
    machine: f64,
}

struct CpuProbe {
    workers: Vec<String>,
    redis: Option<String>,
    relay: Option<String>,
}

impl CpuProbe {
    fn read(&self) -> Cpu {
        Cpu {
            workers: self.workers.iter().map(|p| cpu_secs(p)).sum(),
            // Every PostgreSQL process of the server: ours, its background writers, and
            // whatever other work shares the server.
            postgres: pids_named("postgres").iter().map(|p| cpu_secs(p)).sum(),
            redis: self.redis.as_deref().map_or(0.0, cpu_secs),
            fake: cpu_secs("self"),
            relay: self.relay.as_deref().map_or(0.0, cpu_secs),
            machine: machine_busy_secs(),
        }
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            workers: self.workers - o.workers,
            postgres: self.postgres - o.postgres,
            redis: self.redis - o.redis,
            fake: self.fake - o.fake,
            relay: self.relay - o.relay,
            machine: self.machine - o.machine,
        }
    }
}

/// The pid of the `redis-server` listening on `port`.
fn redis_pid(port: u16) -> Option<String> {
    pids_named("redis-server").into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/cmdline"))
            .is_ok_and(|c| c.contains(&format!(":{port}")) || c.contains(&port.to_string()))
    })
}

// ----- the relay process: host-side veth address -> loopback-only servers -----

fn serve_relay() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Each line on stdin: `TARGET BIND_IP`; answered with the bound address. Ends at EOF.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rt.block_on(async {
        while let Some(line) = rx.recv().await {
            let mut parts = line.split_whitespace();
            let (Some(target), Some(ip)) = (parts.next(), parts.next()) else {
                break;
            };
            let target: SocketAddr = target.parse().expect("target address");
            let ip: IpAddr = ip.parse().expect("bind address");
            let listener = tokio::net::TcpListener::bind((ip, 0))
                .await
                .expect("relay bind");
            println!("{}", listener.local_addr().expect("bound"));
            std::io::stdout().flush().expect("stdout");
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            });
        }
    });
}

struct Relay {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Relay {
    fn start() -> Relay {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env("SCALE_BENCH_ROLE", "relay")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the relay");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Relay {
            child,
            stdin,
            stdout,
        }
    }

    /// Listens on `ip` (a free port) and forwards to `target`; the address to dial.
    fn forward(&mut self, target: SocketAddr, ip: IpAddr) -> SocketAddr {
        writeln!(self.stdin, "{target} {ip}").expect("relay stdin");
        self.stdin.flush().expect("relay stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("relay answer");
        line.trim().parse().expect("relay address")
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- where workers run -----

#[derive(Clone, Copy, PartialEq)]
enum Net {
    /// A network namespace per worker, a veth pair to the host.
    Namespaces,
    /// Every worker on this host's loopback.
    Loopback,
}

impl Net {
    /// Namespaces when `unshare --net` and a veth pair can be made here.
    fn detect() -> (Net, String) {
        if std::env::var("SCALE_NET").as_deref() == Ok("loopback") {
            return (Net::Loopback, "SCALE_NET=loopback".into());
        }
        let quiet = |cmd: &mut Command| {
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !quiet(Command::new("unshare").args(["--net", "true"])) {
            return (
                Net::Loopback,
                "`unshare --net` is not allowed here (not root?)".into(),
            );
        }
        let probe = format!("tsp{}", std::process::id() % 100_000);
        if !quiet(Command::new("ip").args([
            "link",
            "add",
            &probe,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{probe}b"),
        ])) {
            return (Net::Loopback, "a veth pair cannot be made here".into());
        }
        quiet(Command::new("ip").args(["link", "del", &probe]));
        (
            Net::Namespaces,
            "unshare --net + a veth pair per worker".into(),
        )
    }
}

/// Each worker's /30 (10.231.K.0/30, K counting up over the whole run).
static NEXT_NET: AtomicUsize = AtomicUsize::new(1);

struct Services {
    redis: SocketAddr,
    pg: SocketAddr,
    fake_port: u16,
    db_name: String,
}

struct WorkerProc {
    child: Child,
    /// The address of ours the worker dials for Polygon: tells its requests apart.
    polygon_ip: IpAddr,
    host_if: Option<String>,
    log: PathBuf,
}

fn net_ns(pid: &str) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `tickstock worker` number `i`, in a namespace of its own or on loopback.
fn start_worker(
    net: Net,
    relay: Option<&mut Relay>,
    s: &Services,
    i: usize,
    rpm: usize,
    logs: &Path,
) -> WorkerProc {
    let log = logs.join(format!("worker-{i}.log"));
    let stderr = std::fs::File::create(&log).expect("worker log");
    let (mut cmd, polygon_ip, host_if) = match net {
        Net::Loopback => {
            let mut c = Command::new(tickstock_bin());
            c.stdin(Stdio::null());
            (c, IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + i as u8)), None)
        }
        Net::Namespaces => {
            let k = NEXT_NET.fetch_add(1, Ordering::SeqCst);
            let host_ip = IpAddr::V4(Ipv4Addr::new(10, 231, k as u8, 1));
            let tag = format!("ts{}k{k}", std::process::id() % 100_000);
            let (h, w) = (format!("{tag}h"), format!("{tag}w"));
            // The pair is made here; the worker's end moves into its namespace once that
            // exists, and the worker configures it before it starts.
            ip(&["link", "add", &h, "type", "veth", "peer", "name", &w]);
            ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &h]);
            ip(&["link", "set", &h, "up"]);
            let mut c = Command::new("unshare");
            c.args(["--net", "--", "/bin/sh", "-c"])
                .arg(
                    "read _ || exit 1; ip link set lo up && ip addr add \"$2\" dev \"$1\" \
                     && ip link set \"$1\" up || exit 1; shift 2; exec \"$@\"",
                )
                .args(["sh", &w, &format!("10.231.{k}.2/30")])
                .arg(tickstock_bin())
                .stdin(Stdio::piped());
            (c, host_ip, Some((h, w)))
        }
    };
    let (redis, pg) = match (&host_if, relay) {
        (Some(_), Some(r)) => (r.forward(s.redis, polygon_ip), r.forward(s.pg, polygon_ip)),
        _ => (s.redis, s.pg),
    };
    let mut db_url = url::Url::parse(&admin_url()).expect("TEST_PG_URL");
    db_url.set_ip_host(pg.ip()).expect("host");
    db_url.set_port(Some(pg.port())).expect("port");
    db_url.set_path(&format!("/{}", s.db_name));
    cmd.args(["worker", "--scheduler", "false", "--listen-legacy", "false"])
        .args(["--worker-id", &format!("scale-{i}")])
        .env("REDIS_URL", format!("redis://{redis}"))
        .env("TICKSTOCK_NAMESPACE", NAMESPACE)
        .env("DATABASE_URL", db_url.to_string())
        .env(
            "POLYGON_BASE_URL",
            format!("http://{}", SocketAddr::new(polygon_ip, s.fake_port)),
        )
        .env("POLYGON_API_KEY", "test-key")
        .env("POLYGON_RPM", rpm.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = cmd.spawn().expect("start a worker");
    if let Some((_, w)) = &host_if {
        let pid = child.id().to_string();
        let ours = net_ns("self");
        let deadline = Instant::now() + Duration::from_secs(10);
        while net_ns(&pid) == ours {
            assert!(Instant::now() < deadline, "unshare did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        ip(&["link", "set", w, "netns", &pid]);
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin).expect("go");
    }
    WorkerProc {
        child,
        polygon_ip,
        host_if: host_if.map(|(h, _)| h),
        log,
    }
}

struct Workers(Vec<WorkerProc>);

impl Workers {
    fn pids(&self) -> Vec<String> {
        self.0.iter().map(|w| w.child.id().to_string()).collect()
    }

    fn logs(&self) -> String {
        self.0
            .iter()
            .map(|w| {
                let text = std::fs::read_to_string(&w.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {}:\n{}",
                    w.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Which worker dialled `local` for a request; `None`: not one of ours.
    fn of(&self, local: Option<SocketAddr>) -> Option<usize> {
        let ip = local?.ip();
        self.0.iter().position(|w| w.polygon_ip == ip)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &self.0 {
            let _ = Command::new("kill")
                .args(["-INT", &w.child.id().to_string()])
                .status();
        }
        for w in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = w.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = w.child.kill();
            let _ = w.child.wait();
            if let Some(h) = &w.host_if {
                // Gone with the namespace already, as a rule.
                let _ = Command::new("ip")
                    .args(["link", "del", h])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

// ----- one run: servers, workers, jobs -----

struct Run {
    fake: FakePolygon,
    redis: RedisServer,
    db: TestDb,
    service: JobService,
    bus: Bus,
    workers: Workers,
    relay: Option<Relay>,
    _logs: tempfile::TempDir,
}

async fn start_run(net: Net, n: usize, rpm: usize, fake: &FakePolygon) -> Run {
    let redis = RedisServer::start();
    let db = fresh_database().await;
    // The schema, made once before the workers start.
    let store = Store::connect(&db.url).await.expect("the bench database");
    let bus = Bus::connect(BusConfig::new(redis.url()).with_namespace(NAMESPACE.to_string()))
        .await
        .expect("private Redis");
    let service = JobService::new(Arc::new(bus.clone()), Some(store));
    let pg_admin = url::Url::parse(&admin_url()).expect("TEST_PG_URL");
    let pg: SocketAddr = format!(
        "{}:{}",
        pg_admin.host_str().unwrap_or("127.0.0.1"),
        pg_admin.port().unwrap_or(5432)
    )
    .parse()
    .expect("TEST_PG_URL names an IP address");
    let services = Services {
        redis: SocketAddr::from(([127, 0, 0, 1], redis.port())),
        pg,
        fake_port: fake.addr().port(),
        db_name: db.name.clone(),
    };
    let mut relay = (net == Net::Namespaces).then(Relay::start);
    let logs = tempfile::tempdir().expect("log dir");
    let workers = Workers(
        (0..n)
            .map(|i| start_worker(net, relay.as_mut(), &services, i, rpm, logs.path()))
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = bus.health(Duration::from_secs(60)).await;
        if h.workers.iter().filter(|w| w.alive).count() == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} workers did not start:\n{}",
            workers.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Run {
        fake: fake.clone(),
        redis,
        db,
        service,
        bus,
        workers,
        relay,
        _logs: logs,
    }
}

impl Run {
    fn probe(&self) -> CpuProbe {
        CpuProbe {
            workers: self.workers.pids(),
            redis: redis_pid(self.redis.port()),
            relay: self.relay.as_ref().map(Relay::pid),
        }
    }

    async fn submit(&self, jobs: Vec<Job>) -> Vec<String> {
        let mut ids = Vec::new();
        for j in jobs {
            let s = self.service.submit(j).await.expect("submit");
            ids.push(s.job.id.clone());
        }
        ids
    }

    async fn states(&self, ids: &[String]) -> Vec<Option<JobState>> {
        self.bus
            .statuses(ids)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.map(|s| s.state))
            .collect()
    }

    async fn finish(self) {
        let _ = self.bus.cancel_all("benchmark over", "scale-bench").await;
        drop(self.workers);
        drop(self.relay);
        drop(self.service);
        drop(self.redis);
        self.db.drop_db().await;
        drop(self.fake);
    }
}

fn kind(r: &RecordedRequest) -> &'static str {
    let p = r.path.as_str();
    if p.starts_with("/v2/aggs/grouped/") {
        "grouped daily"
    } else if p.starts_with("/v2/aggs/") {
        "aggregates"
    } else if p.starts_with("/v3/reference/tickers/") {
        "ticker details"
    } else if p.starts_with("/v3/reference/tickers") {
        "reference list"
    } else {
        "other"
    }
}

fn by_kind(reqs: &[RecordedRequest]) -> String {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reqs {
        *m.entry(kind(r)).or_default() += 1;
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn shares(workers: &Workers, reqs: &[RecordedRequest]) -> Vec<usize> {
    let mut per = vec![0usize; workers.0.len() + 1];
    for r in reqs {
        match workers.of(r.local) {
            Some(i) => per[i] += 1,
            None => per[workers.0.len()] += 1,
        }
    }
    per
}

fn share_text(per: &[usize]) -> String {
    let total: usize = per.iter().sum::<usize>().max(1);
    let n = per.len() - 1;
    let mut parts: Vec<String> = per[..n]
        .iter()
        .enumerate()
        .map(|(i, c)| format!("scale-{i} {c} ({:.0} %)", 100.0 * *c as f64 / total as f64))
        .collect();
    if per[n] > 0 {
        parts.push(format!("not from a worker {}", per[n]));
    }
    parts.join(", ")
}

fn cpu_text(c: &Cpu, secs: f64) -> String {
    let ours = c.workers + c.redis + c.fake + c.relay;
    format!(
        "workers {:.1}, PostgreSQL {:.1} (every postgres process), Redis {:.1}, fake + bench {:.1}, relay {:.1}; machine busy {:.1} of {:.1} core-s ({:.0} %), of which not ours at least {:.1}",
        c.workers,
        c.postgres,
        c.redis,
        c.fake,
        c.relay,
        c.machine,
        secs * cores() as f64,
        100.0 * c.machine / (secs * cores() as f64),
        (c.machine - ours - c.postgres).max(0.0)
    )
}

// ----- the unlimited plan -----

fn minute_jobs(symbols: &[String]) -> Vec<Job> {
    symbols
        .chunks(symbols.len().div_ceil(JOBS))
        .map(|chunk| {
            Job::new(
                JobSpec::Historical {
                    symbols: chunk.to_vec(),
                    timespan: Timeframe::Minute,
                    range: DateRange {
                        years: None,
                        start_date: Some(date(FROM)),
                        end_date: Some(date(TO)),
                    },
                },
                "scale-bench",
            )
        })
        .collect()
}

async fn count_rows(url: &str) -> u64 {
    let mut c = PgConnection::connect(url).await.expect("connect");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ohlcv_1min")
        .fetch_one(&mut c)
        .await
        .expect("count");
    let _ = c.close().await;
    n as u64
}

async fn unlimited(net: Net, fake: &FakePolygon) {
    let symbols: Vec<String> = tickstock_protocol::universe::find_builtin("sp500")
        .expect("the S&P 500 universe")
        .members()
        .into_iter()
        .take(SYMBOLS)
        .collect();
    assert_eq!(symbols.len(), SYMBOLS);
    let expected: u64 = symbols
        .iter()
        .map(|s| {
            FakePolygon::expected_bars(s, Timeframe::Minute, date(FROM), date(TO)).len() as u64
        })
        .sum();
    println!(
        "\nunlimited plan: {SYMBOLS} symbols x 1min {FROM}..{TO} = {expected} bars in {JOBS} jobs"
    );
    let mut first: Option<f64> = None;
    for n in [1usize, 2, 4] {
        fake.clear_requests();
        let run = start_run(net, n, 0, fake).await;
        let probe = run.probe();
        let before = probe.read();
        let started = Instant::now();
        let ids = run.submit(minute_jobs(&symbols)).await;
        let deadline = Instant::now() + Duration::from_secs(1800);
        let states = loop {
            let states = run.states(&ids).await;
            if states.iter().all(|s| s.is_some_and(JobState::is_terminal)) {
                break states;
            }
            assert!(
                Instant::now() < deadline,
                "jobs not done in 30 min: {states:?}\n{}",
                run.workers.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let took = started.elapsed().as_secs_f64();
        let cpu = probe.read() - before;
        let reqs = fake.requests();
        assert!(
            states.iter().all(|s| *s == Some(JobState::Completed)),
            "{states:?}\n{}",
            run.workers.logs()
        );
        let rows = count_rows(&run.db.url).await;
        assert_eq!(rows, expected, "rows stored");
        let rate = expected as f64 / took;
        let base = *first.get_or_insert(rate);
        println!(
            "  {n} worker(s): {rate:>9.0} bars/s ({took:.1} s, {:.2}x one worker); Polygon requests {} ({}), {:.0} bars a request",
            rate / base,
            reqs.len(),
            by_kind(&reqs),
            expected as f64 / reqs.len().max(1) as f64
        );
        println!(
            "    requests by worker: {}",
            share_text(&shares(&run.workers, &reqs))
        );
        println!("    CPU s: {}", cpu_text(&cpu, took));
        run.finish().await;
    }
}

// ----- a 5/min plan -----

async fn plan(net: Net, fake: &FakePolygon) {
    let secs: u64 = std::env::var("SCALE_PLAN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    println!(
        "\n{PLAN_RPM}/min plan for {secs} s: {PLAN_WORKERS} workers on one key, universe seeds of {} (1 year of days) queued",
        PLAN_UNIVERSES.join(", ")
    );
    fake.clear_requests();
    // Polygon's measure: requests a key sent in any 60 s (inclusive), answered 429 beyond.
    fake.set_rate_limit(PLAN_RPM, Duration::from_secs(60), true);
    let run = start_run(net, PLAN_WORKERS, PLAN_RPM, fake).await;
    let probe = run.probe();
    let before = probe.read();
    let started = Instant::now();
    let jobs = PLAN_UNIVERSES
        .iter()
        .map(|u| {
            Job::new(
                JobSpec::UniverseSeed {
                    universe_type: u.to_string(),
                    refresh: false,
                    range: DateRange {
                        years: Some(1.0),
                        ..Default::default()
                    },
                },
                "scale-bench",
            )
        })
        .collect();
    let ids = run.submit(jobs).await;
    let end = started + Duration::from_secs(secs);
    let mut waited_until = end;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let states = run.states(&ids).await;
        if states.iter().all(|s| s.is_some_and(JobState::is_terminal)) {
            waited_until = Instant::now();
            break;
        }
    }
    let states = run.states(&ids).await;
    let cpu = probe.read() - before;
    let reqs: Vec<RecordedRequest> = fake
        .requests()
        .into_iter()
        .filter(|r| r.time <= waited_until)
        .collect();
    let over = fake.over_limit();
    let window = Duration::from_secs(60);
    let times: Vec<Instant> = reqs.iter().map(|r| r.time).collect();
    let most = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            times[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) <= window)
                .count()
        })
        .max()
        .unwrap_or(0);
    let t0 = times.first().copied().unwrap_or(started);
    let minutes = ((waited_until - t0).as_secs_f64() / 60.0).ceil() as usize;
    let per_minute: Vec<usize> = (0..minutes)
        .map(|m| {
            times
                .iter()
                .filter(|t| {
                    let s = t.duration_since(t0).as_secs_f64();
                    s >= m as f64 * 60.0 && s < (m + 1) as f64 * 60.0
                })
                .count()
        })
        .collect();
    // The plan's window in use, averaged over every window ending from a minute after the
    // first request to the end of the wait (sampled every 100 ms).
    let mut used = Vec::new();
    let mut t = t0 + window;
    while t <= waited_until {
        let n = times
            .iter()
            .filter(|u| **u <= t && t.duration_since(**u) < window)
            .count();
        used.push(n as f64 / PLAN_RPM as f64);
        t += Duration::from_millis(100);
    }
    let share = used.iter().sum::<f64>() / used.len().max(1) as f64;
    let span = (waited_until - t0).as_secs_f64();
    println!(
        "  network: {}; jobs at the end: {:?}",
        match net {
            Net::Namespaces => "a namespace per worker",
            Net::Loopback => "loopback",
        },
        states
            .iter()
            .map(|s| s.map_or("missing", |s| s.as_str()))
            .collect::<Vec<_>>()
    );
    println!(
        "  Polygon requests {} in {span:.0} s from the first ({}); per minute: {per_minute:?}",
        reqs.len(),
        by_kind(&reqs)
    );
    println!(
        "  most in any 60 s window: {most} (plan {PLAN_RPM}); 429s the fake sent: {over}; beyond the plan: {over}"
    );
    println!(
        "  plan used while the jobs wait: {:.1} % of its windows on average ({:.2} requests a minute; ceiling with the limiter's 62 s window: {:.1} %) (goal >= {:.0} %: {})",
        share * 100.0,
        reqs.len() as f64 / span * 60.0,
        6000.0 / 62.0,
        GOAL_PLAN_SHARE * 100.0,
        if share >= GOAL_PLAN_SHARE { "met" } else { "MISSED" }
    );
    println!(
        "  requests by worker: {}",
        share_text(&shares(&run.workers, &reqs))
    );
    println!(
        "  CPU s: {}",
        cpu_text(&cpu, started.elapsed().as_secs_f64())
    );
    let logs = run.workers.logs();
    run.finish().await;
    assert_eq!(over, 0, "requests beyond the plan (429s):\n{logs}");
    assert!(most <= PLAN_RPM, "{most} requests in one 60 s window");
}

async fn bench() {
    let (net, why) = Net::detect();
    // Every address: reached from the workers' namespaces, or at 127.0.1.N on loopback.
    let fake = FakePolygon::start(FakePolygonConfig {
        ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ..FakePolygonConfig::default()
    })
    .await;
    println!(
        "scale bench: tickstock worker processes ({}), {} cores; network: {} ({why}); Redis: a private redis-server{}; PostgreSQL: {}{}",
        tickstock_bin().display(),
        cores(),
        match net {
            Net::Namespaces => "a namespace per worker",
            Net::Loopback => "loopback",
        },
        if net == Net::Namespaces { " via the relay" } else { "" },
        tickstock_data::store::redact_url(&admin_url()),
        if net == Net::Namespaces { " via the relay" } else { "" },
    );
    let which = std::env::var("SCALE_SCENARIOS").unwrap_or_default();
    if which.is_empty() || which.contains("unlimited") {
        unlimited(net, &fake).await;
    }
    if which.is_empty() || which.contains("plan") {
        plan(net, &fake).await;
    }
}

fn main() {
    if std::env::var("SCALE_BENCH_ROLE").as_deref() == Ok("relay") {
        serve_relay();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}
