//! History rows settled from the queue: a job whose final status its queue holds while
//! its history row still says it runs (the final write to history was refused, as on a
//! full disk, or never made) takes that status, with its reason and counts. Cleanup does
//! it first, and a worker or the app does it when it starts.

use std::collections::HashSet;

use tracing::info;

use crate::service::{JobService, ACTIVE_ROW_STATES};
use tickstock_data::history::job_run;
use tickstock_data::store::{JobRun, JobRunFilter};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;

impl JobService {
    /// History rows that say active while their queue holds a final status for the job:
    /// the final write to history was refused (a full disk) or never made. They take the
    /// queue's status, with its reason and counts. Returns how many.
    pub async fn settle_history(&self) -> Result<usize> {
        let store = self.history()?;
        let live: HashSet<String> = self
            .queue()
            .active()
            .await?
            .into_iter()
            .map(|e| e.job_id)
            .collect();
        let mut settled = 0;
        for status in ACTIVE_ROW_STATES {
            let page = store
                .list_job_runs(&JobRunFilter {
                    status: Some(status.into()),
                    page_size: 1000,
                    ..JobRunFilter::default()
                })
                .await?;
            let runs: Vec<JobRun> = page
                .items
                .into_iter()
                .filter(|r| !live.contains(&r.id))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
            let statuses = self.queue().statuses(&ids).await?;
            for (run, st) in runs.into_iter().zip(statuses) {
                let Some(st) = st.filter(|s| s.state.is_terminal()) else {
                    continue;
                };
                let Ok(job) = Job::from_value(run.params) else {
                    continue;
                };
                store.upsert_job_run(&job_run(&job, &st)).await?;
                info!(job_id = %run.id, state = %st.state, "history settled from the queue's final status");
                settled += 1;
            }
        }
        Ok(settled)
    }
}
