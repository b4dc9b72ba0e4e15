//! The running backend for one set of settings: the database, the mode (embedded queue or
//! Redis bus) and the built-in worker. A settings change builds a new engine and stops the
//! old one cleanly. Commands ask the engine; it owns no UI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tickstock_core::bus::{Bus, CancelOutcome, JobEntry, HEARTBEAT_STALE_SECS};
use tickstock_core::exec::{Checkpoints, JobHistory};
use tickstock_core::history::{job_run, parse_time, StoreCheckpoints, StoreHistory};
use tickstock_core::job::Job;
use tickstock_core::loader::{resolve_for_publish, Loader, LoaderConfig};
use tickstock_core::local::LocalQueue;
use tickstock_core::polygon::{PolygonClient, PolygonConfig};
use tickstock_core::settings::BusConfig;
use tickstock_core::status::{JobState, JobStatus};
use tickstock_core::store::{JobRunFilter, Store, StoreOptions};
use tickstock_core::worker::{host_name, new_worker_id, Worker, WorkerConfig};
use tickstock_core::{Error, ErrorKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::error::{CmdResult, CommandError};
use crate::settings::AppSettings;
use crate::views::{HealthView, HeartbeatView, JobView, QueueView, RedisView};

/// A running job with no progress for this long, and no live worker, is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

// One per engine, built once and never moved around: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Mode {
    Embedded {
        queue: Option<LocalQueue>,
    },
    Redis {
        cfg: Box<BusConfig>,
        bus: tokio::sync::Mutex<Option<Bus>>,
        worker_id: Option<String>,
    },
}

/// The backend for one set of settings.
pub struct Engine {
    pub settings: AppSettings,
    store: Result<Store, Error>,
    has_key: bool,
    mode: Mode,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Last state, progress and bars seen of each job shown as active, and when it last
    /// changed: to announce finishes, keep the history current and find stale jobs.
    seen: Mutex<HashMap<String, Seen>>,
    /// The job messages of the jobs shown as active (looked up once each).
    params: Mutex<HashMap<String, Value>>,
    /// Jobs that finished moments ago: their cards show the final state for a while.
    recently_finished: Mutex<Vec<(std::time::Instant, JobView)>>,
}

/// How long a finished job's card stays up with its final state.
pub const FINISHED_CARD_SECS: u64 = 10;

#[derive(Clone, Copy, PartialEq)]
struct Seen {
    state: JobState,
    progress: u8,
    bars: u64,
}

fn no_key() -> CommandError {
    CommandError::new(
        ErrorKind::Config,
        "No Polygon API key yet: add it in Settings to load data",
    )
}

fn db_unavailable(e: &Error) -> CommandError {
    CommandError::new(ErrorKind::Database, e.message())
}

