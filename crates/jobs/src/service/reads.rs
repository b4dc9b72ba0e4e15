//! What the job service reads (never writes to the queue): one job's status and detail,
//! an id from its prefix, the recent and active jobs, and what changed since last asked.

use crate::queue::QueueKind;
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::status::JobStatus;
use tickstock_queue::bus::JobEntry;

use super::{Detail, JobChange, JobService, Seen};

impl JobService {
    /// One job's live status, if its queue still knows it. Reads only.
    pub async fn status(&self, id: &str) -> Result<Option<JobStatus>> {
        self.queue.status(id).await
    }

    /// The whole id of a job named by its id or by a unique start of it (the page shows
    /// eight characters): the id itself when a job has it, or no recent job starts with
    /// it; an error naming how many match when several do.
    pub async fn resolve_id(&self, id: &str) -> Result<String> {
        let id = id.trim();
        let prefix_like =
            id.len() >= 4 && id.len() < 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if !prefix_like || self.queue.status(id).await?.is_some() {
            return Ok(id.to_string());
        }
        let found: Vec<String> = self
            .recent(tickstock_queue::bus::INDEX_MAX_LEN as usize)
            .await?
            .into_iter()
            .map(|e| e.job_id)
            .filter(|j| j.starts_with(id))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Ok(id.to_string()),
            many => Err(Error::invalid(format!(
                "{} is the start of {} jobs ({}, ...): give more of the id",
                tickstock_protocol::error::quote_input(id),
                many.len(),
                many.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Recent jobs, newest first: the bus's index of jobs (finished ones too, until their
    /// statuses expire), or the active jobs of the embedded queue. Reads only.
    pub async fn recent(&self, limit: usize) -> Result<Vec<JobEntry>> {
        match self.queue.redis().await? {
            Some(bus) => bus.list_jobs(limit).await,
            None => {
                let mut jobs = self.queue.active().await?;
                jobs.truncate(limit);
                Ok(jobs)
            }
        }
    }

    /// Jobs waiting or running, newest first. Reads only.
    pub async fn active(&self) -> Result<Vec<JobEntry>> {
        self.queue.active().await
    }

    /// What changed since the last call: jobs whose state, progress or bars moved, and jobs
    /// that left the active set (with their final status, recorded in history).
    pub async fn changes(&self) -> Result<Vec<JobChange>> {
        let entries = self.queue.active().await?;
        let mut out = Vec::new();
        let gone: Vec<String> = {
            let mut seen = self.seen.lock().expect("seen lock");
            for e in &entries {
                let Some(st) = &e.status else { continue };
                let now = Seen::of(st);
                if seen.insert(e.job_id.clone(), now) != Some(now) {
                    out.push(JobChange {
                        job_id: e.job_id.clone(),
                        status: st.clone(),
                        finished: false,
                    });
                }
            }
            let gone: Vec<String> = seen
                .keys()
                .filter(|id| !entries.iter().any(|e| &e.job_id == *id))
                .cloned()
                .collect();
            for id in &gone {
                seen.remove(id);
            }
            gone
        };
        if gone.is_empty() {
            return Ok(out);
        }
        let statuses = self.queue.statuses(&gone).await?;
        for (id, st) in gone.into_iter().zip(statuses) {
            let Some(st) = st else { continue };
            if st.state.is_terminal() {
                self.record_known(&id, &st).await;
            }
            out.push(JobChange {
                job_id: id,
                status: st,
                finished: true,
            });
        }
        Ok(out)
    }

    /// A job's live status when its queue still has it, else its history row.
    pub async fn detail(&self, id: &str) -> Result<Detail> {
        if let Ok(Some(st)) = self.queue.status(id).await {
            let params = match self.queue.job(id).await? {
                Some(j) => Some(j.to_value()),
                None => match &self.store {
                    Some(s) => s.job_run(id).await?.map(|r| r.params),
                    None => None,
                },
            };
            return Ok(Detail::Live {
                status: Box::new(st),
                params,
            });
        }
        let run = self.history()?.job_run(id).await?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no job `{id}` in the history"))
        })?;
        Ok(Detail::History(Box::new(run)))
    }

    /// The finished (symbol, timeframe) units of a job and the rows each loaded: from the
    /// database's checkpoints in embedded mode, from the bus's (kept 7 days) otherwise.
    pub async fn unit_rows(&self, id: &str) -> Result<Vec<(tickstock_protocol::unit::Unit, u64)>> {
        if self.queue.kind() == QueueKind::Embedded {
            let Some(store) = &self.store else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for (symbol, tf, rows) in store.done_pairs(id).await? {
                if let Ok(u) = format!("{symbol}|{}", tf.wire_name()).parse() {
                    out.push((u, rows));
                }
            }
            return Ok(out);
        }
        self.queue.unit_rows(id).await
    }
}
