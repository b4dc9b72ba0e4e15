//! A job's checkpoints on the bus: the set of finished units a take-over resumes from
//! (each in its stored form `SYMBOL|timeframe`, see [`Unit`]), the rows each loaded, and
//! the digest of the message they were made for. All expire after 7 days.

use std::collections::HashSet;

use redis::AsyncCommands;
use tracing::{info, warn};

use super::Bus;
use tickstock_protocol::error::Result;
use tickstock_protocol::unit::Unit;

/// Seconds a job's checkpoints live (7 days).
const CHECKPOINT_TTL_SECS: i64 = 7 * 86_400;

impl Bus {
    /// Binds a job's checkpoints to the message (its digest) they are made for: a job id
    /// reused for other parameters (after its status expired) starts from nothing, not from
    /// the old job's finished units.
    pub async fn bind_checkpoints(&self, job_id: &str, digest: &str) -> Result<()> {
        let digest_key = self.keys.checkpoint_digest(job_id);
        let mut c = self.conn();
        let old: Option<String> = c.get(&digest_key).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        if old.as_deref().is_some_and(|o| o != digest) {
            info!(
                job_id,
                "checkpoints were made for another message under this id; starting over"
            );
            pipe.del(self.keys.checkpoint(job_id))
                .ignore()
                .del(self.keys.checkpoint_rows(job_id))
                .ignore();
        }
        pipe.cmd("SET")
            .arg(&digest_key)
            .arg(digest)
            .arg("EX")
            .arg(CHECKPOINT_TTL_SECS)
            .ignore();
        pipe.query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// The units of a job already finished. A member that is not a unit is left out (that
    /// unit, if it is one, runs again) and logged.
    pub async fn checkpoints_done(&self, job_id: &str) -> Result<HashSet<Unit>> {
        let mut c = self.conn();
        let members: Vec<String> = c.smembers(self.keys.checkpoint(job_id)).await?;
        Ok(members
            .iter()
            .filter_map(|m| match m.parse::<Unit>() {
                Ok(u) => Some(u),
                Err(e) => {
                    warn!(job_id, "ignored a checkpoint: {e}");
                    None
                }
            })
            .collect())
    }

    /// Records a unit of a job as finished.
    pub async fn mark_checkpoint(&self, job_id: &str, unit: &Unit) -> Result<()> {
        self.mark(job_id, unit, None).await
    }

    /// Records a unit of a job as finished with the rows it loaded, in one atomic step.
    pub async fn mark_checkpoint_rows(&self, job_id: &str, unit: &Unit, rows: u64) -> Result<()> {
        self.mark(job_id, unit, Some(rows)).await
    }

    async fn mark(&self, job_id: &str, unit: &Unit, rows: Option<u64>) -> Result<()> {
        let key = self.keys.checkpoint(job_id);
        let unit = unit.to_string();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(rows) = rows {
            let rows_key = self.keys.checkpoint_rows(job_id);
            pipe.hset(&rows_key, &unit, rows)
                .ignore()
                .expire(&rows_key, CHECKPOINT_TTL_SECS)
                .ignore();
        }
        pipe.sadd(&key, &unit)
            .ignore()
            .expire(&key, CHECKPOINT_TTL_SECS)
            .ignore();
        let mut c = self.conn();
        pipe.query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// Each finished unit of a job with the rows it loaded (0 where not recorded).
    pub async fn checkpoint_unit_rows(&self, job_id: &str) -> Result<Vec<(Unit, u64)>> {
        let mut c = self.conn();
        let rows: std::collections::HashMap<String, u64> =
            c.hgetall(self.keys.checkpoint_rows(job_id)).await?;
        let mut out: Vec<(Unit, u64)> = self
            .checkpoints_done(job_id)
            .await?
            .into_iter()
            .map(|u| {
                let n = rows.get(&u.to_string()).copied().unwrap_or(0);
                (u, n)
            })
            .collect();
        out.sort_by_key(|(u, _)| u.to_string());
        Ok(out)
    }

    /// The rows loaded by a job's finished units, summed.
    pub async fn checkpoint_rows(&self, job_id: &str) -> Result<u64> {
        let mut c = self.conn();
        let rows: Vec<u64> = c.hvals(self.keys.checkpoint_rows(job_id)).await?;
        Ok(rows.iter().sum())
    }
}
