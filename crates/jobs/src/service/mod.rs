//! The job service: everything done *to* jobs, over any [`JobQueue`] and the job history
//! of one database. It is the one way a job gets in, whoever starts it: the page's submit
//! and retries, coverage fills, `tickstock submit` and `top-up`, the schedules and split
//! reloads ([`crate::schedule`], [`crate::splits::submit_reloads`]) and dead-letter
//! requeues. Each goes through one duplicate check (a job identical to an active one is
//! refused, naming it, unless the caller allows duplicates), writes the job's history row
//! before it is queued, and is followed for [`JobService::changes`] (one event).
//! - [`JobService::submit`] / [`JobService::submit_with`] queue a job (universe jobs for
//!   the bus with their resolved `symbols`); [`JobService::offer`] answers a duplicate
//!   instead of failing on it (what the schedules and split reloads ask);
//! - [`JobService::retry`], [`JobService::retry_part`] and [`JobService::requeue_dead`]
//!   submit a job from the history or the dead letters again, through the same check;
//! - [`JobService::changes`] tells what changed since it was last asked (the app turns it
//!   into events for the page) and records the final state of jobs it sees finish, so a
//!   job ended by a worker that writes another database, or by TickStockPL, is final in
//!   this history too;
//! - reads ([`JobService::active`], [`JobService::recent`], [`JobService::status`],
//!   [`JobService::detail`]) never write;
//! - [`JobService::cancel`], [`JobService::cleanup_stale`], [`JobService::clear`] and
//!   [`JobService::resume_unfinished`] are the maintenance the app's buttons and
//!   `tickstock cancel` / `cleanup` / `clear` share, and record what they end.
//!
//! History is written here and by the lifecycle only: a job's start, progress and end
//! where it runs ([`tickstock_queue::lifecycle::run_job`]), and a worker's end of a job it will not
//! run ([`tickstock_queue::lifecycle::record`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use crate::queue::{JobQueue, QueueKind};
use tickstock_data::history::job_run;
use tickstock_data::store::{JobRun, Store};
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, JobStatus, Stamp};
use tickstock_queue::bus::Bus;

mod maintenance;
mod reads;

/// A running job with no progress for this long, and no live worker, is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// The states of a history row whose job has not ended.
pub(crate) const ACTIVE_ROW_STATES: [&str; 4] = ["running", "queued", "submitted", "cancelling"];

/// Why cleanup marked a job failed.
pub const STALE_REASON: &str =
    "Marked failed by cleanup: no progress for 10 minutes and no live worker";

/// What changed of one job since the last [`JobService::changes`].
#[derive(Debug, Clone, Serialize)]
pub struct JobChange {
    pub job_id: String,
    pub status: JobStatus,
    /// The job left the active set with this (final) status.
    pub finished: bool,
}

#[derive(Clone, Copy, PartialEq)]
struct Seen {
    state: JobState,
    progress: u8,
    bars: u64,
}

impl Seen {
    fn of(st: &JobStatus) -> Seen {
        Seen {
            state: st.state,
            progress: st.progress,
            bars: st.ohlcv_records_loaded.unwrap_or(0),
        }
    }
}

/// How [`JobService::submit_with`] submits.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubmitOptions {
    /// Queue the job even when an identical one (same kind and parameters) is active.
    pub allow_duplicate: bool,
}

/// Message fields that do not make two jobs different: who asked, when, why (a retry
/// names the job it repeats), and the id.
const IDENTITY_FIELDS: [&str; 5] = [
    "job_id",
    "timestamp",
    "requested_by",
    "retry_of",
    "retry_part",
];

/// Whether two jobs would do the same work: the same kind and parameters, whoever asked,
/// whenever and why (a retry of an active job is the same work again). A universe seed's resolved `symbols` do not count (they follow from the
/// universe).
pub fn same_work(a: &Job, b: &Job) -> bool {
    let strip = |j: &Job| {
        let mut v = j.to_value();
        if let Some(m) = v.as_object_mut() {
            for k in IDENTITY_FIELDS {
                m.remove(k);
            }
            if j.job_type() == tickstock_protocol::job::JobType::UniverseSeed {
                m.remove("symbols");
            }
        }
        v
    };
    a.job_type() == b.job_type() && strip(a) == strip(b)
}