impl Engine {
    /// Builds and starts the backend: opens the database and starts the built-in worker (in
    /// embedded mode always; in Redis mode when enabled).
    pub async fn start(
        settings: AppSettings,
        default_db: String,
        api_key: Option<SecretString>,
    ) -> Engine {
        let db_url = if settings.database_url.trim().is_empty() {
            default_db
        } else {
            settings.database_url.trim().to_string()
        };
        let options = StoreOptions {
            environment: settings.environment.clone(),
            ..StoreOptions::default()
        };
        let store = Store::connect_with(&db_url, &options)
            .await
            .map_err(Error::from);
        if let Err(e) = &store {
            warn!("database unavailable: {}", e.message());
        }
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let loader = match (&store, &api_key) {
            (Ok(store), Some(key)) => {
                let cfg = PolygonConfig::new(settings.polygon_base_url.clone(), key.clone())
                    .with_requests_per_minute(settings.requests_per_minute);
                match PolygonClient::new(cfg) {
                    Ok(p) => Some(Loader::new(
                        p,
                        store.clone(),
                        LoaderConfig {
                            // `csv_file` names are read from this folder only.
                            csv_dir: std::env::var_os("TICKSTOCK_CSV_DIR")
                                .filter(|d| !d.is_empty())
                                .map(std::path::PathBuf::from),
                            ..LoaderConfig::default()
                        },
                    )),
                    Err(e) => {
                        warn!("Polygon settings unusable: {e}");
                        None
                    }
                }
            }
            _ => None,
        };
        let history: Option<Arc<dyn JobHistory>> = store
            .as_ref()
            .ok()
            .map(|s| Arc::new(StoreHistory(s.clone())) as Arc<dyn JobHistory>);
        let concurrency = settings.worker_concurrency.clamp(1, 16) as usize;
        let mode = if settings.redis_url.trim().is_empty() {
            let checkpoints: Option<Arc<dyn Checkpoints>> = store
                .as_ref()
                .ok()
                .map(|s| Arc::new(StoreCheckpoints(s.clone())) as Arc<dyn Checkpoints>);
            let queue = loader.map(|l| {
                LocalQueue::start(
                    Arc::new(l),
                    history,
                    checkpoints,
                    concurrency,
                    shutdown.clone(),
                )
            });
            if let (Some(q), Ok(store)) = (&queue, &store) {
                resume_unfinished(q, store).await;
                // The built-in worker fires the schedules in embedded mode.
                spawn_scheduler(
                    &tracker,
                    store.clone(),
                    Arc::new(q.clone()),
                    shutdown.clone(),
                );
            }
            info!(worker = queue.is_some(), "embedded mode");
            Mode::Embedded { queue }
        } else {
            let cfg = BusConfig::new(settings.redis_url.trim())
                .with_namespace(settings.namespace.trim())
                .with_publish_legacy(settings.publish_legacy);
            let worker_id = match (settings.worker_enabled, loader) {
                (true, Some(loader)) => {
                    let id = new_worker_id(Some("app"));
                    spawn_builtin_worker(
                        &tracker,
                        cfg.clone(),
                        loader,
                        history,
                        WorkerConfig {
                            id: Some(id.clone()),
                            concurrency,
                            ..WorkerConfig::default()
                        },
                        shutdown.clone(),
                        store.as_ref().ok().cloned(),
                    );
                    Some(id)
                }
                _ => None,
            };
            info!(builtin_worker = worker_id.is_some(), "Redis mode");
            Mode::Redis {
                cfg: Box::new(cfg),
                bus: tokio::sync::Mutex::new(None),
                worker_id,
            }
        };
        tracker.close();
        Engine {
            settings,
            store,
            has_key: api_key.is_some(),
            mode,
            shutdown,
            tracker,
            seen: Mutex::new(HashMap::new()),
            params: Mutex::new(HashMap::new()),
            recently_finished: Mutex::new(Vec::new()),
        }
    }

