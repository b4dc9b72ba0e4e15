//! The job-queue seam: [`JobQueue`] is what the job service, the app and the CLI ask of a
//! queue, with two implementations: the Redis bus ([`Bus`], shared with TickStockPL
//! workers) and the app's in-process [`LocalQueue`] (embedded mode). Jobs on either run
//! through the one lifecycle in [`tickstock_queue::lifecycle`].

use std::time::Duration;

use async_trait::async_trait;

use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{parse_time, JobStatus};
use tickstock_queue::bus::{Bus, CancelOutcome, JobEntry, QueueDepth, HEARTBEAT_STALE_SECS};
use tickstock_queue::local::LocalQueue;

/// Which kind of queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// The app's in-process queue: no Redis, jobs run in the app.
    Embedded,
    /// The Redis bus, shared with every worker on it.
    Redis,
}

/// An active job that looks abandoned: no live worker holds it and it has made no
/// progress for a while.
#[derive(Debug, Clone)]
pub struct StaleJob {
    pub job_id: String,
    pub status: JobStatus,
}

/// What every queue does.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    fn kind(&self) -> QueueKind;

    /// Queues a validated job (universe jobs already resolved for the bus).
    async fn submit(&self, job: &Job) -> Result<()>;

    /// One job's status, if the queue still knows it.
    async fn status(&self, id: &str) -> Result<Option<JobStatus>>;

    /// Statuses of many jobs, in order.
    async fn statuses(&self, ids: &[String]) -> Result<Vec<Option<JobStatus>>>;

    /// Jobs waiting or running, newest first.
    async fn active(&self) -> Result<Vec<JobEntry>>;

    /// The job message of a job the queue still holds.
    async fn job(&self, id: &str) -> Result<Option<Job>>;

    /// Cancels a job: at once when waiting, after its current chunk when running.
    async fn cancel(&self, id: &str, who: &str) -> Result<CancelOutcome>;

    /// Cancels every active job; returns how many were changed.
    async fn cancel_all(&self, who: &str) -> Result<usize>;

    /// Waiting, in flight and dead-lettered.
    async fn depth(&self) -> Result<QueueDepth>;

    /// Active jobs that no live worker holds and that made no progress for `idle`.
    async fn stale(&self, idle: Duration) -> Result<Vec<StaleJob>>;

    /// Ends an active job with a final status; a final state already written by someone
    /// else stands. Returns the status that stands.
    async fn end(&self, id: &str, status: &JobStatus) -> Result<JobStatus>;

    /// Forgets finished jobs whose id starts with `prefix`; returns how many.
    async fn clear_finished(&self, prefix: &str) -> Result<usize>;

    /// A warning for the operator when no worker will take a submitted job.
    async fn no_worker_warning(&self) -> Option<String> {
        None
    }

    /// The messages of the active jobs the queue still holds (what a new submit is
    /// compared with to refuse a duplicate).
    async fn active_messages(&self) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        for e in self.active().await? {
            if let Some(j) = self.job(&e.job_id).await? {
                out.push(j);
            }
        }
        Ok(out)
    }

    /// The finished (symbol, timeframe) units of a job with the rows each loaded, as its
    /// checkpoints recorded them (empty once they expired or where none are kept).
    async fn unit_rows(&self, _id: &str) -> Result<Vec<(tickstock_protocol::unit::Unit, u64)>> {
        Ok(Vec::new())
    }

    /// The Redis bus under this queue, for what every process on it shares (the
    /// schedules' leases, the dead letters, the index of recent jobs); `None` for the
    /// embedded queue. Errors when Redis cannot be reached.
    async fn redis(&self) -> Result<Option<Bus>> {
        Ok(None)
    }
}

/// Seconds since a status last changed (its `timestamp`, else started or submitted).
fn idle_for(st: &JobStatus) -> Option<Duration> {
    let last = st
        .extra
        .get("timestamp")
        .and_then(|v| v.as_str())
        .and_then(parse_time)
        .or_else(|| st.time("started_at"))
        .or_else(|| st.time("submitted_at"))?;
    (chrono::Utc::now() - last).to_std().ok()
}

