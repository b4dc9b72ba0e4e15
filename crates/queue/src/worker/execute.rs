//! Running one job taken from the stream: its `running` status, checkpoints bound to the
//! message they were made for, [`crate::lifecycle::run_job`] with a host that writes both
//! status keys and acknowledges or releases the entry, and a guard that keeps the claim
//! fresh and stops the job when a cancel or someone else's final state appears.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Entry, Outcome, Worker};
use crate::bus::{Bus, ProgressWrite};
use crate::lifecycle::{run_job, JobHost, RunEnd, RunEnv};
use tickstock_data::exec::Checkpoints;
use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, JobStatus, Stamp};
use tickstock_protocol::unit::Unit;

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
        let holder = crate::bus::lease_holder(&self.worker.inner.id, &self.entry_id);
        if crate::bus::leasable(&job.id) && !bus.holds_job_lease(&job.id, &holder).await? {
            // Another worker took the job over while this one was silent past its lease:
            // the job and its entry are that worker's now; nothing of theirs is touched.
            return Ok(None);
        }
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

/// How long a checkpoint read or write waits for a Redis that stalls or restarts before
/// the job is released to resume later (each try also waits up to the response timeout).
const REDIS_PATIENCE: Duration = Duration::from_secs(90);

/// Checkpoints in a Redis set per job (expires after 7 days). A Redis that stops
/// answering is waited for (up to [`REDIS_PATIENCE`]): a finished unit is worth keeping.
struct RedisCheckpoints(Bus);

impl RedisCheckpoints {
    async fn patiently<T, F, Fut>(&self, job_id: &str, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + REDIS_PATIENCE;
        let mut warned = false;
        loop {
            match f().await {
                Ok(v) => {
                    if warned {
                        info!(job_id, "Redis answers again; {what} done");
                    }
                    return Ok(v);
                }
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    if !warned {
                        warn!(job_id, "Redis does not answer; waiting to {what}: {e}");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl Checkpoints for RedisCheckpoints {
    async fn done(&self, job_id: &str) -> Result<HashSet<Unit>> {
        self.patiently(job_id, "read the checkpoint", || {
            self.0.checkpoints_done(job_id)
        })
        .await
    }
    async fn mark(&self, job_id: &str, unit: &Unit) -> Result<()> {
        self.patiently(job_id, "record a finished unit", || {
            self.0.mark_checkpoint(job_id, unit)
        })
        .await
    }
    async fn mark_rows(&self, job_id: &str, unit: &Unit, rows: u64) -> Result<()> {
        self.patiently(job_id, "record a finished unit", || {
            self.0.mark_checkpoint_rows(job_id, unit, rows)
        })
        .await
    }
    async fn done_rows(&self, job_id: &str) -> Result<u64> {
        self.patiently(job_id, "read the checkpoint", || {
            self.0.checkpoint_rows(job_id)
        })
        .await
    }
}

impl Worker {
    pub(super) async fn execute(
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
        let digest = tickstock_protocol::job::message_digest(
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
        // Tripped by a shutdown, or when the job's lease was lost to another worker.
        let job_shutdown = me.shutdown.child_token();
        let guard = {
            let w = self.clone();
            let entry_id = entry.id.clone();
            let job_id = job.id.clone();
            let cancel = cancel.clone();
            let lost = job_shutdown.clone();
            let done = guard_done.clone();
            tokio::spawn(async move { w.guard_job(&entry_id, &job_id, cancel, lost, done).await })
        };
        let host = Arc::new(StreamHost {
            worker: self.clone(),
            entry_id: entry.id.clone(),
        });
        let env = RunEnv {
            checkpoints: Arc::new(RedisCheckpoints(me.bus.clone())),
            history: me.history.clone(),
            cancel: cancel.clone(),
            shutdown: job_shutdown,
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
    pub(super) async fn bind_checkpoints(&self, job_id: &str, digest: &str) -> Result<()> {
        self.inner.bus.bind_checkpoints(job_id, digest).await
    }

    /// Makes a held entry immediately available to other workers.
    pub(super) async fn release(&self, entry_id: &str) -> Result<()> {
        let me = &self.inner;
        me.bus
            .release_entry(&me.id, entry_id, me.cfg.claim_idle)
            .await
    }

    /// Watches a running job: stops it on a cancel or someone else's final state, and
    /// keeps its lease and its entry's claim fresh every `claim_idle / 4`; a lease another
    /// worker holds (this one was silent past it) stops the job as a shutdown would,
    /// leaving the job to that worker.
    pub(super) async fn guard_job(
        &self,
        entry_id: &str,
        job_id: &str,
        cancel: CancellationToken,
        lost: CancellationToken,
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
                match me
                    .bus
                    .refresh_job_lease(job_id, &me.id, entry_id, me.cfg.lease_ttl())
                    .await
                {
                    Ok(true) => last_refresh = Instant::now(),
                    Ok(false) => {
                        warn!(
                            job_id,
                            "another worker took this job over while this one was silent; stopping here"
                        );
                        lost.cancel();
                        return;
                    }
                    Err(e) => debug!("claim refresh failed: {e}"),
                }
            }
        }
    }
}
