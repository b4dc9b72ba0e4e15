//! The worker runtime: a consumer in the Redis Stream's group that runs jobs one step at a
//! time ([`Worker::try_execute_next`]) and, in [`Worker::run`], around that step:
//! - claims a new job, or takes over one whose worker went silent (its entry idle longer
//!   than `claim_idle` and its job's lease lapsed: the owner's liveness decides, not the
//!   taker's setting), and moves a job delivered more than `max_deliveries` times to the
//!   dead-letter stream with status `failed`;
//! - leases the job itself before it runs (one job id on one worker at a time: a copy of
//!   an entry read while the job runs elsewhere is refused, see `bus::lease`);
//! - marks it `running`, hands the [`JobRunner`] a context with progress, cancellation and
//!   checkpoints, keeps the claim fresh while it works (a long job is never "idle"), polls
//!   the durable cancel flag and both status keys, and on the way out writes the final
//!   status and acknowledges the entry in one atomic step;
//! - writes every status to both `job:status:{id}` and `tickstock.jobs.status:{id}` (the
//!   key TickStock's page reads), and stops a job that someone else ended: a final state
//!   written on either key (TickStock's cancel, its stale-job cleanup) is treated like a
//!   cancel request, never overwritten, and a job that is already final when it is taken
//!   from the stream is skipped;
//! - refreshes the legacy heartbeat key and its own heartbeat entry;
//! - listens on the legacy channels: jobs published by old admin pages are added to the
//!   stream once, legacy cancel messages stop the jobs they name;
//! - stops on a cancellation token: a running job stops after its current chunk and is
//!   released (not acknowledged) so the next worker resumes it from its checkpoint.
//!
//! The parts: `step` takes an entry from the stream and decides what it is (dead letter,
//! rejected, already ended, or a job to run); `execute` runs a job through
//! [`crate::lifecycle::run_job`] while keeping its claim fresh and watching for a stop;
//! `heartbeat` and `legacy` are the worker's two background loops.

mod execute;
mod heartbeat;
mod legacy;
mod step;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::bus::{Bus, StreamEntry};
use tickstock_data::exec::{JobHistory, JobRunner};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, JobStatus, Stamp};

/// Spare-budget requests (ticker details) a worker makes between two reads of the stream.
pub const SPARE_REQUESTS_PER_PASS: usize = 3;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Worker id (consumer name); default `host-pid-random`.
    pub id: Option<String>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// A job held this long by a silent worker is taken over.
    pub claim_idle: Duration,
    /// Deliveries after which a job goes to the dead-letter stream.
    pub max_deliveries: u64,
    /// Heartbeat period.
    pub heartbeat_every: Duration,
    /// Longest wait for a new job in one step.
    pub block: Duration,
    /// Listen on the legacy pub/sub channels.
    pub listen_legacy: bool,
    /// How often a running job's cancel flag is checked.
    pub cancel_poll: Duration,
    /// Least time between two progress writes.
    pub progress_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: None,
            concurrency: 1,
            claim_idle: Duration::from_secs(60),
            max_deliveries: 5,
            heartbeat_every: Duration::from_secs(5),
            block: Duration::from_secs(2),
            listen_legacy: true,
            cancel_poll: Duration::from_millis(250),
            progress_every: Duration::from_millis(250),
        }
    }
}

/// Longest take-over delay a worker uses (one day).
pub const MAX_CLAIM_IDLE: Duration = Duration::from_secs(86_400);

/// Shortest job lease a worker takes: a lease refreshed every `claim_idle / 4` (at least
/// every 100 ms) never lapses while its worker is alive.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

impl WorkerConfig {
    /// How long a job this worker runs stays leased to it after its last refresh: its own
    /// `claim_idle` (at least [`MIN_LEASE`]). Other workers wait that long after this one
    /// goes silent, whatever their own idle setting, before they take its job over.
    pub fn lease_ttl(&self) -> Duration {
        self.claim_idle.max(MIN_LEASE)
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to do.
    Idle,
    /// A job ran to an end state.
    Executed { job_id: String, state: JobState },
    /// Cancelled before it started; acknowledged without running.
    Skipped { job_id: String },
    /// Interrupted by shutdown; left for another worker to resume.
    Released { job_id: String },
    /// Unreadable or invalid; marked failed (when it had an id) and acknowledged.
    Rejected {
        job_id: Option<String>,
        reason: String,
    },
    /// Delivered too many times; moved to the dead-letter stream.
    DeadLettered {
        job_id: Option<String>,
        deliveries: u64,
    },
}

type Entry = StreamEntry;

struct Inner {
    bus: Bus,
    runner: Arc<dyn JobRunner>,
    cfg: WorkerConfig,
    id: String,
    host: String,
    started_at: String,
    shutdown: CancellationToken,
    running: Mutex<HashMap<String, CancellationToken>>,
    history: Option<Arc<dyn JobHistory>>,
    step_conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Why the last attempt to take a job failed (cleared by the next that works):
    /// published in the heartbeat so health shows a worker that cannot consume.
    consume_error: Mutex<Option<String>>,
    /// The pause and this worker's command as it last read them: put back if Redis loses
    /// them (see `bus::orders`). Held across a read, so two slots never read the loss
    /// apart (the second would see the mark the first just set, and forget).
    orders: tokio::sync::Mutex<crate::bus::Orders>,
}

/// A worker. Cheap to clone; clones are the same worker.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A fresh worker id: `host-pid-random`, or `host-label-pid-random` with a label.
pub fn new_worker_id(label: Option<&str>) -> String {
    let short = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let label = label.map(|l| format!("{l}-")).unwrap_or_default();
    format!("{}-{label}{}-{short}", host_name(), std::process::id())
}
impl Worker {
    pub fn new(
        bus: Bus,
        runner: Arc<dyn JobRunner>,
        cfg: WorkerConfig,
        shutdown: CancellationToken,
    ) -> Worker {
        Self::with_history(bus, runner, cfg, shutdown, None)
    }

