//! The dead letters: jobs a worker gave up on (delivered too many times, or a message it
//! could not run), kept in [`Keys::dead_letters`] with why. An operator lists them,
//! requeues one (a new stream entry for the same job, its status back to `queued`, the
//! dead entry removed, all in one script so two requeues never queue it twice), deletes
//! one, or purges them all.
//!
//! [`Keys::dead_letters`]: tickstock_protocol::keys::Keys::dead_letters

use redis::AsyncCommands;
use serde::Serialize;

use super::control::{entry_ms, message_fields};
use super::{unix_now, Bus, INDEX_MAX_LEN, MESSAGE_DIGEST, STREAM_MAX_LEN};
use tickstock_protocol::error::{quote_input, Error, ErrorKind, Result};
use tickstock_protocol::job::{parse_message, Job};
use tickstock_protocol::keys::{STATUS_ALT_TTL_SECS, STATUS_TTL_SECS};
use tickstock_protocol::status::{JobState, JobStatus};

/// How the reason of an entry refused for its job id begins (a copy of a running job's
/// entry, a message under a used id): such a dead letter is never requeued.
pub const ID_IN_USE_REASON: &str = "job id ";

/// One dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream (what requeue and delete take).
    pub id: String,
    pub job_id: Option<String>,
    pub kind: Option<String>,
    pub requested_by: Option<String>,
    pub reason: String,
    pub deliveries: u64,
    /// When it was given up on (UTC).
    pub failed_at: Option<String>,
    pub age_seconds: f64,
    /// The worker that gave up on it.
    pub worker_id: Option<String>,
    /// Its message is a job that can be queued again (not one refused for its job id).
    pub requeueable: bool,
}

/// Queues a dead letter's job again, atomically, only if the dead entry is still there.
/// KEYS = [dead, stream, status, status_alt, index, cancel flag];
/// ARGV = [dead entry id, job json, job id, status json, status ttl, alt ttl, now ms,
/// stream max len, index max len]. Returns the new stream entry id, or false.
const REQUEUE: &str = r"
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[6])
redis.call('DEL', KEYS[6])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'job', ARGV[2], 'job_id', ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(tonumber(ARGV[9]) + 1))
return id
";

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("No dead letter {}", quote_input(id)),
    )
}

