//! What is done *to* jobs already in: cancel, stale jobs failed, finished jobs cleared,
//! and the embedded queue's unfinished jobs resumed after a restart.

use tracing::{info, warn};

use crate::queue::QueueKind;
use tickstock_data::store::{JobRun, JobRunFilter, Store};
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, Stamp};
use tickstock_queue::bus::CancelOutcome;
use tickstock_queue::local::LocalQueue;

use super::{JobService, ACTIVE_ROW_STATES, STALE_AFTER, STALE_REASON};

impl JobService {
    /// Cancels a job; a job cancelled before it started is final in history at once.
    pub async fn cancel(&self, id: &str, who: &str) -> Result<CancelOutcome> {
        let out = self.queue.cancel(id, who).await?;
        if out.changed && out.state.is_terminal() {
            if let Ok(Some(st)) = self.queue.status(id).await {
                self.record_known(id, &st).await;
            }
        }
        Ok(out)
    }

    pub async fn cancel_all(&self, who: &str) -> Result<usize> {
        self.queue.cancel_all(who).await
    }

    /// The Redis bus, for the orders only Redis mode has (the queue's pause).
    async fn require_redis(&self, what: &str) -> Result<tickstock_queue::bus::Bus> {
        self.queue.redis().await?.ok_or_else(|| {
            Error::new(
                tickstock_protocol::error::ErrorKind::Config,
                format!("{what} needs Redis mode: the embedded queue has no pause"),
            )
        })
    }

    /// Pauses the queue for every worker of ours, and keeps a copy in the history's
    /// database, from which workers put it back when Redis restarts empty (also when no
    /// worker was alive to read it). False when it was already paused (the first pause's
    /// author stands).
    pub async fn pause_queue(&self, who: &str) -> Result<bool> {
        let bus = self.require_redis("Pausing the queue").await?;
        let changed = bus.pause_queue(who).await?;
        if let (Some(store), Some(pause)) = (&self.store, bus.queue_paused_text().await?) {
            if let Err(e) = store
                .set_operator_order(&bus.keys().queue_paused(), Some(&pause))
                .await
            {
                warn!("the pause is in Redis only (its copy in the history failed): {e}");
            }
        }
        Ok(changed)
    }

    /// Resumes the queue and drops the pause's copy in the history; false when it was not
    /// paused.
    pub async fn resume_queue(&self) -> Result<bool> {
        let bus = self.require_redis("Resuming the queue").await?;
        let mut changed = bus.resume_queue().await?;
        if let Some(store) = &self.store {
            // A copy left from a pause Redis lost still paused the queue for the workers.
            changed |= store
                .set_operator_order(&bus.keys().queue_paused(), None)
                .await?;
        }
        Ok(changed)
    }

    /// Marks stale jobs failed: active with no live worker and no progress for
    /// [`STALE_AFTER`], and history rows left active by a worker or app that is gone (not
    /// active on the queue, and started or submitted that long ago; in embedded mode every
    /// such row, since nothing else runs its jobs). Returns how many.
    pub async fn cleanup_stale(&self) -> Result<usize> {
        let mut marked = self.cleanup_stale_on_queue().await?;
        marked += self.cleanup_history().await?;
        Ok(marked)
    }

    /// The queue's part of [`JobService::cleanup_stale`]: active jobs with no live worker
    /// and no progress for [`STALE_AFTER`] are ended as failed (and so recorded).
    pub async fn cleanup_stale_on_queue(&self) -> Result<usize> {
        let mut marked = 0;
        for s in self.queue.stale(STALE_AFTER).await? {
            let mut fin = s.status.clone();
            fin.state = JobState::Failed;
            fin.message = Some(STALE_REASON.into());
            fin.error_message = Some(STALE_REASON.into());
            fin.set_time("completed_at", Stamp::now());
            let fin = self.queue.end(&s.job_id, &fin).await?;
            self.record_known(&s.job_id, &fin).await;
            info!(job_id = %s.job_id, "stale job marked failed");
            marked += 1;
        }
        Ok(marked)
    }

    /// History rows that say active but are active nowhere: settled from the queue's
    /// final status when it has one ([`JobService::settle_history`]), else, left by a
    /// worker or app that is gone, marked failed.
    async fn cleanup_history(&self) -> Result<usize> {
        let mut marked = self.settle_history().await?;
        let live: Vec<String> = self
            .queue
            .active()
            .await?
            .into_iter()
            .map(|e| e.job_id)
            .collect();
        let store = self.history()?;
        let now = chrono::Utc::now();
        for status in ACTIVE_ROW_STATES {
            let page = store
                .list_job_runs(&JobRunFilter {
                    status: Some(status.into()),
                    page_size: 1000,
                    ..JobRunFilter::default()
                })
                .await?;
            for mut run in page.items {
                if live.contains(&run.id) {
                    continue;
                }
                let is_old = run
                    .started_at
                    .or(run.submitted_at)
                    .is_some_and(|t| (now - t).num_seconds() as u64 >= STALE_AFTER.as_secs());
                if self.queue.kind() == QueueKind::Embedded || is_old {
                    run.status = JobState::Failed.as_str().into();
                    run.message = Some(STALE_REASON.into());
                    run.error = Some(STALE_REASON.into());
                    run.completed_at = Some(now);
                    store.upsert_job_run(&run).await?;
                    marked += 1;
                }
            }
        }
        Ok(marked)
    }

    /// Deletes finished jobs whose id starts with `prefix` (at least 4 characters) from
    /// the history and the queue; active jobs are left alone. Returns how many.
    pub async fn clear(&self, prefix: &str) -> Result<u64> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.chars().count() < 4 {
            return Err(Error::invalid(
                "enter at least 4 characters of the job id to clear",
            ));
        }
        let mut n = 0;
        if let Some(store) = &self.store {
            let page = store
                .list_job_runs(&JobRunFilter {
                    id_prefix: Some(prefix.clone()),
                    page_size: 1000,
                    ..JobRunFilter::default()
                })
                .await?;
            for run in page.items {
                if JobState::parse(&run.status).is_some_and(|s| s.is_terminal()) {
                    n += store.delete_job_runs_by_prefix(&run.id).await?;
                }
            }
        }
        let on_queue = self.queue.clear_finished(&prefix).await? as u64;
        Ok(n.max(on_queue))
    }

    /// Jobs a local queue was running or holding when the app last closed: queued again
    /// with their submit and start times (they resume from their checkpoints with their
    /// totals); ones being cancelled are recorded as cancelled. Returns how many resumed.
    pub async fn resume_unfinished(&self, queue: &LocalQueue) -> usize {
        let Some(store) = &self.store else { return 0 };
        let mut resumed = 0;
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
            for run in page.items {
                resumed += self.resume_one(queue, store, status, run).await as usize;
            }
        }
        resumed
    }

    async fn resume_one(
        &self,
        queue: &LocalQueue,
        store: &Store,
        status: &str,
        mut run: JobRun,
    ) -> bool {
        match Job::from_value(run.params.clone()) {
            Ok(job) if status != "cancelling" => {
                info!(job_id = %job.id, "resuming a job interrupted when the app closed");
                match queue.resume(job, run.submitted_at, run.started_at).await {
                    Ok(()) => return true,
                    Err(e) => warn!("could not resume {}: {}", run.id, e.message()),
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
        false
    }
}
