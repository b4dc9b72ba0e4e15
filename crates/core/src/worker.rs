//! The worker runtime: a consumer in the Redis Stream's group that runs jobs one step at a
//! time ([`Worker::try_execute_next`]) and, in [`Worker::run`], around that step:
//! - claims a new job, or takes over one whose worker went silent (idle longer than
//!   `claim_idle`), and moves a job delivered more than `max_deliveries` times to the
//!   dead-letter stream with status `failed`;
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::bus::{Bus, BusError, LegacyMessage, ProgressWrite, StreamEntry, WorkerBeat};
use crate::error::Result;
use crate::exec::{Checkpoints, JobHistory, JobRunner};
use crate::job::{field_errors_to_error, parse_message, string_field, Job};
use crate::lifecycle::{run_job, JobHost, RunEnd, RunEnv};
use crate::status::{JobState, JobStatus, Stamp};

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

/// A job taken from the stream: progress to both status keys (the write respects the
/// cancel flag and any final state already written; either makes the job stop), the final
/// status written and the entry acknowledged in one atomic step, a released entry left for
/// the next worker.
struct StreamHost {
    worker: Worker,
    entry_id: String,
}

#[async_trait]
impl JobHost for StreamHost {
    async fn progress(&self, job: &Job, status: &JobStatus) -> Result<bool> {
        self.worker.inner.bus.put_progress(&job.id, status).await
    }

    async fn finish(&self, job: &Job, status: &JobStatus) -> Result<JobStatus> {
        Ok(self
            .worker
            .finish_entry(&self.entry_id, Some(&job.id), Some(status))
            .await?
            .unwrap_or_else(|| status.clone()))
    }

    async fn release(&self, job: &Job, status: &JobStatus) -> Result<Option<JobState>> {
        let bus = &self.worker.inner.bus;
        if let ProgressWrite::Final(state) = bus.put_progress_checked(&job.id, status).await? {
            return Ok(Some(state));
        }
        self.worker.release(&self.entry_id).await?;
        Ok(None)
    }

    fn resumable(&self) -> bool {
        true
    }

    fn release_message(&self) -> String {
        "Interrupted by a worker shutdown; will resume from its checkpoint".into()
    }
}

/// Checkpoints in a Redis set per job (expires after 7 days).
struct RedisCheckpoints(Bus);