#[async_trait]
impl JobQueue for Bus {
    fn kind(&self) -> QueueKind {
        QueueKind::Redis
    }
    async fn submit(&self, job: &Job) -> Result<()> {
        Bus::submit(self, job).await
    }
    async fn status(&self, id: &str) -> Result<Option<JobStatus>> {
        Bus::status(self, id).await
    }
    async fn statuses(&self, ids: &[String]) -> Result<Vec<Option<JobStatus>>> {
        Bus::statuses(self, ids).await
    }
    async fn active(&self) -> Result<Vec<JobEntry>> {
        self.active_jobs(1000).await
    }
    async fn job(&self, _id: &str) -> Result<Option<Job>> {
        // The bus keeps messages in the stream only until a worker takes them; the
        // history keeps them for good.
        Ok(None)
    }
    async fn cancel(&self, id: &str, who: &str) -> Result<CancelOutcome> {
        Bus::cancel(self, id, who).await
    }
    async fn cancel_all(&self, who: &str) -> Result<usize> {
        Bus::cancel_all(self, "cancelled from TickStock Admin", who).await
    }
    async fn depth(&self) -> Result<QueueDepth> {
        self.queue_depth().await
    }
    async fn stale(&self, idle: Duration) -> Result<Vec<StaleJob>> {
        let health = self
            .health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
            .await;
        let mut out = Vec::new();
        for e in self.active_jobs(1000).await? {
            let Some(st) = e.status else { continue };
            let holder_alive = match &st.worker_id {
                Some(w) => health.workers.iter().any(|x| &x.id == w && x.alive),
                None => health.any_worker_alive(),
            };
            if !holder_alive && idle_for(&st).is_some_and(|d| d >= idle) {
                out.push(StaleJob {
                    job_id: e.job_id,
                    status: st,
                });
            }
        }
        Ok(out)
    }
    async fn end(&self, id: &str, status: &JobStatus) -> Result<JobStatus> {
        self.finish_status(id, status, None).await
    }
    async fn clear_finished(&self, prefix: &str) -> Result<usize> {
        Bus::clear_finished(self, prefix).await
    }
    async fn no_worker_warning(&self) -> Option<String> {
        Bus::no_worker_warning(self).await
    }
    async fn active_messages(&self) -> Result<Vec<Job>> {
        Bus::active_messages(self).await
    }
    async fn unit_rows(&self, id: &str) -> Result<Vec<(tickstock_protocol::unit::Unit, u64)>> {
        self.checkpoint_unit_rows(id).await
    }
    async fn redis(&self) -> Result<Option<Bus>> {
        Ok(Some(self.clone()))
    }
}

#[async_trait]
impl JobQueue for LocalQueue {
    fn kind(&self) -> QueueKind {
        QueueKind::Embedded
    }
    async fn submit(&self, job: &Job) -> Result<()> {
        LocalQueue::submit(self, job.clone()).await
    }
    async fn status(&self, id: &str) -> Result<Option<JobStatus>> {
        Ok(LocalQueue::status(self, id))
    }
    async fn statuses(&self, ids: &[String]) -> Result<Vec<Option<JobStatus>>> {
        Ok(ids.iter().map(|id| LocalQueue::status(self, id)).collect())
    }
    async fn active(&self) -> Result<Vec<JobEntry>> {
        Ok(LocalQueue::active(self))
    }
    async fn job(&self, id: &str) -> Result<Option<Job>> {
        Ok(LocalQueue::job(self, id))
    }
    async fn cancel(&self, id: &str, _who: &str) -> Result<CancelOutcome> {
        LocalQueue::cancel(self, id).await
    }
    async fn cancel_all(&self, _who: &str) -> Result<usize> {
        Ok(LocalQueue::cancel_all(self).await)
    }
    async fn depth(&self) -> Result<QueueDepth> {
        let waiting = self.waiting() as u64;
        Ok(QueueDepth {
            waiting,
            in_flight: (LocalQueue::active(self).len() as u64).saturating_sub(waiting),
            dead: 0,
        })
    }
    async fn stale(&self, _idle: Duration) -> Result<Vec<StaleJob>> {
        // Its jobs run in this process: none is ever held by a worker that went away.
        Ok(Vec::new())
    }
    async fn end(&self, id: &str, status: &JobStatus) -> Result<JobStatus> {
        Ok(self.force_end(id, status))
    }
    async fn clear_finished(&self, prefix: &str) -> Result<usize> {
        Ok(self.forget_finished(prefix))
    }
}