/// The error of a submit refused because `active` does the same work.
fn duplicate_error(active: &str) -> Error {
    Error::invalid(format!(
        "An identical job is already active: {active} (same kind and parameters); \
         submit with allow-duplicate to queue another"
    ))
}

/// What [`JobService::offer`] did with a job.
#[derive(Debug, Clone)]
pub enum Offer {
    /// Queued and recorded.
    Submitted(Box<Submitted>),
    /// Not queued: the active job `active` does the same work.
    Duplicate { active: String },
}

/// A submitted job and what the operator should know about it.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: Job,
    /// Set when no live worker will take it.
    pub warning: Option<String>,
}

/// The job service for one queue and one history database. Cheap to share behind `Arc`.
pub struct JobService {
    queue: Arc<dyn JobQueue>,
    store: Option<Store>,
    seen: Mutex<HashMap<String, Seen>>,
}

impl JobService {
    pub fn new(queue: Arc<dyn JobQueue>, store: Option<Store>) -> JobService {
        JobService {
            queue,
            store,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.queue
    }

    /// The history's database, when it could be opened.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    pub(crate) fn history(&self) -> Result<&Store> {
        self.store.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Database,
                "the job history's database is unavailable",
            )
        })
    }

    async fn record(&self, job: &Job, st: &JobStatus) {
        if let Some(store) = &self.store {
            if let Err(e) = store.upsert_job_run(&job_run(job, st)).await {
                warn!(job_id = %job.id, "could not record job history: {e}");
            }
        }
    }

    /// Records a status in the history row of a job already there.
    async fn record_known(&self, id: &str, st: &JobStatus) {
        let Some(store) = &self.store else { return };
        if let Ok(Some(run)) = store.job_run(id).await {
            if let Ok(job) = Job::from_value(run.params) {
                self.record(&job, st).await;
            }
        }
    }

    /// Queues a validated job and records it, refusing one identical to an active job
    /// (see [`JobService::submit_with`]).
    pub async fn submit(&self, job: Job) -> Result<Submitted> {
        self.submit_with(job, SubmitOptions::default()).await
    }

    /// The id of an active job doing the same work as `job` ([`same_work`]), if any.
    pub async fn find_duplicate(&self, job: &Job) -> Result<Option<String>> {
        Ok(self
            .queue
            .active_messages()
            .await?
            .into_iter()
            .find(|a| a.id != job.id && same_work(a, job))
            .map(|a| a.id))
    }

    /// Queues a validated job and records it. Universe jobs for the bus carry their
    /// resolved `symbols` (TickStockPL workers load only those). A job identical to an
    /// active one is refused, naming the active job, unless `opts.allow_duplicate`.
    pub async fn submit_with(&self, job: Job, opts: SubmitOptions) -> Result<Submitted> {
        match self.offer(job, opts).await? {
            Offer::Submitted(s) => Ok(*s),
            Offer::Duplicate { active } => Err(duplicate_error(&active)),
        }
    }

    /// As [`JobService::submit_with`], but a job identical to an active one is an answer,
    /// not an error: what the schedules and the split reloads ask, which go on with their
    /// other work when one of theirs is already running.
    pub async fn offer(&self, job: Job, opts: SubmitOptions) -> Result<Offer> {
        let job = if self.queue.kind() == QueueKind::Redis {
            tickstock_data::loader::resolve_for_publish(job, self.store.as_ref()).await?
        } else {
            job
        };
        if !opts.allow_duplicate {
            if let Some(active) = self.find_duplicate(&job).await? {
                info!(
                    job_id = %job.id,
                    active = %active,
                    by = job.requested_by.as_deref().unwrap_or(""),
                    "not submitted: an identical job is active"
                );
                return Ok(Offer::Duplicate { active });
            }
        }
        // Recorded before it is queued: a worker that takes it at once records its start
        // after this, never before.
        let mut st = Bus::initial_status(&job);
        if self.queue.kind() == QueueKind::Embedded {
            st.state = JobState::Queued;
        }
        self.record(&job, &st).await;
        if let Err(e) = self.queue.submit(&job).await {
            st.state = JobState::Failed;
            st.message = Some(format!("Failed: not queued: {}", e.message()));
            st.error_message = Some(format!("not queued: {}", e.message()));
            st.set_time("completed_at", Stamp::now());
            self.record(&job, &st).await;
            return Err(e);
        }
        self.follow(&job.id, &st);
        Ok(Offer::Submitted(Box::new(Submitted {
            warning: self.queue.no_worker_warning().await,
            job,
        })))
    }

    /// Follows a job queued now, so one that ends before the next look is still told.
    fn follow(&self, id: &str, st: &JobStatus) {
        self.seen
            .lock()
            .expect("seen lock")
            .insert(id.to_string(), Seen::of(st));
    }

    /// Queues a dead letter's job again (same id: it resumes from its checkpoints) and
    /// reopens its history row as `queued`, so the history never says "failed" about a job
    /// that runs again. Refused, like a submit, when an identical job is active unless
    /// `opts.allow_duplicate`; needs the Redis bus (the embedded queue keeps no dead
    /// letters).
    pub async fn requeue_dead(
        &self,
        dead_id: &str,
        requested_by: &str,
        opts: SubmitOptions,
    ) -> Result<Job> {
        let bus = self.queue.redis().await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "requeueing a dead letter needs Redis mode: the embedded queue keeps no dead letters",
            )
        })?;
        if !opts.allow_duplicate {
            let job = bus.dead_letter_job(dead_id).await?;
            if let Some(active) = self.find_duplicate(&job).await? {
                return Err(duplicate_error(&active));
            }
        }
        let job = bus.requeue_dead_letter(dead_id, requested_by).await?;
        info!(job_id = %job.id, by = requested_by, "dead letter requeued");
        let st = match bus.status(&job.id).await? {
            Some(st) => st,
            None => {
                let mut st = Bus::initial_status(&job);
                st.state = JobState::Queued;
                st
            }
        };
        if let Some(store) = &self.store {
            let mut run = job_run(&job, &st);
            // A fresh run: what the failed one left is not carried over.
            run.completed_at = None;
            run.error = None;
            if let Err(e) = store.reopen_job_run(&run).await {
                warn!(job_id = %job.id, "could not record the requeue in history: {e}");
            }
        }
        self.follow(&job.id, &st);
        Ok(job)
    }

    /// Submits a job from the history again (same parameters, new id, `who` as the
    /// requester), validated against the universes `known` accepts.
    pub async fn retry(
        &self,
        id: &str,
        who: &str,
        known: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Submitted> {
        let run = self.history()?.job_run(id).await?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no job `{id}` in the history"))
        })?;
        let job = Job::from_value(run.params)?.resubmission(who);
        let errors = job.validate(known);
        if !errors.is_empty() {
            return Err(tickstock_protocol::job::field_errors_to_error(&errors));
        }
        self.submit(job).await
    }
}

