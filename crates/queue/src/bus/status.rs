//! Job statuses on the bus: reading both legacy keys in either encoding, a worker's
//! progress writes, stop checks, and the final write that never overwrites a final state
//! someone else wrote.

use tracing::debug;

use super::scripts::{CAS_STATUS, READ_STATUSES, STOP_CHECK, WORKER_STATUS};
use super::{Bus, BusError};
use tickstock_protocol::error::Result;
use tickstock_protocol::keys::{STATUS_ALT_TTL_SECS, STATUS_TTL_SECS};
use tickstock_protocol::status::{JobState, JobStatus};

/// How far along a state is, to pick between two status keys of one job.
fn rank(state: JobState) -> u8 {
    match state {
        JobState::Submitted | JobState::Queued => 0,
        JobState::Running | JobState::Cancelling => 1,
        _ => 2,
    }
}

/// Decodes one reply of [`READ_STATUSES`].
fn decode_status(v: &redis::Value) -> Option<JobStatus> {
    let redis::Value::Array(items) = v else {
        return None;
    };
    let tag: String = redis::from_redis_value(items.first()?).ok()?;
    match tag.as_str() {
        "s" => {
            let text: String = redis::from_redis_value(items.get(1)?).ok()?;
            match JobStatus::from_json(&text) {
                Ok(s) => Some(s),
                Err(e) => {
                    debug!("unreadable status value: {e}");
                    None
                }
            }
        }
        "h" => {
            let mut fields = Vec::new();
            for pair in items[1..].chunks(2) {
                if let [k, v] = pair {
                    let k: String = redis::from_redis_value(k).ok()?;
                    let v: String = redis::from_redis_value(v).ok()?;
                    fields.push((k, v));
                }
            }
            JobStatus::from_hash(fields).ok()
        }
        _ => None,
    }
}

/// A status key as read for compare-and-set: its token (as the Lua prelude's `token`
/// computes it) and the status it holds.
#[derive(Debug, Clone, Default)]
pub(super) struct RawStatus {
    pub(super) token: String,
    pub(super) status: Option<JobStatus>,
}

/// The compare-and-set token of one reply of [`READ_STATUSES`].
fn raw_status(v: &redis::Value) -> RawStatus {
    let status = decode_status(v);
    let redis::Value::Array(items) = v else {
        return RawStatus::default();
    };
    let text = |i: usize| -> String {
        items
            .get(i)
            .and_then(|v| redis::from_redis_value(v).ok())
            .unwrap_or_default()
    };
    let token = match text(0).as_str() {
        "s" => text(1),
        "h" => {
            let state = (1..items.len())
                .step_by(2)
                .find(|&i| text(i) == "status")
                .map(|i| text(i + 1))
                .unwrap_or_default();
            format!("__hash:{state}")
        }
        "o" => format!("__{}", text(1)),
        _ => String::new(),
    };
    RawStatus { token, status }
}

/// What a worker's progress write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressWrite {
    /// Written to both status keys.
    Written,
    /// Cancel was requested: the `cancelling` variant was written.
    CancelRequested,
    /// A status key already holds this final state (someone else ended the job): nothing
    /// was written; the job must stop.
    Final(JobState),
}

/// The final status to write for a job whose run ended with `ours`, given what its two
/// status keys hold now: ours, unless a key already holds a final state (written by
/// TickStock's cancel or stale-job cleanup, or by our cancel of a job whose worker looked
/// gone). Then that state stands, with its message and fields, and our counts beside them:
/// an externally cancelled job never becomes completed.
pub fn settle_final(
    ours: &JobStatus,
    primary: Option<&JobStatus>,
    alt: Option<&JobStatus>,
) -> JobStatus {
    let Some(ext) = [alt, primary]
        .into_iter()
        .flatten()
        .find(|s| s.state.is_terminal())
    else {
        return ours.clone();
    };
    let mut st = ours.clone();
    st.state = ext.state;
    st.progress = st.progress.max(ext.progress);
    if ext.message.is_some() {
        st.message = ext.message.clone();
    }
    if ext.error_message.is_some() {
        st.error_message = ext.error_message.clone();
    }
    if ext.completed_at.is_some() {
        st.copy_time(ext, "completed_at");
    }
    for (k, v) in &ext.extra {
        st.extra.insert(k.clone(), v.clone());
    }
    st
}

/// Status field: the [`tickstock_protocol::job::message_digest`] of the message the status belongs to.
pub const MESSAGE_DIGEST: &str = "message_digest";

/// Status field: the stream entry being run (written by the worker that runs it).
pub const STREAM_ENTRY: &str = "stream_entry";

/// Whether a stream entry (with its message's digest) may change a job's status: never
/// a final one; a running one only when that entry is the one being run; a waiting one
/// only when it was submitted with this message (or by a writer that kept no digest).
pub fn entry_may_change(status: Option<&JobStatus>, entry_id: &str, digest: &str) -> bool {
    let Some(st) = status else {
        return true;
    };
    let field = |k: &str| st.extra.get(k).and_then(|v| v.as_str());
    if st.state.is_terminal() {
        return false;
    }
    if matches!(st.state, JobState::Running | JobState::Cancelling) {
        return field(STREAM_ENTRY) == Some(entry_id);
    }
    field(MESSAGE_DIGEST).is_none_or(|d| d == digest)
}

