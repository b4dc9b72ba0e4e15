//! One step of the worker: ask the operator's gate (a paused queue or a quiet command: take
//! nothing; a stop command: stop), take over a stale entry or read a new one, then decide what
//! it is: delivered too often (dead letter), unreadable or invalid (rejected), a job id
//! another entry runs, a job already ended or cancelled before it started, or a job to
//! run (handed to `execute`).

use redis::aio::ConnectionManager;
use tracing::{error, info, warn};

use super::{Entry, Outcome, Worker};
use crate::bus::{leasable, lease_holder, BusError, Gate};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::{field_errors_to_error, parse_message, string_field, Job};
use tickstock_protocol::status::{JobState, JobStatus, Stamp};

impl Worker {
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

    pub(super) async fn step(&self, conn: &mut ConnectionManager) -> Result<Outcome> {
        if !self.gate_open().await? {
            return Ok(Outcome::Idle);
        }
        if let Some(entry) = self.take_over(conn).await? {
            return self.handle(entry).await;
        }
        if self.inner.shutdown.is_cancelled() {
            return Ok(Outcome::Idle);
        }
        match self.read_new(conn).await? {
            Some(entry) => {
                // The read waited up to `block`: a pause (or a quiet or stop command) may
                // have come meanwhile. The entry is then handed back untouched, for the
                // first worker that may take jobs again.
                let me = &self.inner;
                if self.gate().await? != Gate::Open {
                    me.bus
                        .release_entry(&me.id, &entry.id, me.cfg.claim_idle)
                        .await?;
                    info!(worker = %me.id, entry = %entry.id, "the queue was paused while this worker waited; the job is left for later");
                    return Ok(Outcome::Idle);
                }
                self.handle(entry).await
            }
            None => Ok(Outcome::Idle),
        }
    }

    /// What the operator lets this worker do now: the pause and its command
    /// ([`Bus::read_orders`]). What Redis lost since the last read (a restart without
    /// persistence) is put back from what this worker had read, so a quiet worker stays
    /// quiet and a paused queue paused; the consumer group is made again with it.
    ///
    /// [`Bus::read_orders`]: crate::bus::Bus::read_orders
    pub(super) async fn gate(&self) -> Result<Gate> {
        let me = &self.inner;
        let mut known = me.orders.lock().await;
        let (mut orders, lost) = me.bus.read_orders(&me.id).await?;
        if lost {
            // What Redis holds stands; then what this worker last read; then the pause's
            // durable copy in the history (a pause no live worker had read).
            let mut kept = orders.clone().or(known.clone());
            if kept.pause.is_none() {
                kept.pause = self.durable_pause().await;
            }
            if kept != orders {
                warn!(
                    worker = %me.id,
                    paused = kept.pause.is_some(),
                    command = kept.command.is_some(),
                    "Redis lost the operator's pause or this worker's command (restarted empty?); putting them back"
                );
                me.bus.restore_orders(&me.id, &kept).await?;
                me.bus.ensure_group().await?;
                orders = kept;
            }
        }
        let gate = orders.gate();
        *known = orders;
        Ok(gate)
    }

    /// The pause's durable copy in the job history, if there is one (a history that
    /// cannot be read counts as none: the warning says so).
    async fn durable_pause(&self) -> Option<String> {
        let history = self.inner.history.as_ref()?;
        match history
            .operator_order(&self.inner.bus.keys().queue_paused())
            .await
        {
            Ok(pause) => pause,
            Err(e) => {
                warn!(worker = %self.inner.id, "cannot read the queue's pause kept in the history: {e}");
                None
            }
        }
    }

    /// Whether this worker may take a job now ([`Worker::gate`]): on hold it waits one
    /// `block` first; told to stop, it stops as on a shutdown (the command is used up).
    pub(super) async fn gate_open(&self) -> Result<bool> {
        let me = &self.inner;
        match self.gate().await? {
            Gate::Open => Ok(true),
            Gate::Hold => {
                self.pause(me.cfg.block).await;
                Ok(false)
            }
            Gate::Stop => {
                info!(worker = %me.id, "stop requested by an operator; stopping");
                me.bus.clear_worker_command(&me.id).await?;
                me.shutdown.cancel();
                Ok(false)
            }
        }
    }

