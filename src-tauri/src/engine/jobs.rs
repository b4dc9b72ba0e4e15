//! The engine's calls for the submit form and the job history: submit with the duplicate
//! check, estimates, retry of a whole job or a part of it, deleting a finished job, and
//! the history at scale; which jobs are still active, and how a finished one ended.

use tickstock_jobs::reads::estimate::Estimate;
use tickstock_jobs::reads::history_query::{HistoryPage, HistoryQuery};
use tickstock_jobs::retry::RetryPart;
use tickstock_jobs::service::{SubmitOptions, Submitted};
use tickstock_protocol::job::Job;
use tickstock_protocol::ErrorKind;

use super::Engine;
use crate::error::{CmdResult, CommandError};

impl Engine {
    /// Submits a job; one identical to an active job is refused with its id unless
    /// `allow_duplicate`.
    pub async fn submit_with(&self, job: Job, allow_duplicate: bool) -> CmdResult<Submitted> {
        Ok(self
            .service()?
            .submit_with(job, SubmitOptions { allow_duplicate })
            .await?)
    }

    /// Polygon requests and time the job would take at the plan's rate: universe jobs are
    /// resolved against the database first, daily bars come from grouped daily where the
    /// loader would use it.
    pub async fn estimate(&self, job: Job) -> CmdResult<Estimate> {
        Ok(tickstock_jobs::reads::estimate::estimate_job(
            job,
            self.store().ok(),
            self.settings().requests_per_minute,
            chrono::Local::now().date_naive(),
        )
        .await?)
    }

    /// Submits a job from the history again: all of it, its failed symbols, or the rest.
    pub async fn retry(&self, id: &str, who: &str, part: RetryPart) -> CmdResult<Submitted> {
        let known = self.known_universes().await.unwrap_or_default();
        let accept =
            |k: &str| known.contains(k) || tickstock_protocol::universe::find_builtin(k).is_some();
        Ok(self.service()?.retry_part(id, who, part, &accept).await?)
    }

    /// Deletes one finished job (history, log and queue); an active job is refused.
    pub async fn delete_finished(&self, id: &str) -> CmdResult<()> {
        let id = id.trim();
        // A whole id: clearing goes by prefix, so a short one could reach other jobs.
        if id.len() < 32 {
            return Err(CommandError::field(
                "jobId",
                format!("\"{id}\" is not a whole job id"),
            ));
        }
        match self.service()?.clear(id).await? {
            0 => Err(CommandError::new(
                ErrorKind::InvalidInput,
                format!(
                    "Job {} is active or unknown: only finished jobs are deleted",
                    &id[..id.len().min(8)]
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A page of the history with counts per status.
    pub async fn history_page(&self, q: &HistoryQuery) -> CmdResult<HistoryPage> {
        Ok(self.store()?.history_page(q).await?)
    }

    /// A job's history row when it holds a final state.
    pub(super) async fn final_run(&self, id: &str) -> Option<tickstock_jobs::runtime::JobRun> {
        let run = self.store().ok()?.job_run(id).await.ok()??;
        tickstock_protocol::status::JobState::parse(&run.status)
            .is_some_and(|s| s.is_terminal())
            .then_some(run)
    }

    /// The ids of the jobs active now (`None` when they cannot be read).
    pub(super) async fn active_ids(&self) -> Option<std::collections::HashSet<String>> {
        let entries = self.service().ok()?.active().await.ok()?;
        Some(entries.into_iter().map(|e| e.job_id).collect())
    }
}