impl Bus {
    /// The dead letters, newest first (at most `limit`).
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let mut c = self.conn();
        let reply: redis::streams::StreamRangeReply = c
            .xrevrange_count(self.keys.dead_letters(), "+", "-", limit.max(1))
            .await?;
        let now_ms = (unix_now() * 1000.0) as i64;
        Ok(reply
            .ids
            .iter()
            .map(|sid| {
                let f = |k: &str| {
                    sid.map
                        .get(k)
                        .and_then(|v| redis::from_redis_value::<String>(v).ok())
                };
                let job = f("job");
                let (kind, requested_by) = message_fields(job.as_ref());
                let parsed = job
                    .as_deref()
                    .map(|j| parse_message(j).and_then(Job::from_value));
                let ms = entry_ms(&sid.id).unwrap_or(now_ms);
                DeadLetter {
                    id: sid.id.clone(),
                    job_id: match &parsed {
                        Some(Ok(j)) => Some(j.id.clone()),
                        _ => job
                            .as_deref()
                            .and_then(tickstock_protocol::job::loose_job_id),
                    },
                    kind,
                    requested_by,
                    reason: f("reason").unwrap_or_default(),
                    deliveries: f("deliveries").and_then(|d| d.parse().ok()).unwrap_or(0),
                    failed_at: f("failed_at"),
                    age_seconds: ((now_ms - ms).max(0)) as f64 / 1000.0,
                    worker_id: f("worker_id"),
                    requeueable: matches!(parsed, Some(Ok(_)))
                        && !f("reason").is_some_and(|r| r.starts_with(ID_IN_USE_REASON)),
                }
            })
            .collect())
    }

    /// The job of a dead letter, as [`Bus::requeue_dead_letter`] would queue it again; an
    /// error when it must not be queued again (see `check_requeue`).
    pub async fn dead_letter_job(&self, dead_id: &str) -> Result<Job> {
        let dead_id = dead_id.trim();
        let mut c = self.conn();
        let reply: redis::streams::StreamRangeReply = c
            .xrange_count(self.keys.dead_letters(), dead_id, dead_id, 1)
            .await
            .map_err(|_| not_found(dead_id))?;
        let sid = reply.ids.first().ok_or_else(|| not_found(dead_id))?;
        let text: String = sid
            .map
            .get("job")
            .and_then(|v| redis::from_redis_value(v).ok())
            .unwrap_or_default();
        let job = parse_message(&text)
            .and_then(Job::from_value)
            .map_err(|e| {
                Error::invalid(format!(
                    "Dead letter {} cannot be requeued: its message is not a job ({})",
                    quote_input(dead_id),
                    e.message()
                ))
            })?;
        let reason: String = sid
            .map
            .get("reason")
            .and_then(|v| redis::from_redis_value(v).ok())
            .unwrap_or_default();
        self.check_requeue(dead_id, &job, &text, &reason).await?;
        Ok(job)
    }

    /// Queues a dead letter's job again: a new stream entry for the same job (it resumes
    /// from its checkpoints), its status back to `queued`, any cancel flag cleared and the
    /// dead letter removed. Returns the job. Refused when that would run a job twice or
    /// rewrite another job's record ([`Bus::dead_letter_job`]).
    pub async fn requeue_dead_letter(&self, dead_id: &str, requested_by: &str) -> Result<Job> {
        let dead_id = dead_id.trim();
        let job = self.dead_letter_job(dead_id).await?;
        let mut c = self.conn();
        let mut st: JobStatus = Bus::initial_status(&job);
        st.state = JobState::Queued;
        st.message = Some(format!("Requeued from the dead letters by {requested_by}"));
        let queued: Option<String> = redis::Script::new(REQUEUE)
            .key(self.keys.dead_letters())
            .key(self.keys.stream())
            .key(self.keys.status(&job.id))
            .key(self.keys.status_alt(&job.id))
            .key(self.keys.index())
            .key(self.keys.cancel_flag(&job.id))
            .arg(dead_id)
            .arg(job.to_json())
            .arg(&job.id)
            .arg(st.to_json())
            .arg(STATUS_TTL_SECS)
            .arg(STATUS_ALT_TTL_SECS)
            .arg((unix_now() * 1000.0) as i64)
            .arg(STREAM_MAX_LEN)
            .arg(INDEX_MAX_LEN)
            .invoke_async(&mut c)
            .await?;
        match queued {
            Some(_) => Ok(job),
            // Requeued or deleted by someone else meanwhile.
            None => Err(not_found(dead_id)),
        }
    }

    /// Refuses a requeue that would run a job twice or rewrite another job's record: an
    /// entry refused because its job id was in use (a copy, or another message under a
    /// used id), a job running now, a job already completed, or a job whose status was
    /// written for another message.
    async fn check_requeue(
        &self,
        dead_id: &str,
        job: &Job,
        text: &str,
        reason: &str,
    ) -> Result<()> {
        let refuse = |why: String| {
            Err(Error::invalid(format!(
                "Dead letter {} cannot be requeued: {why}",
                quote_input(dead_id)
            )))
        };
        if reason.starts_with(ID_IN_USE_REASON) {
            return refuse(format!(
                "it was refused because job {} was in use by another entry or message; submit it as a new job",
                job.id
            ));
        }
        let Some(st) = self.status(&job.id).await? else {
            return Ok(());
        };
        let digest = tickstock_protocol::job::message_digest(text);
        let theirs = st.extra.get(MESSAGE_DIGEST).and_then(|d| d.as_str());
        if theirs.is_some_and(|d| d != digest) {
            return refuse(format!(
                "job {} belongs to another message now; submit it as a new job",
                job.id
            ));
        }
        match st.state {
            JobState::Running | JobState::Cancelling => {
                refuse(format!("job {} is running now", job.id))
            }
            JobState::Completed | JobState::CompletedWithErrors => refuse(format!(
                "job {} has already {}",
                job.id,
                if st.state == JobState::Completed {
                    "completed"
                } else {
                    "completed with errors"
                }
            )),
            _ => Ok(()),
        }
    }

    /// Deletes one dead letter; returns false when it was not there.
    pub async fn delete_dead_letter(&self, dead_id: &str) -> Result<bool> {
        let mut c = self.conn();
        let n: i64 = c
            .xdel(self.keys.dead_letters(), &[dead_id.trim()])
            .await
            .map_err(|_| not_found(dead_id))?;
        Ok(n > 0)
    }

    /// Deletes every dead letter; returns how many there were.
    pub async fn purge_dead_letters(&self) -> Result<u64> {
        let key = self.keys.dead_letters();
        let mut c = self.conn();
        let (n, _): (u64, i64) = redis::pipe()
            .atomic()
            .xlen(&key)
            .del(&key)
            .query_async(&mut c)
            .await?;
        Ok(n)
    }
}