/// Of a job's two status values, the one further along (ours on a tie).
pub(super) fn merge(primary: Option<JobStatus>, alt: Option<JobStatus>) -> Option<JobStatus> {
    match (primary, alt) {
        (Some(p), Some(a)) => Some(if rank(a.state) > rank(p.state) { a } else { p }),
        (p, a) => p.or(a),
    }
}

impl Bus {
    /// The status of one job (either key name, either encoding).
    pub async fn status(&self, job_id: &str) -> Result<Option<JobStatus>> {
        Ok(self.statuses(&[job_id.to_string()]).await?.pop().flatten())
    }

    /// The statuses of many jobs in one round trip, in the order asked.
    pub async fn statuses(&self, ids: &[String]) -> Result<Vec<Option<JobStatus>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = READ_STATUSES.prepare_invoke();
        for id in ids {
            inv.key(self.keys.status(id)).key(self.keys.status_alt(id));
        }
        let mut c = self.conn.clone();
        let reply: Vec<redis::Value> = inv.invoke_async(&mut c).await?;
        let mut out = Vec::with_capacity(ids.len());
        for pair in reply.chunks(2) {
            let primary = pair.first().and_then(decode_status);
            let alt = pair.get(1).and_then(decode_status);
            out.push(merge(primary, alt));
        }
        Ok(out)
    }

    /// Writes a status (from a worker or a tool) to both status keys, unconditionally, with
    /// their expiries (2 h and 24 h). A hash at `tickstock.jobs.status:{id}` is replaced.
    pub async fn put_status(&self, job_id: &str, status: &JobStatus) -> Result<()> {
        let json = status.to_json();
        let mut c = self.conn.clone();
        redis::pipe()
            .atomic()
            .set_ex(self.keys.status(job_id), &json, STATUS_TTL_SECS)
            .ignore()
            .set_ex(self.keys.status_alt(job_id), &json, STATUS_ALT_TTL_SECS)
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// A worker's progress write. Returns true when the job must stop: cancel has been
    /// requested (the `cancelling` variant was written instead), or a status key already
    /// holds a final state someone else wrote (nothing was written).
    pub async fn put_progress(&self, job_id: &str, status: &JobStatus) -> Result<bool> {
        Ok(self.put_progress_checked(job_id, status).await? != ProgressWrite::Written)
    }

    /// A worker's progress write to both status keys, atomically: never over a final
    /// state on either key (TickStock's cancel or stale-job cleanup may have written one, as
    /// a string or a hash), and the `cancelling` variant when cancel was requested.
    pub async fn put_progress_checked(
        &self,
        job_id: &str,
        status: &JobStatus,
    ) -> Result<ProgressWrite> {
        let mut cancelling = status.clone();
        cancelling.state = JobState::Cancelling;
        cancelling.message = Some("Cancel requested; stopping after the current chunk".into());
        // The job stays in the index of jobs (a Redis restarted empty lost it, and the
        // page's list of active jobs with it): added again at its submit time.
        let submitted_ms = status
            .extra
            .get("submitted_at_utc")
            .and_then(|v| v.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| (super::unix_now() * 1000.0) as i64);
        let mut c = self.conn.clone();
        let (code, word): (i64, String) = WORKER_STATUS
            .key(self.keys.status(job_id))
            .key(self.keys.status_alt(job_id))
            .key(self.keys.cancel_flag(job_id))
            .key(self.keys.index())
            .arg(status.to_json())
            .arg(cancelling.to_json())
            .arg(STATUS_TTL_SECS)
            .arg(STATUS_ALT_TTL_SECS)
            .arg(submitted_ms)
            .arg(job_id)
            .invoke_async(&mut c)
            .await?;
        Ok(match code {
            0 => ProgressWrite::Written,
            1 => ProgressWrite::CancelRequested,
            _ => ProgressWrite::Final(JobState::parse(&word).unwrap_or(JobState::Cancelled)),
        })
    }

    /// Why a running job must stop now, if it must: `"cancel"` when its cancel flag is set,
    /// else the status word of a status key (either name, either encoding) that holds a
    /// final state or `cancelling`, written by someone else. One round trip.
    pub async fn stop_requested(&self, job_id: &str) -> Result<Option<String>> {
        let mut c = self.conn.clone();
        let why: String = STOP_CHECK
            .key(self.keys.status(job_id))
            .key(self.keys.status_alt(job_id))
            .key(self.keys.cancel_flag(job_id))
            .invoke_async(&mut c)
            .await?;
        Ok(Some(why).filter(|w| !w.is_empty()))
    }

    /// Writes a job's final status to both keys and, with `ack = Some(entry id)`,
    /// acknowledges and deletes its stream entry in the same atomic step. A final state
    /// already on either key (someone else cancelled or failed the job) is kept: see
    /// [`settle_final`]. Returns the status written.
    pub async fn finish_status(
        &self,
        job_id: &str,
        fin: &JobStatus,
        ack: Option<&str>,
    ) -> Result<JobStatus> {
        for _ in 0..10 {
            let (primary, alt) = self.read_both(job_id).await?;
            let settled = settle_final(fin, primary.status.as_ref(), alt.status.as_ref());
            let mut inv = CAS_STATUS.prepare_invoke();
            inv.key(self.keys.status(job_id))
                .key(self.keys.status_alt(job_id))
                .arg(&primary.token)
                .arg(&alt.token)
                .arg(settled.to_json())
                .arg(STATUS_TTL_SECS)
                .arg(STATUS_ALT_TTL_SECS);
            if let Some(entry_id) = ack {
                inv.key(self.keys.stream())
                    .arg(self.keys.group())
                    .arg(entry_id);
            }
            let mut c = self.conn.clone();
            let ok: i64 = inv.invoke_async(&mut c).await?;
            if ok == 1 {
                return Ok(settled);
            }
        }
        Err(BusError::FinalStatusContended {
            job_id: job_id.into(),
        }
        .into())
    }

    /// Both status keys of a job (`job:status:{id}`, `tickstock.jobs.status:{id}`) as
    /// read for compare-and-set, in one round trip, `TYPE` checked first.
    pub(super) async fn read_both(&self, job_id: &str) -> Result<(RawStatus, RawStatus)> {
        let mut c = self.conn.clone();
        let reply: Vec<redis::Value> = READ_STATUSES
            .key(self.keys.status(job_id))
            .key(self.keys.status_alt(job_id))
            .invoke_async(&mut c)
            .await?;
        let primary = reply.first().map(raw_status).unwrap_or_default();
        let alt = reply.get(1).map(raw_status).unwrap_or_default();
        Ok((primary, alt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn further_status_wins() {
        let sub = JobStatus::new(JobState::Submitted);
        let run = JobStatus::new(JobState::Running);
        assert_eq!(
            merge(Some(sub.clone()), Some(run.clone())).unwrap().state,
            JobState::Running
        );
        assert_eq!(
            merge(Some(run), Some(sub)).unwrap().state,
            JobState::Running
        );
        assert!(merge(None, None).is_none());
    }

    #[test]
    fn a_final_state_someone_else_wrote_stands() {
        let mut ours = JobStatus::new(JobState::Completed);
        ours.progress = 100;
        ours.message = Some("Completed: 3 symbols, 30 bars".into());
        ours.ohlcv_records_loaded = Some(30);
        ours.successful_symbols = vec!["AAPL".into()];
        // Nothing final on the keys: ours is written.
        let running = JobStatus::new(JobState::Running);
        assert_eq!(settle_final(&ours, Some(&running), Some(&running)), ours);
        // TickStock's page cancelled it (a hash at tickstock.jobs.status:{id}).
        let cancelled = JobStatus::from_hash([
            ("status", "cancelled"),
            ("progress", "0"),
            ("message", "Cancelled by admin"),
            ("cancelled_at", "2025-12-27T18:05:00.000001"),
            ("cancelled_by", "admin"),
        ])
        .unwrap();
        let st = settle_final(&ours, Some(&running), Some(&cancelled));
        assert_eq!(st.state, JobState::Cancelled);
        assert_eq!(st.message.as_deref(), Some("Cancelled by admin"));
        assert_eq!(st.extra["cancelled_by"], "admin");
        assert_eq!(st.extra["cancelled_at"], "2025-12-27T18:05:00.000001");
        assert_eq!(st.ohlcv_records_loaded, Some(30), "our counts are kept");
        // Its stale cleanup's old word on the legacy key.
        let error =
            JobStatus::from_json(r#"{"status":"error","progress":15,"error_message":"stale job"}"#)
                .unwrap();
        let st = settle_final(&ours, Some(&error), None);
        assert_eq!(st.state, JobState::Failed);
        assert_eq!(st.error_message.as_deref(), Some("stale job"));
    }

    #[test]
    fn compare_and_set_tokens_match_the_lua_prelude() {
        use redis::Value as V;
        let bulk = |s: &str| V::BulkString(s.as_bytes().to_vec());
        assert_eq!(raw_status(&V::Array(vec![])).token, "");
        let s = raw_status(&V::Array(vec![bulk("s"), bulk(r#"{"status":"running"}"#)]));
        assert_eq!(s.token, r#"{"status":"running"}"#);
        assert_eq!(s.status.unwrap().state, JobState::Running);
        let h = raw_status(&V::Array(vec![
            bulk("h"),
            bulk("progress"),
            bulk("0"),
            bulk("status"),
            bulk("submitted"),
        ]));
        assert_eq!(h.token, "__hash:submitted");
        assert_eq!(h.status.unwrap().state, JobState::Submitted);
        let o = raw_status(&V::Array(vec![bulk("o"), bulk("list")]));
        assert_eq!((o.token.as_str(), o.status.is_none()), ("__list", true));
    }
}
