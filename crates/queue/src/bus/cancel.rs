//! Cancelling jobs: the durable cancel flag a worker checks, the legacy control message,
//! and a compare-and-set status change that never overwrites a finished job.

use redis::AsyncCommands;
use serde::Serialize;
use serde_json::json;

use super::scripts::CAS_STATUS;
use super::status::merge;
use super::{iso_now, Bus, BusError, INDEX_MAX_LEN};
use tickstock_protocol::error::{ErrorKind, Result};
use tickstock_protocol::keys::{STATUS_ALT_TTL_SECS, STATUS_TTL_SECS};
use tickstock_protocol::status::{JobState, Stamp};

/// Seconds a cancel flag lives.
pub const CANCEL_TTL_SECS: u64 = 86_400;

/// What a cancel did.
#[derive(Debug, Clone, Serialize)]
pub struct CancelOutcome {
    pub job_id: String,
    /// The job's state after the request.
    pub state: JobState,
    /// False when the job had already finished: nothing was changed.
    pub changed: bool,
}

impl Bus {
    /// Whether cancel has been requested for a job (its durable cancel flag).
    pub async fn is_cancel_requested(&self, job_id: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        Ok(c.exists(self.keys.cancel_flag(job_id)).await?)
    }

    /// Sets the durable cancel flag only (used when a legacy cancel message is heard).
    pub async fn set_cancel_flag(&self, job_id: &str, requested_by: &str) -> Result<()> {
        let flag =
            json!({"requested_by": requested_by, "timestamp": Stamp::now().utc()}).to_string();
        let mut c = self.conn.clone();
        let _: () = c
            .set_ex(self.keys.cancel_flag(job_id), flag, CANCEL_TTL_SECS)
            .await?;
        Ok(())
    }

    /// Cancels a job: durable flag + legacy control message, then moves its status to
    /// `cancelled` (not started yet, or its worker is gone) or `cancelling` (a live worker
    /// holds it and will stop between chunks). A finished job is left as it is.
    pub async fn cancel(&self, job_id: &str, requested_by: &str) -> Result<CancelOutcome> {
        let job_id = job_id.trim();
        if job_id.is_empty() {
            return Err(BusError::EmptyJobId.into());
        }
        let Some(current) = self.status(job_id).await? else {
            return Err(BusError::UnknownJob {
                job_id: job_id.into(),
            }
            .into());
        };
        if current.state.is_terminal() {
            return Ok(CancelOutcome {
                job_id: job_id.into(),
                state: current.state,
                changed: false,
            });
        }
        let ts = Stamp::now();
        let flag = json!({"requested_by": requested_by, "timestamp": ts.utc()}).to_string();
        let control = json!({"job_id": job_id, "action": "cancel", "requested_by": requested_by, "timestamp": ts.legacy()})
            .to_string();
        let mut c = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.keys.cancel_flag(job_id))
            .arg(flag)
            .arg("EX")
            .arg(CANCEL_TTL_SECS)
            .ignore()
            .cmd("PUBLISH")
            .arg(self.keys.channel_control())
            .arg(control)
            .ignore()
            .query_async::<()>(&mut c)
            .await?;

        // Compare-and-set loop over both keys: never overwrite a status a worker (or
        // TickStock) wrote meanwhile.
        for _ in 0..10 {
            let (primary, alt) = self.read_both(job_id).await?;
            let present = primary.status.is_some() || alt.status.is_some();
            let base = merge(primary.status.clone(), alt.status.clone())
                .unwrap_or_else(|| current.clone());
            if base.state.is_terminal() || base.state == JobState::Cancelling && present {
                // The worker saw the flag first (or was already stopping): the cancel
                // took effect unless the job had finished some other way.
                return Ok(CancelOutcome {
                    job_id: job_id.into(),
                    state: base.state,
                    changed: matches!(base.state, JobState::Cancelling | JobState::Cancelled),
                });
            }
            let holder_alive = match &base.worker_id {
                Some(w) if base.state == JobState::Running => self.worker_alive(w).await?,
                _ => false,
            };
            let mut next = base.clone();
            next.extra
                .insert("cancelled_by".into(), requested_by.into());
            if base.state == JobState::Running && holder_alive {
                next.state = JobState::Cancelling;
                next.message = Some(format!("Cancel requested by {requested_by}"));
            } else {
                next.state = JobState::Cancelled;
                next.message = Some(match base.state {
                    JobState::Running if base.worker_id.is_some() => {
                        format!("Cancelled by {requested_by}; its worker had stopped")
                    }
                    JobState::Running => format!("Cancelled by {requested_by}"),
                    _ => format!("Cancelled by {requested_by} before it started"),
                });
                next.set_time("completed_at", ts);
                next.set_time("cancelled_at", ts);
            }
            let mut c = self.conn.clone();
            let ok: i64 = CAS_STATUS
                .key(self.keys.status(job_id))
                .key(self.keys.status_alt(job_id))
                .arg(&primary.token)
                .arg(&alt.token)
                .arg(next.to_json())
                .arg(STATUS_TTL_SECS)
                .arg(STATUS_ALT_TTL_SECS)
                .invoke_async(&mut c)
                .await?;
            if ok == 1 {
                return Ok(CancelOutcome {
                    job_id: job_id.into(),
                    state: next.state,
                    changed: true,
                });
            }
        }
        Err(BusError::CancelContended {
            job_id: job_id.into(),
        }
        .into())
    }

    /// Cancels every active job and sends the legacy `cancel_all` command. Returns how
    /// many jobs were changed.
    pub async fn cancel_all(&self, reason: &str, requested_by: &str) -> Result<usize> {
        let msg =
            json!({"command": "cancel_all", "reason": reason, "timestamp": iso_now()}).to_string();
        // The active jobs are listed before the message goes out: workers that hear it
        // cancel their jobs at once, and those count as cancelled by this call too (they
        // used to be seen as "already final" and left out of the count).
        let active = self.active_jobs(INDEX_MAX_LEN as usize).await?;
        let mut c = self.conn.clone();
        let _: i64 = c.publish(self.keys.channel_control(), msg).await?;
        let mut n = 0;
        for entry in active {
            let was_cancelling = entry
                .status
                .as_ref()
                .is_some_and(|s| s.state == JobState::Cancelling);
            match self.cancel(&entry.job_id, requested_by).await {
                Ok(o)
                    if o.changed
                        || (!was_cancelling
                            && matches!(o.state, JobState::Cancelled | JobState::Cancelling)) =>
                {
                    n += 1
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}