    /// Stops the built-in worker: running jobs stop after their current chunk (in Redis
    /// mode they are released for another worker). Waits at most `grace`.
    pub async fn stop(&self, grace: Duration) {
        self.shutdown.cancel();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            warn!("the built-in worker did not stop within {grace:?}");
        }
        if let Mode::Embedded { queue: Some(q) } = &self.mode {
            let _ = tokio::time::timeout(grace, q.stopped()).await;
        }
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Embedded { .. } => "embedded",
            Mode::Redis { .. } => "redis",
        }
    }

    pub fn store(&self) -> CmdResult<&Store> {
        self.store.as_ref().map_err(db_unavailable)
    }

    /// The bus, connecting if not yet connected (Redis may have been down before).
    async fn bus(&self) -> CmdResult<Option<Bus>> {
        let Mode::Redis { cfg, bus, .. } = &self.mode else {
            return Ok(None);
        };
        let mut slot = bus.lock().await;
        if slot.is_none() {
            let mut quick = (**cfg).clone();
            quick.connect_timeout = Duration::from_millis(1500);
            quick.response_timeout = Duration::from_millis(1500);
            *slot = Some(Bus::connect(quick).await?);
        }
        Ok(slot.clone())
    }

    /// Status bar data. Never fails: what cannot be reached is reported.
    pub async fn health(&self) -> HealthView {
        match &self.mode {
            Mode::Embedded { queue } => HealthView {
                mode: "embedded",
                redis: RedisView {
                    configured: false,
                    connected: false,
                    rtt_ms: None,
                    error: None,
                },
                workers: queue
                    .iter()
                    .map(|_| crate::views::WorkerView {
                        id: "built-in".into(),
                        host: Some(host_name()),
                        started_at: None,
                        last_seen: tickstock_core::bus::unix_now(),
                        age_seconds: 0.0,
                        current_job: None,
                        alive: !self.shutdown.is_cancelled(),
                        cannot_consume: None,
                        builtin: true,
                    })
                    .collect(),
                legacy_heartbeat: HeartbeatView {
                    alive: false,
                    age_seconds: None,
                    key: None,
                },
                queue: queue.as_ref().map(|q| QueueView {
                    waiting: q.waiting() as u64,
                    in_flight: q.active().len().saturating_sub(q.waiting()) as u64,
                    dead: 0,
                }),
            },
            Mode::Redis { worker_id, .. } => match self.bus().await {
                Ok(Some(bus)) => {
                    let h = bus
                        .health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
                        .await;
                    HealthView::from_health(&h, worker_id.as_deref())
                }
                failed => {
                    let err = match failed {
                        Err(e) => e.message,
                        Ok(_) => "not connected".into(),
                    };
                    HealthView {
                        mode: "redis",
                        redis: RedisView {
                            configured: true,
                            connected: false,
                            rtt_ms: None,
                            error: Some(err),
                        },
                        workers: Vec::new(),
                        legacy_heartbeat: HeartbeatView {
                            alive: false,
                            age_seconds: None,
                            key: None,
                        },
                        queue: None,
                    }
                }
            },
        }
    }

    /// Universe keys the database offers, as listed and in canonical form.
    pub async fn known_universes(&self) -> CmdResult<std::collections::HashSet<String>> {
        Ok(Loader::known_universes_of(self.store()?).await?)
    }

    /// Submits a validated job: to the in-process queue or to the bus, recorded in history.
    /// Submits a job; in Redis mode, returns a warning when no live worker will take it.
    pub async fn submit(&self, job: Job) -> CmdResult<Option<String>> {
        match &self.mode {
            Mode::Embedded { queue } => {
                let q = queue.as_ref().ok_or_else(|| {
                    if self.has_key {
                        CommandError::new(
                            ErrorKind::Database,
                            "the database is unavailable; see Settings",
                        )
                    } else {
                        no_key()
                    }
                })?;
                q.submit(job).await?;
            }
            Mode::Redis { .. } => {
                let bus = self.bus().await?.expect("redis mode");
                // TickStockPL workers load only the message's `symbols`.
                let job = resolve_for_publish(job, self.store().ok()).await?;
                bus.submit(&job).await?;
                if let Ok(store) = self.store() {
                    let st = Bus::initial_status(&job);
                    if let Err(e) = store.upsert_job_run(&job_run(&job, &st)).await {
                        warn!("could not record job {}: {e}", job.id);
                    }
                }
                return Ok(bus.no_worker_warning().await);
            }
        }
        Ok(None)
    }

    /// Active jobs (one call for all), recording changes in history and reporting the jobs
    /// that finished since the last call.
    pub async fn active_jobs(&self) -> CmdResult<(Vec<JobView>, Vec<JobView>)> {
        let entries: Vec<JobEntry> = match &self.mode {
            Mode::Embedded { queue } => queue.as_ref().map(|q| q.active()).unwrap_or_default(),
            Mode::Redis { .. } => {
                let bus = self.bus().await?.expect("redis mode");
                bus.active_jobs(1000).await?
            }
        };
        let active_ids: Vec<String> = entries.iter().map(|e| e.job_id.clone()).collect();
        let gone: Vec<String> = {
            let seen = self.seen.lock().expect("seen lock");
            seen.keys()
                .filter(|id| !active_ids.contains(id))
                .cloned()
                .collect()
        };
        let gone_statuses: Vec<Option<JobStatus>> = match &self.mode {
            Mode::Embedded { queue } => gone
                .iter()
                .map(|id| queue.as_ref().and_then(|q| q.status(id)))
                .collect(),
            Mode::Redis { .. } => {
                let bus = self.bus().await?.expect("redis mode");
                bus.statuses(&gone).await?
            }
        };
        let mut views = Vec::with_capacity(entries.len());
        let mut changed: Vec<(String, JobStatus)> = Vec::new();
        {
            let mut seen = self.seen.lock().expect("seen lock");
            for e in &entries {
                let Some(st) = &e.status else { continue };
                let now = Seen {
                    state: st.state,
                    progress: st.progress,
                    bars: st.ohlcv_records_loaded.unwrap_or(0),
                };
                if seen.insert(e.job_id.clone(), now) != Some(now) {
                    changed.push((e.job_id.clone(), st.clone()));
                }
            }
            for id in &gone {
                seen.remove(id);
            }
        }
        for e in &entries {
            if let Some(st) = &e.status {
                views.push(JobView::from_status(
                    &e.job_id,
                    st,
                    self.active_params(&e.job_id).await,
                ));
            }
        }
        let mut finished = Vec::new();
        for (id, st) in gone.iter().zip(gone_statuses) {
            if let Some(st) = st {
                changed.push((id.clone(), st.clone()));
                finished.push(JobView::from_status(id, &st, self.active_params(id).await));
            }
        }
        {
            let mut params = self.params.lock().expect("params lock");
            for id in &gone {
                params.remove(id);
            }
        }
        // In Redis mode, workers elsewhere may write history to another database: keep ours.
        if matches!(self.mode, Mode::Redis { .. }) {
            for (id, st) in changed {
                self.record_in_history(&id, &st).await;
            }
        }
        // Finished moments ago: shown with their final state for a few seconds more.
        {
            let mut recent = self.recently_finished.lock().expect("recent lock");
            let now = std::time::Instant::now();
            recent.retain(|(t, _)| now.duration_since(*t).as_secs() < FINISHED_CARD_SECS);
            for f in &finished {
                recent.push((now, f.clone()));
            }
            views.extend(recent.iter().map(|(_, v)| v.clone()));
        }
        Ok((views, finished))
    }

    /// Brings a job's history row up to date with a status (when the job is in it).
    async fn record_in_history(&self, id: &str, st: &JobStatus) {
        let Ok(store) = self.store() else { return };
        if let Ok(Some(run)) = store.job_run(id).await {
            if let Ok(job) = Job::from_value(run.params) {
                if let Err(e) = store.upsert_job_run(&job_run(&job, st)).await {
                    warn!("could not update the history of {id}: {e}");
                }
            }
        }
    }

    /// [`Engine::params_of`] for the jobs polled every second: each looked up once while
    /// it stays active, not once a poll.
    async fn active_params(&self, id: &str) -> Value {
        if let Some(v) = self.params.lock().expect("params lock").get(id) {
            return v.clone();
        }
        let v = self.params_of(id).await;
        if !v.is_null() {
            self.params
                .lock()
                .expect("params lock")
                .insert(id.to_string(), v.clone());
        }
        v
    }

    async fn params_of(&self, id: &str) -> Value {
        if let Mode::Embedded { queue: Some(q) } = &self.mode {
            if let Some(j) = q.job(id) {
                return j.to_value();
            }
        }
        match self.store() {
            Ok(store) => store
                .job_run(id)
                .await
                .ok()
                .flatten()
                .map(|r| r.params)
                .unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// A job's live status when it is active here, else its history row.
    pub async fn job_detail(&self, id: &str) -> CmdResult<JobView> {
        let live = match &self.mode {
            Mode::Embedded { queue } => queue.as_ref().and_then(|q| q.status(id)),
            Mode::Redis { .. } => match self.bus().await {
                Ok(Some(bus)) => bus.status(id).await.ok().flatten(),
                _ => None,
            },
        };
        if let Some(st) = live {
            return Ok(JobView::from_status(id, &st, self.params_of(id).await));
        }
        let run = self.store()?.job_run(id).await?.ok_or_else(|| {
            CommandError::new(ErrorKind::NotFound, format!("no job `{id}` in the history"))
        })?;
        Ok(JobView::from_run(&run))
    }

    pub async fn cancel(&self, id: &str, who: &str) -> CmdResult<CancelOutcome> {
        let out = match &self.mode {
            Mode::Embedded { queue } => match queue {
                Some(q) => q.cancel(id).await?,
                None => {
                    return Err(CommandError::new(
                        ErrorKind::NotFound,
                        format!("no job `{id}` is running"),
                    ))
                }
            },
            Mode::Redis { .. } => {
                let bus = self.bus().await?.expect("redis mode");
                bus.cancel(id, who).await?
            }
        };
        Ok(out)
    }

    pub async fn cancel_all(&self, who: &str) -> CmdResult<usize> {
        Ok(match &self.mode {
            Mode::Embedded { queue } => match queue {
                Some(q) => q.cancel_all().await,
                None => 0,
            },
            Mode::Redis { .. } => {
                let bus = self.bus().await?.expect("redis mode");
                bus.cancel_all("cancelled from TickStock Admin", who)
                    .await?
            }
        })
    }

    /// Marks stale jobs failed: running with no progress for 10 minutes and no live worker
    /// (Redis mode), and history rows left running by an app that stopped (both modes).
    pub async fn cleanup_stale(&self) -> CmdResult<usize> {
        let mut marked = 0;
        let now = chrono::Utc::now();
        let old = |iso: Option<&str>| {
            iso.and_then(parse_time)
                .is_some_and(|t| (now - t).num_seconds() as u64 >= STALE_AFTER.as_secs())
        };
        let reason = "Marked failed by cleanup: no progress for 10 minutes and no live worker";
        let mut live_ids: Vec<String> = Vec::new();
        if let Mode::Redis { .. } = &self.mode {
            let bus = self.bus().await?.expect("redis mode");
            let health = bus
                .health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
                .await;
            for e in bus.active_jobs(1000).await? {
                let Some(st) = e.status else { continue };
                let holder_alive = match &st.worker_id {
                    Some(w) => health.workers.iter().any(|x| &x.id == w && x.alive),
                    None => health.any_worker_alive(),
                };
                let last = st
                    .extra
                    .get("timestamp")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .or_else(|| st.started_at.clone())
                    .or_else(|| st.submitted_at.clone());
                if !holder_alive && old(last.as_deref()) {
                    let mut fin = st.clone();
                    fin.state = JobState::Failed;
                    fin.message = Some(reason.into());
                    fin.error_message = Some(reason.into());
                    fin.completed_at = Some(tickstock_core::bus::iso_now());
                    bus.put_status(&e.job_id, &fin).await?;
                    self.record_in_history(&e.job_id, &fin).await;
                    marked += 1;
                } else {
                    live_ids.push(e.job_id);
                }
            }
        }
        if let Mode::Embedded { queue: Some(q) } = &self.mode {
            live_ids.extend(q.active().into_iter().map(|e| e.job_id));
        }
        // History rows that say active but are not active anywhere.
        let store = self.store()?;
        for status in ["running", "queued", "submitted", "cancelling"] {
            let page = store
                .list_job_runs(&JobRunFilter {
                    status: Some(status.into()),
                    page_size: 1000,
                    ..JobRunFilter::default()
                })
                .await?;
            for mut run in page.items {
                if live_ids.contains(&run.id) {
                    continue;
                }
                let started = run.started_at.or(run.submitted_at);
                let is_old = started
                    .is_some_and(|t| (now - t).num_seconds() as u64 >= STALE_AFTER.as_secs());
                let embedded_orphan = matches!(self.mode, Mode::Embedded { .. });
                if embedded_orphan || is_old {
                    run.status = "failed".into();
                    run.message = Some(reason.into());
                    run.error = Some(reason.into());
                    run.completed_at = Some(now);
                    store.upsert_job_run(&run).await?;
                    marked += 1;
                }
            }
        }
        Ok(marked)
    }

    /// Deletes finished jobs whose id starts with `prefix` (at least 4 characters) from the
    /// history (and from Redis in Redis mode); active jobs are left alone.
    pub async fn clear_jobs(&self, prefix: &str) -> CmdResult<u64> {
        let prefix = prefix.trim();
        if prefix.chars().count() < 4 {
            return Err(CommandError::field(
                "prefix",
                "enter at least 4 characters of the job id",
            ));
        }
        // Finished jobs only: an active job keeps its history and its Redis entries.
        let store = self.store()?;
        let page = store
            .list_job_runs(&JobRunFilter {
                id_prefix: Some(prefix.to_ascii_lowercase()),
                page_size: 1000,
                ..JobRunFilter::default()
            })
            .await?;
        let mut n = 0;
        for run in page.items {
            if JobState::parse(&run.status).is_some_and(|s| s.is_terminal()) {
                n += store.delete_job_runs_by_prefix(&run.id).await?;
            }
        }
        if let Mode::Redis { .. } = &self.mode {
            if let Ok(Some(bus)) = self.bus().await {
                n = n.max(bus.clear_finished(prefix).await? as u64);
            }
        }
        Ok(n)
    }
}

/// Jobs the app was running or holding when it last closed: queued again (they resume from
/// their checkpoints); ones being cancelled are recorded as cancelled.
async fn resume_unfinished(queue: &LocalQueue, store: &Store) {
    for status in ["queued", "running", "submitted", "cancelling"] {
        let Ok(page) = store
            .list_job_runs(&JobRunFilter {
                status: Some(status.into()),
                page_size: 1000,
                ..JobRunFilter::default()
            })
            .await
        else {
            continue;
        };
        for mut run in page.items {
            match Job::from_value(run.params.clone()) {
                Ok(job) if status != "cancelling" => {
                    info!(job_id = %job.id, "resuming a job interrupted when the app closed");
                    if let Err(e) = queue.submit(job).await {
                        warn!("could not resume {}: {}", run.id, e.message());
                    }
                }
                _ => {
                    run.status = if status == "cancelling" {
                        "cancelled"
                    } else {
                        "failed"
                    }
                    .into();
                    run.message = Some("Ended when the app closed".into());
                    run.completed_at = Some(chrono::Utc::now());
                    let _ = store.upsert_job_run(&run).await;
                }
            }
        }
    }
}

fn spawn_builtin_worker(
    tracker: &TaskTracker,
    cfg: BusConfig,
    loader: Loader,
    history: Option<Arc<dyn JobHistory>>,
    wcfg: WorkerConfig,
    shutdown: CancellationToken,
    scheduler_store: Option<Store>,
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
        if let Some(store) = scheduler_store {
            spawn_scheduler_now(store, Arc::new(bus.clone()), shutdown.clone());
        }
        let worker = Worker::with_history(bus, Arc::new(loader), wcfg, shutdown, history);
        if let Err(e) = worker.run().await {
            warn!("built-in worker stopped: {}", e.message());
        }
    });
}

