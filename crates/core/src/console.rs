//! The operations console's actions that touch both the bus and the job history: a dead
//! letter queued again is `queued` in history too (its row, final until now, is
//! reopened), so the history never says "failed" about a job that is running again.
//! Reads and the other actions are on [`Bus`] (queue, workers, dead letters) and
//! [`Store::history_page`] (history).

use tracing::{info, warn};

use crate::bus::Bus;
use crate::error::Result;
use crate::history::job_run;
use crate::job::Job;
use crate::status::JobState;
use crate::store::Store;

/// Queues a dead letter's job again ([`Bus::requeue_dead_letter`]) and reopens its
/// history row in `store` with the status `queued`. Returns the job.
pub async fn requeue_dead(
    bus: &Bus,
    store: Option<&Store>,
    dead_id: &str,
    requested_by: &str,
) -> Result<Job> {
    let job = bus.requeue_dead_letter(dead_id, requested_by).await?;
    info!(job_id = %job.id, by = requested_by, "dead letter requeued");
    if let Some(store) = store {
        let st = match bus.status(&job.id).await? {
            Some(st) => st,
            None => {
                let mut st = Bus::initial_status(&job);
                st.state = JobState::Queued;
                st
            }
        };
        let mut run = job_run(&job, &st);
        // A fresh run: what the failed one left is not carried over.
        run.completed_at = None;
        run.error = None;
        if let Err(e) = store.reopen_job_run(&run).await {
            warn!(job_id = %job.id, "could not record the requeue in history: {e}");
        }
    }
    Ok(job)
}