    /// A worker that also records each job's start and end in a durable history.
    pub fn with_history(
        bus: Bus,
        runner: Arc<dyn JobRunner>,
        cfg: WorkerConfig,
        shutdown: CancellationToken,
        history: Option<Arc<dyn JobHistory>>,
    ) -> Worker {
        let host = host_name();
        let id = cfg.id.clone().unwrap_or_else(|| new_worker_id(None));
        // Redis refuses idle times past its range; a huge setting used to make every
        // step fail, so no job ever ran.
        let mut cfg = cfg;
        cfg.claim_idle = cfg
            .claim_idle
            .clamp(Duration::from_millis(1), MAX_CLAIM_IDLE);
        Worker {
            inner: Arc::new(Inner {
                bus,
                runner,
                cfg,
                id,
                host,
                started_at: Stamp::now().utc(),
                shutdown,
                running: Mutex::new(HashMap::new()),
                history,
                step_conn: tokio::sync::Mutex::new(None),
                consume_error: Mutex::new(None),
                orders: tokio::sync::Mutex::new(crate::bus::Orders::default()),
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    pub(super) async fn record(&self, job: &Job, status: &JobStatus) {
        crate::lifecycle::record(&self.inner.history, job, status).await;
    }

    /// Ids of the jobs running now.
    pub fn current_jobs(&self) -> Vec<String> {
        self.inner
            .running
            .lock()
            .expect("running lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Runs until the shutdown token is cancelled: heartbeats, the legacy listener and
    /// `concurrency` job slots. Returns once every slot has finished or released its job.
    pub async fn run(&self) -> Result<()> {
        let me = &self.inner;
        me.bus.ensure_group().await?;
        self.heartbeat(false).await?;
        info!(worker = %me.id, concurrency = me.cfg.concurrency, "worker started");
        let tracker = TaskTracker::new();
        let hb = self.clone();
        tracker.spawn(async move { hb.heartbeat_loop().await });
        if me.cfg.listen_legacy {
            let l = self.clone();
            tracker.spawn(async move { l.legacy_listener().await });
        }
        for slot in 0..me.cfg.concurrency.max(1) {
            let w = self.clone();
            tracker.spawn(async move { w.slot_loop(slot).await });
        }
        tracker.close();
        tracker.wait().await;
        if let Err(e) = self.heartbeat(true).await {
            warn!("could not record the worker's stop: {e}");
        }
        info!(worker = %me.id, "worker stopped");
        Ok(())
    }

    async fn slot_loop(&self, slot: usize) {
        let me = &self.inner;
        let mut conn: Option<ConnectionManager> = None;
        let mut backoff = Duration::from_millis(250);
        while !me.shutdown.is_cancelled() {
            if conn.is_none() {
                match me.bus.blocking_connection(me.cfg.block).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        warn!(slot, "Redis unavailable, retrying: {e}");
                        self.set_consume_error(Some(e.message().to_string())).await;
                        self.pause(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connection");
            match self.step(c).await {
                Ok(outcome) => {
                    backoff = Duration::from_millis(250);
                    self.set_consume_error(None).await;
                    if outcome != Outcome::Idle {
                        debug!(slot, ?outcome, "step");
                    } else if slot == 0 {
                        self.spare_requests().await;
                    }
                }
                Err(e) => {
                    warn!(slot, "worker step failed, retrying: {e}");
                    self.set_consume_error(Some(e.message().to_string())).await;
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Background work from spare budget while no job waits: at most
    /// [`SPARE_REQUESTS_PER_PASS`] requests between two reads of the stream, each only
    /// when no job is waiting or running here (checked before every one) and the plan's rate limit lets it
    /// through without a wait, so a job that arrives is never held up by more than one.
    async fn spare_requests(&self) {
        let me = &self.inner;
        for _ in 0..SPARE_REQUESTS_PER_PASS {
            // A job running in another slot has the requests.
            if me.shutdown.is_cancelled() || !self.current_jobs().is_empty() {
                return;
            }
            match me.bus.queue_depth().await {
                Ok(d) if d.waiting == 0 => {}
                _ => return,
            }
            match me.runner.spare_request().await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    debug!("spare request not made: {e}");
                    return;
                }
            }
        }
    }

    /// Records whether this worker can take jobs; a change is published at once.
    async fn set_consume_error(&self, error: Option<String>) {
        let changed = {
            let mut cur = self.inner.consume_error.lock().expect("consume lock");
            let changed = *cur != error;
            *cur = error;
            changed
        };
        if changed {
            let _ = self.heartbeat(false).await;
        }
    }

    /// Why this worker cannot take jobs now, if it cannot.
    pub fn consume_error(&self) -> Option<String> {
        self.inner
            .consume_error
            .lock()
            .expect("consume lock")
            .clone()
    }

    pub(super) async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.inner.shutdown.cancelled() => {}
        }
    }
}