/// How often the built-in worker looks for due schedules.
const SCHEDULER_EVERY: Duration = Duration::from_secs(15);

/// Runs the schedules' passes beside the built-in worker; a failed scheduled job raises a
/// desktop notification.
fn spawn_scheduler(
    tracker: &TaskTracker,
    store: Store,
    sink: Arc<dyn tickstock_core::schedule::JobSink>,
    shutdown: CancellationToken,
) {
    tracker.spawn(run_scheduler(store, sink, shutdown));
}

/// [`spawn_scheduler`] from inside a task the tracker already holds.
fn spawn_scheduler_now(
    store: Store,
    sink: Arc<dyn tickstock_core::schedule::JobSink>,
    shutdown: CancellationToken,
) {
    tokio::spawn(run_scheduler(store, sink, shutdown));
}

async fn run_scheduler(
    store: Store,
    sink: Arc<dyn tickstock_core::schedule::JobSink>,
    shutdown: CancellationToken,
) {
    let webhook = std::env::var("TICKSTOCK_ALERT_WEBHOOK").ok();
    let scheduler = tickstock_core::schedule::Scheduler::new(store, sink, "app", webhook);
    scheduler
        .run(SCHEDULER_EVERY, shutdown, |f| {
            crate::state::desktop_notification(
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
