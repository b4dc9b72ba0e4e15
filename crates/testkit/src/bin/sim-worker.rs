//! `sim-worker`: a worker process running the simulated job runner, so tests can start,
//! stop and kill real worker processes.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tickstock_protocol::settings::BusConfig;
use tickstock_queue::bus::Bus;
use tickstock_queue::worker::{Worker, WorkerConfig};
use tickstock_testkit::sim::SimRunner;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[arg(long, default_value = "")]
    namespace: String,
    #[arg(long, default_value_t = 100)]
    ms_per_symbol: u64,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 60_000)]
    claim_idle_ms: u64,
    #[arg(long, default_value_t = 5)]
    max_deliveries: u64,
    #[arg(long)]
    worker_id: Option<String>,
    /// Records each job's start and end in this database's history, as a real worker
    /// does (PostgreSQL or SQLite).
    #[arg(long)]
    database_url: Option<String>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let bus = Bus::connect(BusConfig::new(args.redis_url).with_namespace(args.namespace.clone()))
        .await
        .expect("connect to Redis");
    let runner = SimRunner::new(Duration::from_millis(args.ms_per_symbol))
        .with_log(bus.conn(), &args.namespace);
    let shutdown = CancellationToken::new();
    let cfg = WorkerConfig {
        id: args.worker_id,
        concurrency: args.concurrency,
        claim_idle: Duration::from_millis(args.claim_idle_ms),
        max_deliveries: args.max_deliveries,
        heartbeat_every: Duration::from_millis(500),
        block: Duration::from_millis(500),
        ..WorkerConfig::default()
    };
    let history: Option<Arc<dyn tickstock_data::exec::JobHistory>> = match &args.database_url {
        Some(url) => Some(Arc::new(tickstock_data::history::StoreHistory(
            tickstock_data::store::Store::connect(url)
                .await
                .expect("connect to the history's database"),
        ))),
        None => None,
    };
    let worker = Worker::with_history(bus, Arc::new(runner), cfg, shutdown.clone(), history);
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    println!("worker {}", worker.id());
    worker.run().await.expect("worker");
}
