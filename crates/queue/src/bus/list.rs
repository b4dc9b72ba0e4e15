//! The job list: recent and active jobs from the sorted-set index (never `KEYS`), and
//! clearing finished ones.

use redis::AsyncCommands;
use serde::Serialize;

use super::{Bus, INDEX_MAX_LEN};
use tickstock_protocol::error::Result;
use tickstock_protocol::status::JobStatus;

/// One entry of the job list.
#[derive(Debug, Clone, Serialize)]
pub struct JobEntry {
    pub job_id: String,
    /// Submit time, Unix ms.
    pub submitted_ms: i64,
    /// `None` once the status key has expired.
    pub status: Option<JobStatus>,
}

impl Bus {
    /// The most recent jobs, newest first (from the index; at most `limit`).
    pub async fn list_jobs(&self, limit: usize) -> Result<Vec<JobEntry>> {
        let mut c = self.conn.clone();
        let stop = limit.max(1) as isize - 1;
        let ids: Vec<(String, f64)> = c.zrevrange_withscores(self.keys.index(), 0, stop).await?;
        let just_ids: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
        let statuses = self.statuses(&just_ids).await?;
        Ok(ids
            .into_iter()
            .zip(statuses)
            .map(|((job_id, score), status)| JobEntry {
                job_id,
                submitted_ms: score as i64,
                status,
            })
            .collect())
    }

    /// Jobs that are waiting or running (among the most recent `scan` jobs).
    pub async fn active_jobs(&self, scan: usize) -> Result<Vec<JobEntry>> {
        Ok(self
            .list_jobs(scan)
            .await?
            .into_iter()
            .filter(|e| e.status.as_ref().is_some_and(|s| s.state.is_active()))
            .collect())
    }

    /// Removes finished jobs whose id starts with `prefix` from the index, with both their
    /// status keys. Active jobs are left alone. Returns how many were removed.
    pub async fn clear_finished(&self, prefix: &str) -> Result<usize> {
        let entries = self.list_jobs(INDEX_MAX_LEN as usize).await?;
        let doomed: Vec<String> = entries
            .into_iter()
            .filter(|e| e.job_id.starts_with(prefix))
            .filter(|e| e.status.as_ref().is_none_or(|s| s.state.is_terminal()))
            .map(|e| e.job_id)
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in &doomed {
            pipe.zrem(self.keys.index(), id)
                .ignore()
                .del(self.keys.status(id))
                .ignore()
                .del(self.keys.status_alt(id))
                .ignore()
                .del(self.keys.checkpoint(id))
                .ignore()
                .del(self.keys.checkpoint_rows(id))
                .ignore();
        }
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await?;
        Ok(doomed.len())
    }
}
