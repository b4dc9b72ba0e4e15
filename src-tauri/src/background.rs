//! What runs beside the page: the built-in worker in Redis mode and the schedules' passes
//! (in both modes), and what the job watcher (`spawn_job_watcher` in `lib.rs`) sends the
//! page: every job change as a typed [`JobEvent`] in one `job-events` batch per
//! [`WATCH_EVERY`] (one model per job on the page, which coalesces the announcements: many
//! jobs finishing together give one summary, never a column of toasts). The watcher asks
//! the engine's job service what changed; the schedules submit through that same service,
//! so a scheduled job is recorded, checked for duplicates and announced like one from the
//! page.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::JobHistory;
use tickstock_jobs::runtime::Loader;
use tickstock_jobs::runtime::PolygonClient;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::runtime::{Worker, WorkerConfig};
use tickstock_jobs::service::JobService;
use tickstock_protocol::settings::BusConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::views::JobView;

/// One change of one job, as the page receives it (`job-event`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    pub job: JobView,
    /// The job left the active set with this final status.
    pub finished: bool,
}

/// How often the watcher looks for changes.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

pub fn spawn_builtin_worker(
    tracker: &TaskTracker,
    cfg: BusConfig,
    loader: Loader,
    history: Option<Arc<dyn JobHistory>>,
    wcfg: WorkerConfig,
    shutdown: CancellationToken,
    scheduler: Option<(Store, Arc<JobService>)>,
) {
    tracker.spawn(async move {
        // Redis may be down when the app starts: keep trying until it answers.
        let bus = loop {
            match Bus::connect(cfg.clone()).await {
                Ok(b) => break b,
                Err(e) => {
                    warn!("built-in worker waiting for Redis: {}", e.message());
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                }
            }
        };
        // Beside other workers on the same key, the built-in one spends the key's shared
        // budget. The app's stored value does not replace a shared one at start; a
        // change in Settings does (`Engine::apply_live`).
        share_budget(loader.polygon(), &bus).await;
        if let Some((store, service)) = scheduler {
            // Jobs whose end the history missed (a full disk refused it) take their final
            // status from Redis.
            if let Err(e) = service.settle_history().await {
                warn!("history not settled from the queue: {}", e.message());
            }
            spawn_scheduler_now(
                store,
                service,
                shutdown.clone(),
                Some(loader.polygon().clone()),
            );
        }
        let worker = Worker::with_history(bus, Arc::new(loader), wcfg, shutdown, history);
        if let Err(e) = worker.run().await {
            warn!("built-in worker stopped: {}", e.message());
        }
    });
}

/// Counts `polygon`'s requests against the key's budget in Redis, shared by every process
/// on the key (the app adopts a stored plan value; its own is written when none is).
/// Without Redis the client keeps counting its own requests.
async fn share_budget(polygon: &PolygonClient, bus: &Bus) {
    let who = format!(
        "TickStock Admin on {} (pid {})",
        tickstock_jobs::runtime::host_name(),
        std::process::id()
    );
    if let Err(e) = bus.share_polygon_budget(polygon, false, &who).await {
        warn!("the Polygon request budget cannot be shared through Redis ({e})");
    }
}

/// In Redis mode without the built-in worker: shares the key's budget as soon as Redis
/// answers, for what the app itself asks Polygon (splits checks, reloads).
pub fn spawn_budget_share(
    tracker: &TaskTracker,
    cfg: BusConfig,
    polygon: PolygonClient,
    shutdown: CancellationToken,
) {
    tracker.spawn(async move {
        let bus = loop {
            match Bus::connect(cfg.clone()).await {
                Ok(b) => break b,
                Err(_) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        };
        share_budget(&polygon, &bus).await;
    });
}

/// How often the built-in worker looks for due schedules.
const SCHEDULER_EVERY: Duration = Duration::from_secs(15);

/// Runs the schedules' passes beside the built-in worker; a failed scheduled job raises a
/// desktop notification.
pub fn spawn_scheduler(
    tracker: &TaskTracker,
    store: Store,
    service: Arc<JobService>,
    shutdown: CancellationToken,
    polygon: Option<PolygonClient>,
) {
    tracker.spawn(run_scheduler(store, service, shutdown, polygon));
}

/// [`spawn_scheduler`] from inside a task the tracker already holds.
fn spawn_scheduler_now(
    store: Store,
    service: Arc<JobService>,
    shutdown: CancellationToken,
    polygon: Option<PolygonClient>,
) {
    tokio::spawn(run_scheduler(store, service, shutdown, polygon));
}

/// `polygon` lets split-reload schedules check Polygon's splits.
async fn run_scheduler(
    store: Store,
    service: Arc<JobService>,
    shutdown: CancellationToken,
    polygon: Option<PolygonClient>,
) {
    let webhook = std::env::var("TICKSTOCK_ALERT_WEBHOOK").ok();
    let mut scheduler = tickstock_jobs::schedule::Scheduler::new(store, service, "app", webhook);
    if let Some(p) = polygon {
        scheduler = scheduler.with_polygon(p);
    }
    scheduler
        .run(SCHEDULER_EVERY, shutdown, |f| {
            crate::notify::desktop_notification(
                &format!("Scheduled load {} {}", f.name, f.state.replace('_', " ")),
                &if f.message.is_empty() {
                    format!("Job {}", f.job_id)
                } else {
                    f.message.clone()
                },
            )
        })
        .await
}