#[async_trait]
impl Checkpoints for RedisCheckpoints {
    async fn done(&self, job_id: &str) -> Result<HashSet<String>> {
        self.0.checkpoints_done(job_id).await
    }
    async fn mark(&self, job_id: &str, unit: &str) -> Result<()> {
        self.0.mark_checkpoint(job_id, unit).await
    }
    async fn mark_rows(&self, job_id: &str, unit: &str, rows: u64) -> Result<()> {
        self.0.mark_checkpoint_rows(job_id, unit, rows).await
    }
    async fn done_rows(&self, job_id: &str) -> Result<u64> {
        self.0.checkpoint_rows(job_id).await
    }
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
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    async fn record(&self, job: &Job, status: &JobStatus) {
        if let Some(h) = &self.inner.history {
            if let Err(e) = h.record(job, status).await {
                warn!(job_id = %job.id, "could not record job history: {e}");
            }
        }
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

    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.inner.shutdown.cancelled() => {}
        }
    }

    /// One step: take over a stale job or wait (up to `block`) for a new one, and run it.
    pub async fn try_execute_next(&self) -> Result<Outcome> {
        let mut guard = self.inner.step_conn.lock().await;
        if guard.is_none() {
            *guard = Some(
                self.inner
                    .bus
                    .blocking_connection(self.inner.cfg.block)
                    .await?,
            );
        }
        let conn = guard.as_mut().expect("connection");
        self.step(conn).await
    }

    async fn step(&self, conn: &mut ConnectionManager) -> Result<Outcome> {
        if let Some(entry) = self.take_over(conn).await? {
            return self.handle(entry).await;
        }
        if self.inner.shutdown.is_cancelled() {
            return Ok(Outcome::Idle);
        }
        match self.read_new(conn).await? {
            Some(entry) => self.handle(entry).await,
            None => Ok(Outcome::Idle),
        }
    }

    async fn take_over(&self, conn: &mut ConnectionManager) -> Result<Option<Entry>> {
        let me = &self.inner;
        let entry = match me.bus.take_over_idle(conn, &me.id, me.cfg.claim_idle).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(None),
            Err(BusError::GroupGone) => {
                self.recreate_group().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        info!(worker = %me.id, entry = %entry.id, deliveries = entry.deliveries, "taking over a job whose worker went silent");
        Ok(Some(entry))
    }

    /// Redis lost the stream or its group (a restart without persistence, a failover,
    /// FLUSHALL): both are created again, and jobs added since are read from the start.
    async fn recreate_group(&self) -> Result<()> {
        warn!(
            worker = %self.inner.id,
            "the job stream or its consumer group is gone (Redis restarted empty?); recreating it"
        );
        self.inner.bus.ensure_group().await
    }

    async fn read_new(&self, conn: &mut ConnectionManager) -> Result<Option<Entry>> {
        let me = &self.inner;
        match me.bus.read_new_entry(conn, &me.id, me.cfg.block).await {
            Ok(entry) => Ok(entry),
            Err(BusError::GroupGone) => {
                self.recreate_group().await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Acknowledges and deletes an entry, writing a final status to both status keys in
    /// the same atomic step. A final state someone else already wrote is kept (see
    /// [`crate::bus::settle_final`]); returns the status written.
    async fn finish_entry(
        &self,
        entry_id: &str,
        job_id: Option<&str>,
        status: Option<&JobStatus>,
    ) -> Result<Option<JobStatus>> {
        if let (Some(id), Some(st)) = (job_id, status) {
            let written = self.inner.bus.finish_status(id, st, Some(entry_id)).await?;
            return Ok(Some(written));
        }
        self.inner.bus.ack_entry(entry_id).await?;
        Ok(None)
    }

    async fn dead_letter(&self, entry: &Entry, reason: &str) -> Result<()> {
        self.inner
            .bus
            .dead_letter(entry, reason, &self.inner.id)
            .await
    }

    fn failed_status(job_type: Option<String>, reason: &str) -> JobStatus {
        let mut st = JobStatus::new(JobState::Failed);
        st.job_type = job_type;
        st.message = Some(format!("Failed: {reason}"));
        st.error_message = Some(reason.to_string());
        st.set_time("completed_at", Stamp::now());
        st
    }

    async fn handle(&self, entry: Entry) -> Result<Outcome> {
        let me = &self.inner;
        let text = entry.fields.get("job").cloned().unwrap_or_default();
        let message = parse_message(&text);
        // Whatever id can be found, even in a message that is not a valid job.
        let loose_id = entry
            .fields
            .get("job_id")
            .filter(|id| crate::job::usable_id(id))
            .cloned()
            .or_else(|| crate::job::loose_job_id(&text));
        let digest = crate::job::message_digest(&text);
        // This entry may change the status of the job it names only when that job is
        // not final, not run from another entry, and was submitted with this message: a
        // junk entry carrying another job's id leaves that job alone.
        let may_change = match &loose_id {
            Some(id) => {
                crate::bus::entry_may_change(me.bus.status(id).await?.as_ref(), &entry.id, &digest)
            }
            None => false,
        };
        let status_id = loose_id.as_deref().filter(|_| may_change);
        // Only a known type is repeated into the status.
        let loose_type = string_field(&message, "job_type")
            .and_then(|t| crate::job::JobType::parse(&t))
            .map(|t| t.as_str().to_string());

        if entry.deliveries > me.cfg.max_deliveries {
            let reason = format!(
                "delivered {} times without finishing (its workers stopped or crashed); moved to the dead-letter stream",
                entry.deliveries
            );
            error!(entry = %entry.id, job_id = ?loose_id, "{reason}");
            self.dead_letter(&entry, &reason).await?;
            let st = Self::failed_status(loose_type, &reason);
            let written = self.finish_entry(&entry.id, status_id, Some(&st)).await?;
            // The history learns the end too (it used to stay "running" there).
            if let (Ok(j), Some(w)) = (message.and_then(Job::from_value), written) {
                self.record(&j, &w).await;
            }
            return Ok(Outcome::DeadLettered {
                job_id: loose_id,
                deliveries: entry.deliveries,
            });
        }

        let parsed = message.and_then(Job::from_value);
        // Universe keys are checked by the runner against its database.
        let checked = parsed.as_ref().map_err(Clone::clone).and_then(|j| {
            let errs = j.validate(&|_| true);
            if errs.is_empty() {
                Ok(())
            } else {
                Err(field_errors_to_error(&errs))
            }
        });
        let job = match (parsed, checked) {
            (Ok(j), Ok(())) => j,
            (parsed, Err(e)) => {
                let reason = format!("rejected job message: {}", e.message());
                warn!(entry = %entry.id, job_id = ?loose_id, "{reason}");
                self.dead_letter(&entry, &reason).await?;
                let st = Self::failed_status(loose_type, &reason);
                let written = self.finish_entry(&entry.id, status_id, Some(&st)).await?;
                // A message that parses as a job reaches the history too.
                if let (Ok(j), Some(w)) = (parsed, written) {
                    self.record(&j, &w).await;
                }
                return Ok(Outcome::Rejected {
                    job_id: loose_id,
                    reason,
                });
            }
            (Err(e), Ok(())) => return Err(e),
        };

        let previous = me.bus.status(&job.id).await?;
        if !may_change {
            // Another entry runs this job, or it was submitted with another message under
            // the same id: a job id is never run twice at once.
            let reason = match &previous {
                Some(p) if p.state.is_terminal() => format!(
                    "job id already used by a job that ended {}; this entry was not run",
                    p.state
                ),
                Some(p) if matches!(p.state, JobState::Running | JobState::Cancelling) => {
                    "job id is already running from another stream entry; this entry was not run"
                        .to_string()
                }
                _ => {
                    "job id belongs to a job submitted with another message; this entry was not run"
                        .to_string()
                }
            };
            let ended_here = previous.as_ref().is_some_and(|p| p.state.is_terminal())
                && previous
                    .as_ref()
                    .and_then(|p| p.extra.get(crate::bus::MESSAGE_DIGEST))
                    .and_then(|d| d.as_str())
                    .is_none_or(|d| d == digest);
            if !ended_here {
                warn!(entry = %entry.id, job_id = %job.id, "{reason}");
                self.dead_letter(&entry, &reason).await?;
                self.finish_entry(&entry.id, None, None).await?;
                return Ok(Outcome::Rejected {
                    job_id: Some(job.id),
                    reason,
                });
            }
        }
        // Cancelled before it started, or already ended by someone else (TickStock's page
        // cancelled it, or its stale-job cleanup marked it): acknowledged without running.
        let ended = previous.as_ref().is_some_and(|p| p.state.is_terminal());
        if ended || me.bus.is_cancel_requested(&job.id).await? {
            let mut st = previous.unwrap_or_else(|| JobStatus::new(JobState::Cancelled));
            if !st.state.is_terminal() {
                st.state = JobState::Cancelled;
                st.message = Some("Cancelled before it started".into());
                st.set_time("completed_at", Stamp::now());
            }
            let st = self
                .finish_entry(&entry.id, Some(&job.id), Some(&st))
                .await?
                .unwrap_or(st);
            self.record(&job, &st).await;
            info!(job_id = %job.id, state = %st.state, "job had ended before it started");
            return Ok(Outcome::Skipped { job_id: job.id });
        }

        self.execute(entry, job, previous).await
    }

    async fn execute(
        &self,
        entry: Entry,
        job: Job,
        previous: Option<JobStatus>,
    ) -> Result<Outcome> {
        let me = &self.inner;
        let mut st = JobStatus::new(JobState::Running);
        st.job_type = Some(job.job_type().as_str().into());
        if let Some(p) = &previous {
            st.copy_time(p, "submitted_at");
        }
        st.worker_id = Some(me.id.clone());
        st.total_symbols = job.spec.symbols().map(|s| s.len() as u64);
        let resumed = entry.deliveries > 1;
        match previous
            .as_ref()
            .filter(|p| resumed && p.started_at.is_some())
        {
            Some(p) => st.copy_time(p, "started_at"),
            None => st.set_time("started_at", Stamp::now()),
        }
        st.message = Some(if resumed {
            format!("Resumed by {} (delivery {})", me.id, entry.deliveries)
        } else {
            format!("Running on {}", me.id)
        });
        if let Some(d) = previous.as_ref().and_then(|p| p.extra.get("description")) {
            st.extra.insert("description".into(), d.clone());
        }
        let digest = crate::job::message_digest(
            entry
                .fields
                .get("job")
                .map(String::as_str)
                .unwrap_or_default(),
        );
        st.extra
            .insert(crate::bus::MESSAGE_DIGEST.into(), digest.clone().into());
        st.extra
            .insert(crate::bus::STREAM_ENTRY.into(), entry.id.clone().into());
        self.bind_checkpoints(&job.id, &digest).await?;

        let cancel = CancellationToken::new();
        me.running
            .lock()
            .expect("running lock")
            .insert(job.id.clone(), cancel.clone());
        let _ = self.heartbeat(false).await;
        if resumed {
            info!(job_id = %job.id, deliveries = entry.deliveries, "job resumed");
        }

        // Keep the claim fresh and watch the cancel flag while the job runs.
        let guard_done = CancellationToken::new();
        let guard = {
            let w = self.clone();
            let entry_id = entry.id.clone();
            let job_id = job.id.clone();
            let cancel = cancel.clone();
            let done = guard_done.clone();
            tokio::spawn(async move { w.guard_job(&entry_id, &job_id, cancel, done).await })
        };
        let host = Arc::new(StreamHost {
            worker: self.clone(),
            entry_id: entry.id.clone(),
        });
        let env = RunEnv {
            checkpoints: Arc::new(RedisCheckpoints(me.bus.clone())),
            history: me.history.clone(),
            cancel: cancel.clone(),
            shutdown: me.shutdown.child_token(),
            progress_every: me.cfg.progress_every,
            history_every: crate::lifecycle::HISTORY_EVERY,
        };
        let end = run_job(&job, st, me.runner.clone(), host, env).await;
        guard_done.cancel();
        let _ = guard.await;
        me.running.lock().expect("running lock").remove(&job.id);
        let _ = self.heartbeat(false).await;
        Ok(match end? {
            RunEnd::Released(_) => Outcome::Released { job_id: job.id },
            RunEnd::Finished { status, .. } => Outcome::Executed {
                job_id: job.id,
                state: status.state,
            },
        })
    }

    /// Checkpoints belong to the message they were made for: a job id reused for other
    /// parameters (after its status expired) starts from nothing, not from the old
    /// job's finished units.
    async fn bind_checkpoints(&self, job_id: &str, digest: &str) -> Result<()> {
        self.inner.bus.bind_checkpoints(job_id, digest).await
    }

    /// Makes a held entry immediately available to other workers.
    async fn release(&self, entry_id: &str) -> Result<()> {
        let me = &self.inner;
        me.bus
            .release_entry(&me.id, entry_id, me.cfg.claim_idle)
            .await
    }

    async fn guard_job(
        &self,
        entry_id: &str,
        job_id: &str,
        cancel: CancellationToken,
        done: CancellationToken,
    ) {
        let me = &self.inner;
        let refresh_every = (me.cfg.claim_idle / 4).max(Duration::from_millis(100));
        let mut last_refresh = Instant::now();
        let mut ticker = tokio::time::interval(me.cfg.cancel_poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if !cancel.is_cancelled() {
                // The cancel flag, or a final state (or `cancelling`) someone else wrote on
                // either status key, e.g. TickStock's page or its stale-job cleanup.
                match me.bus.stop_requested(job_id).await {
                    Ok(Some(why)) => {
                        info!(
                            job_id,
                            reason = %why,
                            "stop requested; stopping after the current chunk"
                        );
                        cancel.cancel();
                    }
                    Ok(None) => {}
                    Err(e) => debug!("cancel check failed: {e}"),
                }
            }
            if last_refresh.elapsed() >= refresh_every {
                match me.bus.refresh_claim(&me.id, entry_id).await {
                    Ok(_) => last_refresh = Instant::now(),
                    Err(e) => debug!("claim refresh failed: {e}"),
                }
            }
        }
    }

    async fn heartbeat_loop(&self) {
        let me = &self.inner;
        let mut ticker = tokio::time::interval(me.cfg.heartbeat_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = me.shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.heartbeat(false).await {
                debug!("heartbeat failed: {e}");
            }
        }
    }

    /// Refreshes the legacy heartbeat and this worker's entry (`stopped` on the way out).
    async fn heartbeat(&self, stopped: bool) -> Result<()> {
        let me = &self.inner;
        let beat = WorkerBeat {
            id: me.id.clone(),
            host: me.host.clone(),
            pid: std::process::id(),
            started_at: me.started_at.clone(),
            current_jobs: self.current_jobs(),
            concurrency: me.cfg.concurrency,
            stopped,
            consume_error: self.consume_error(),
            legacy_ttl: Duration::from_secs((me.cfg.heartbeat_every.as_secs() * 3).max(15)),
        };
        me.bus.write_worker_heartbeat(&beat).await
    }

    async fn legacy_listener(&self) {
        let me = &self.inner;
        let mut backoff = Duration::from_millis(250);
        while !me.shutdown.is_cancelled() {
            match self.listen_once().await {
                Ok(()) => backoff = Duration::from_millis(250),
                Err(e) => {
                    debug!("legacy listener: {e}");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn listen_once(&self) -> Result<()> {
        let me = &self.inner;
        let mut messages = me.bus.legacy_messages().await?;
        loop {
            let msg = tokio::select! {
                _ = me.shutdown.cancelled() => return Ok(()),
                m = messages.next() => m,
            };
            match msg {
                Some(LegacyMessage::DataLoad(payload)) => self.on_legacy_job(&payload).await,
                Some(LegacyMessage::Control(payload)) => self.on_control(&payload).await,
                None => return Err(BusError::SubscriptionClosed.into()),
            }
        }
    }

    async fn on_legacy_job(&self, payload: &str) {
        let me = &self.inner;
        let message = parse_message(payload);
        // Even an unreadable message's id is found, so its "submitted" status does not
        // linger for two hours.
        let id = crate::job::loose_job_id(payload);
        match message.and_then(Job::from_value) {
            Ok(job) => match me.bus.ingest_legacy(&job).await {
                Ok(true) => {
                    info!(job_id = %job.id, "accepted a job published on the legacy channel")
                }
                Ok(false) => {}
                Err(e) => warn!(job_id = %job.id, "could not queue a legacy job: {e}"),
            },
            Err(e) => {
                warn!(job_id = ?id, "rejected a message on the legacy channel: {}", e.message());
                let waiting =
                    match &id {
                        Some(id) => me.bus.status(id).await.ok().flatten().is_none_or(|s| {
                            matches!(s.state, JobState::Submitted | JobState::Queued)
                        }),
                        None => false,
                    };
                if let Some(id) = id.filter(|_| waiting) {
                    let reason = format!("rejected job message: {}", e.message());
                    // Never over a final state (settled by `finish_status`).
                    let st = Self::failed_status(None, &reason);
                    if let Err(e) = me.bus.finish_status(&id, &st, None).await {
                        warn!("could not mark {id} failed: {e}");
                    }
                }
            }
        }
    }

    async fn on_control(&self, payload: &str) {
        let me = &self.inner;
        let Ok(v) = serde_json::from_str::<Value>(payload) else {
            warn!("ignored an unreadable control message");
            return;
        };
        let by = v
            .get("requested_by")
            .and_then(|x| x.as_str())
            .unwrap_or("legacy admin")
            .to_string();
        let targets: Vec<(String, CancellationToken)> = {
            let running = me.running.lock().expect("running lock");
            if v.get("command").and_then(|c| c.as_str()) == Some("cancel_all") {
                running
                    .iter()
                    .map(|(k, t)| (k.clone(), t.clone()))
                    .collect()
            } else if v.get("action").and_then(|c| c.as_str()) == Some("cancel") {
                let id = v.get("job_id").and_then(|x| x.as_str()).unwrap_or_default();
                running
                    .get(id)
                    .map(|t| vec![(id.to_string(), t.clone())])
                    .unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        for (id, token) in targets {
            info!(job_id = %id, "cancel heard on the control channel");
            if let Err(e) = me.bus.set_cancel_flag(&id, &by).await {
                warn!("could not record cancel of {id}: {e}");
            }
            token.cancel();
        }
    }
}