/// The bus, connected on first use and again after a failed connect: the app starts while
/// Redis may be down, and its commands report Redis errors until it answers.
pub struct LazyBus {
    cfg: std::sync::Mutex<tickstock_protocol::settings::BusConfig>,
    bus: tokio::sync::Mutex<Option<Bus>>,
    /// How long a connect may take before the caller hears Redis is unavailable.
    quick: Duration,
}

impl LazyBus {
    pub fn new(cfg: tickstock_protocol::settings::BusConfig, quick: Duration) -> LazyBus {
        LazyBus {
            cfg: std::sync::Mutex::new(cfg),
            bus: tokio::sync::Mutex::new(None),
            quick,
        }
    }

    pub fn config(&self) -> tickstock_protocol::settings::BusConfig {
        self.cfg.lock().expect("config lock").clone()
    }

    /// Changes whether submits are also published on the legacy channel, from the next
    /// submit on (the connection is made again with the new setting).
    pub async fn set_publish_legacy(&self, publish: bool) {
        let changed = {
            let mut cfg = self.cfg.lock().expect("config lock");
            let changed = cfg.publish_legacy != publish;
            cfg.publish_legacy = publish;
            changed
        };
        if changed {
            *self.bus.lock().await = None;
        }
    }

    /// The connected bus, connecting now if it is not.
    pub async fn get(&self) -> Result<Bus> {
        let mut slot = self.bus.lock().await;
        if let Some(b) = slot.as_ref() {
            return Ok(b.clone());
        }
        let mut cfg = self.config();
        cfg.connect_timeout = self.quick;
        cfg.response_timeout = self.quick;
        let b = Bus::connect(cfg).await?;
        *slot = Some(b.clone());
        Ok(b)
    }
}

#[async_trait]
impl JobQueue for LazyBus {
    fn kind(&self) -> QueueKind {
        QueueKind::Redis
    }
    async fn submit(&self, job: &Job) -> Result<()> {
        JobQueue::submit(&self.get().await?, job).await
    }
    async fn status(&self, id: &str) -> Result<Option<JobStatus>> {
        self.get().await?.status(id).await
    }
    async fn statuses(&self, ids: &[String]) -> Result<Vec<Option<JobStatus>>> {
        self.get().await?.statuses(ids).await
    }
    async fn active(&self) -> Result<Vec<JobEntry>> {
        JobQueue::active(&self.get().await?).await
    }
    async fn job(&self, id: &str) -> Result<Option<Job>> {
        JobQueue::job(&self.get().await?, id).await
    }
    async fn cancel(&self, id: &str, who: &str) -> Result<CancelOutcome> {
        self.get().await?.cancel(id, who).await
    }
    async fn cancel_all(&self, who: &str) -> Result<usize> {
        JobQueue::cancel_all(&self.get().await?, who).await
    }
    async fn depth(&self) -> Result<QueueDepth> {
        self.get().await?.queue_depth().await
    }
    async fn stale(&self, idle: Duration) -> Result<Vec<StaleJob>> {
        self.get().await?.stale(idle).await
    }
    async fn end(&self, id: &str, status: &JobStatus) -> Result<JobStatus> {
        JobQueue::end(&self.get().await?, id, status).await
    }
    async fn clear_finished(&self, prefix: &str) -> Result<usize> {
        self.get().await?.clear_finished(prefix).await
    }
    async fn no_worker_warning(&self) -> Option<String> {
        self.get().await.ok()?.no_worker_warning().await
    }
    async fn unit_rows(&self, id: &str) -> Result<Vec<(tickstock_protocol::unit::Unit, u64)>> {
        self.get().await?.checkpoint_unit_rows(id).await
    }
    async fn active_messages(&self) -> Result<Vec<Job>> {
        self.get().await?.active_messages().await
    }
    async fn redis(&self) -> Result<Option<Bus>> {
        Ok(Some(self.get().await?))
    }
}