    pub(super) async fn take_over(&self, conn: &mut ConnectionManager) -> Result<Option<Entry>> {
        let me = &self.inner;
        let entry = match me
            .bus
            .take_over_idle(conn, &me.id, me.cfg.claim_idle, me.cfg.lease_ttl())
            .await
        {
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
    pub(super) async fn recreate_group(&self) -> Result<()> {
        warn!(
            worker = %self.inner.id,
            "the job stream or its consumer group is gone (Redis restarted empty?); recreating it"
        );
        self.inner.bus.ensure_group().await
    }

    pub(super) async fn read_new(&self, conn: &mut ConnectionManager) -> Result<Option<Entry>> {
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
    pub(super) async fn finish_entry(
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

    pub(super) async fn dead_letter(&self, entry: &Entry, reason: &str) -> Result<()> {
        self.inner
            .bus
            .dead_letter(entry, reason, &self.inner.id)
            .await
    }

    pub(super) fn failed_status(job_type: Option<String>, reason: &str) -> JobStatus {
        let mut st = JobStatus::new(JobState::Failed);
        st.job_type = job_type;
        st.message = Some(format!("Failed: {reason}"));
        st.error_message = Some(reason.to_string());
        st.set_time("completed_at", Stamp::now());
        st
    }

    /// Decides what an entry is and runs it when it is a job to run; then gives up the
    /// job's lease this entry holds, if any (a take-over leases the job before it is
    /// read; a run leases it just before it starts).
    pub(super) async fn handle(&self, entry: Entry) -> Result<Outcome> {
        let me = &self.inner;
        let job_id = entry_job_id(&entry);
        let entry_id = entry.id.clone();
        let out = self.handle_entry(entry, job_id.clone()).await;
        if let Some(id) = job_id.filter(|id| leasable(id)) {
            if let Err(e) = me
                .bus
                .release_job_lease(&id, &lease_holder(&me.id, &entry_id))
                .await
            {
                warn!(job_id = %id, "could not give up the job's lease (it lapses by itself): {e}");
            }
        }
        out
    }

    async fn handle_entry(&self, entry: Entry, loose_id: Option<String>) -> Result<Outcome> {
        let me = &self.inner;
        let text = entry.fields.get("job").cloned().unwrap_or_default();
        let message = parse_message(&text);
        let digest = tickstock_protocol::job::message_digest(&text);
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
            .and_then(|t| tickstock_protocol::job::JobType::parse(&t))
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

        // One job id on one worker at a time: a copy of this job's entry (added twice, or
        // requeued from the dead letters) may be running elsewhere right now.
        if leasable(&job.id) {
            let holder = lease_holder(&me.id, &entry.id);
            if let Some(other) = me
                .bus
                .acquire_job_lease(&job.id, &holder, me.cfg.lease_ttl())
                .await?
            {
                let worker = other.split(' ').next().unwrap_or_default();
                let reason = format!(
                    "job id is already running on worker {worker} from another stream entry; this entry was not run"
                );
                warn!(entry = %entry.id, job_id = %job.id, "{reason}");
                self.dead_letter(&entry, &reason).await?;
                self.finish_entry(&entry.id, None, None).await?;
                return Ok(Outcome::Rejected {
                    job_id: Some(job.id),
                    reason,
                });
            }
        }
        self.execute(entry, job, previous).await
    }
}

/// The job id an entry names, even in a message that is not a valid job: its `job_id`
/// field, else the `job_id` found in its message.
fn entry_job_id(entry: &Entry) -> Option<String> {
    let text = entry
        .fields
        .get("job")
        .map(String::as_str)
        .unwrap_or_default();
    entry
        .fields
        .get("job_id")
        .filter(|id| tickstock_protocol::job::usable_id(id))
        .cloned()
        .or_else(|| tickstock_protocol::job::loose_job_id(text))
}
