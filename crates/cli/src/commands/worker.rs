//! `tickstock worker`: the headless worker on the Redis bus, with its schedules and metrics endpoint.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::JobHistory;
use tickstock_jobs::runtime::StoreHistory;
use tickstock_jobs::runtime::{Worker, WorkerConfig};
use tickstock_jobs::schedule::Scheduler;
use tickstock_jobs::service::JobService;
use tickstock_protocol::{Error, Result};
use tracing::info;

use crate::commands::schedule::SCHEDULER_EVERY;
use crate::data::{ctrl_c_token, DataArgs};
use crate::Global;

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Jobs run at once.
    #[arg(long, env = "TICKSTOCK_WORKER_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,
    /// Take over a job whose worker has been silent this long (seconds).
    #[arg(long, env = "TICKSTOCK_CLAIM_IDLE_SECS", default_value_t = 60)]
    pub claim_idle_secs: u64,
    /// Move a job delivered more often than this to the dead letters.
    #[arg(long, env = "TICKSTOCK_MAX_DELIVERIES", default_value_t = 5)]
    pub max_deliveries: u64,
    /// Also take jobs published on the legacy pub/sub channel.
    #[arg(long, env = "TICKSTOCK_LISTEN_LEGACY", default_value_t = true, action = clap::ArgAction::Set)]
    pub listen_legacy: bool,
    /// Worker id (default host-pid-random).
    #[arg(long, env = "TICKSTOCK_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Fire due schedules (each due time fires once however many workers run).
    #[arg(long, env = "TICKSTOCK_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub scheduler: bool,
    /// Slack-compatible webhook called when a scheduled job fails (`{"text": ...}`).
    #[arg(long, env = "TICKSTOCK_ALERT_WEBHOOK", hide_env_values = true)]
    pub alert_webhook: Option<String>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, env = "TICKSTOCK_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

/// Longest take-over delay accepted (one day).
const MAX_CLAIM_IDLE_SECS: u64 = 86_400;

pub async fn worker(g: &Global, a: &WorkerArgs) -> Result<ExitCode> {
    if a.concurrency == 0 || a.concurrency > 64 {
        return Err(Error::invalid("--concurrency must be between 1 and 64"));
    }
    if a.claim_idle_secs == 0 || a.claim_idle_secs > MAX_CLAIM_IDLE_SECS {
        return Err(Error::invalid(format!(
            "--claim-idle-secs must be between 1 and {MAX_CLAIM_IDLE_SECS}"
        )));
    }
    let loader = a.data.loader(g).await?;
    let history: Arc<dyn JobHistory> = Arc::new(StoreHistory(loader.store().clone()));
    let bus = Bus::connect(g.bus_config()?).await?;
    a.data
        .share_budget(loader.polygon(), &bus, "tickstock worker")
        .await;
    let metrics = match &a.metrics_addr {
        Some(addr) => Some(tickstock_jobs::runtime::metrics::bind(addr).await?),
        None => None,
    };
    let shutdown = ctrl_c_token();
    if let Some(listener) = metrics {
        if let Ok(addr) = listener.local_addr() {
            eprintln!("metrics at http://{addr}/metrics");
        }
        let sources = tickstock_jobs::runtime::metrics::Sources {
            polygon: Some(loader.polygon().clone()),
            bus: Some(bus.clone()),
        };
        tokio::spawn(tickstock_jobs::runtime::metrics::serve(
            listener,
            sources,
            shutdown.clone(),
        ));
    }
    let cfg = WorkerConfig {
        id: a.worker_id.clone(),
        concurrency: a.concurrency,
        claim_idle: Duration::from_secs(a.claim_idle_secs.max(1)),
        max_deliveries: a.max_deliveries.max(1),
        listen_legacy: a.listen_legacy,
        ..WorkerConfig::default()
    };
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader.clone()),
        cfg,
        shutdown.clone(),
        Some(history),
    );
    // Scheduled jobs are submitted through the job service, recorded in this worker's
    // database.
    let service = JobService::new(Arc::new(bus), Some(loader.store().clone()));
    // Jobs whose end the history missed (a full disk refused it) take their final status.
    match service.settle_history().await {
        Ok(0) => {}
        Ok(n) => info!(
            settled = n,
            "history rows settled from the queue's final statuses"
        ),
        Err(e) => tracing::warn!("history not settled from the queue: {e}"),
    }
    if a.scheduler {
        let scheduler = Scheduler::new(
            loader.store().clone(),
            Arc::new(service),
            w.id(),
            a.alert_webhook.clone(),
        )
        .with_polygon(loader.polygon().clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            scheduler
                .run(SCHEDULER_EVERY, stop, |f| {
                    tracing::warn!(
                        schedule = f.name,
                        job_id = f.job_id,
                        state = f.state,
                        "scheduled job did not complete: {}",
                        f.message
                    )
                })
                .await
        });
    }
    info!(
        worker = w.id(),
        database = %loader.store().describe(),
        "worker ready"
    );
    eprintln!(
        "worker {} ready: Redis {}, database {}",
        w.id(),
        w.bus().redacted_url(),
        loader.store().describe()
    );
    w.run().await?;
    Ok(ExitCode::SUCCESS)
}