impl JobService {
    /// Submits part of a job from the history again: all of it, only its failed symbols,
    /// or the rest of it (see [`crate::retry`]).
    pub async fn retry_part(
        &self,
        id: &str,
        who: &str,
        part: crate::retry::RetryPart,
        known: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Submitted> {
        use crate::retry::{failed_symbols, partial_job, rest_symbols, RetryPart};
        if part == RetryPart::All {
            return self.retry(id, who, known).await;
        }
        let run = self.history()?.job_run(id).await?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no job `{id}` in the history"))
        })?;
        let job = Job::from_value(run.params.clone())?;
        let symbols = match part {
            RetryPart::FailedSymbols => failed_symbols(&run),
            _ => {
                let done: Vec<tickstock_protocol::unit::Unit> = self
                    .unit_rows(id)
                    .await?
                    .into_iter()
                    .map(|(u, _)| u)
                    .collect();
                let failed = failed_symbols(&run);
                rest_symbols(&job, &done)
                    .into_iter()
                    .filter(|s| !failed.contains(s))
                    .collect()
            }
        };
        let new = partial_job(&job, symbols, who, part)?;
        self.submit(new).await
    }
}

/// A job as [`JobService::detail`] found it.
#[derive(Debug, Clone)]
pub enum Detail {
    /// Still on its queue: the live status and the job's parameters when known.
    Live {
        status: Box<JobStatus>,
        params: Option<serde_json::Value>,
    },
    /// Only in the history.
    History(Box<JobRun>),
}
