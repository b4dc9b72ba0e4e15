//! Submitting a job: its first status on both keys, the stream entry, the index entry and
//! the legacy pub/sub message in one `MULTI`/`EXEC`.

use tracing::debug;

use super::{unix_now, Bus, BusError, INDEX_MAX_LEN, MESSAGE_DIGEST, STREAM_MAX_LEN};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;
use tickstock_protocol::keys::{STATUS_ALT_TTL_SECS, STATUS_TTL_SECS};
use tickstock_protocol::status::{JobState, JobStatus, Stamp};

impl Bus {
    /// The first status a job gets.
    pub fn initial_status(job: &Job) -> JobStatus {
        let mut st = JobStatus::new(JobState::Submitted);
        st.message = Some("Job submitted".into());
        st.job_type = Some(job.job_type().as_str().into());
        st.set_time("submitted_at", Stamp::now());
        st.total_symbols = job.spec.symbols().map(|s| s.len() as u64);
        st.extra.insert("description".into(), job.describe().into());
        st.extra.insert(
            MESSAGE_DIGEST.into(),
            tickstock_protocol::job::message_digest(&job.to_json()).into(),
        );
        st
    }

    /// Submits a job: both status keys, stream entry, index entry and (optionally) the
    /// legacy pub/sub message in one atomic step, once a read has found the job id unused.
    pub async fn submit(&self, job: &Job) -> Result<()> {
        let json = job.to_json();
        // A job id is never reused: a second job under it would run beside the first
        // and take over its checkpoints.
        if self.status(&job.id).await?.is_some() {
            return Err(BusError::IdInUse {
                job_id: job.id.clone(),
            }
            .into());
        }
        if json.len() > tickstock_protocol::job::MAX_MESSAGE_BYTES {
            return Err(BusError::MessageTooLarge {
                size: json.len(),
                limit: tickstock_protocol::job::MAX_MESSAGE_BYTES,
            }
            .into());
        }
        let status = Bus::initial_status(job).to_json();
        let now_ms = (unix_now() * 1000.0) as i64;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.keys.status(&job.id))
            .arg(&status)
            .arg("EX")
            .arg(STATUS_TTL_SECS)
            .ignore()
            .cmd("SET")
            .arg(self.keys.status_alt(&job.id))
            .arg(&status)
            .arg("EX")
            .arg(STATUS_ALT_TTL_SECS)
            .ignore()
            .cmd("XADD")
            .arg(self.keys.stream())
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_MAX_LEN)
            .arg("*")
            .arg("job")
            .arg(&json)
            .arg("job_id")
            .arg(&job.id)
            .ignore()
            .cmd("ZADD")
            .arg(self.keys.index())
            .arg(now_ms)
            .arg(&job.id)
            .ignore()
            .cmd("ZREMRANGEBYRANK")
            .arg(self.keys.index())
            .arg(0)
            .arg(-(INDEX_MAX_LEN + 1))
            .ignore();
        // Kinds of ours (top_up) are never sent to TickStockPL workers.
        if self.cfg.publish_legacy && job.job_type().is_legacy() {
            pipe.cmd("PUBLISH")
                .arg(self.keys.channel_data_load())
                .arg(&json)
                .ignore();
        }
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await?;
        debug!(job_id = %job.id, kind = %job.job_type(), "job submitted");
        Ok(())
    }
}
