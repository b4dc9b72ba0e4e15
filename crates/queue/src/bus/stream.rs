//! What a worker does with the job stream, as typed operations: read a new entry for a
//! consumer, release an entry for the next worker, acknowledge one, and move one to the
//! dead letters. (Taking over an entry whose worker went silent, and keeping a claim
//! fresh, go with the job's lease: `lease`.) (Ending
//! an entry together with its job's final status is [`Bus::finish_status`].)
//!
//! The reads take the caller's blocking connection ([`Bus::blocking_connection`]): a read
//! that waits would hold up every other user of the shared one.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamMaxlen, StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;

use super::{Bus, BusError};
use tickstock_protocol::error::Result;
use tickstock_protocol::status::Stamp;

/// Dead-letter entries kept (approximately) before the oldest are trimmed.
const DEAD_LETTER_MAX_LEN: usize = 10_000;

/// The idle time a released entry is given: past the longest take-over delay a worker
/// may be started with, so whichever worker looks next resumes it at once.
const RELEASED_IDLE_MS: u64 = 2 * 86_400_000;

/// An entry of the job stream as a worker receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The stream entry id (`1700000000000-0`).
    pub id: String,
    /// Its fields (`job`: the message text, `job_id`); values that are not text are left out.
    pub fields: HashMap<String, String>,
    /// How many times it has been delivered, this delivery included.
    pub deliveries: u64,
}

impl StreamEntry {
    pub(super) fn from_stream_id(sid: StreamId, deliveries: u64) -> StreamEntry {
        let fields = sid
            .map
            .iter()
            .filter_map(|(k, v)| {
                redis::from_redis_value::<String>(v)
                    .ok()
                    .map(|s| (k.clone(), s))
            })
            .collect();
        StreamEntry {
            id: sid.id,
            fields,
            deliveries,
        }
    }
}

impl Bus {
    /// Waits up to `block` for an entry no consumer of the group has had yet and delivers
    /// it to `consumer`. [`BusError::GroupGone`] when the stream or its group is missing
    /// (see [`Bus::ensure_group`]).
    pub async fn read_new_entry(
        &self,
        conn: &mut ConnectionManager,
        consumer: &str,
        block: Duration,
    ) -> Result<Option<StreamEntry>, BusError> {
        let opts = StreamReadOptions::default()
            .group(self.keys.group(), consumer)
            .count(1)
            .block(block.as_millis() as usize);
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[self.keys.stream()], &[">"], &opts)
            .await
            .map_err(BusError::from_stream)?;
        Ok(reply
            .and_then(|r| r.keys.into_iter().next())
            .and_then(|k| k.ids.into_iter().next())
            .map(|sid| StreamEntry::from_stream_id(sid, 1)))
    }

    /// Makes an entry `consumer` holds available to other workers at once: it stays
    /// pending (not acknowledged) with an idle time far past `claim_idle` and past any
    /// worker's longest idle setting (two days), so the next
    /// [`Bus::take_over_idle`] claims it and resumes the job from its checkpoints (the
    /// caller gives up the job's lease too: [`Bus::release_job_lease`]).
    pub async fn release_entry(
        &self,
        consumer: &str,
        entry_id: &str,
        claim_idle: Duration,
    ) -> Result<()> {
        let idle_ms = (claim_idle.as_millis() as u64)
            .saturating_mul(1000)
            .max(RELEASED_IDLE_MS);
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(self.keys.stream())
            .arg(self.keys.group())
            .arg(consumer)
            .arg(0)
            .arg(entry_id)
            .arg("IDLE")
            .arg(idle_ms)
            .arg("JUSTID");
        let mut c = self.conn();
        let _: redis::Value = cmd.query_async(&mut c).await?;
        Ok(())
    }

    /// Acknowledges and deletes an entry that has no job status to write (an unreadable
    /// message), in one atomic step.
    pub async fn ack_entry(&self, entry_id: &str) -> Result<()> {
        let (stream, group) = (self.keys.stream(), self.keys.group());
        let mut c = self.conn();
        redis::pipe()
            .atomic()
            .xack(&stream, group, &[entry_id])
            .ignore()
            .xdel(&stream, &[entry_id])
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// Adds an entry to the dead-letter stream with why and by whom it was given up on.
    /// The entry itself is left pending: the caller ends it ([`Bus::finish_status`] or
    /// [`Bus::ack_entry`]). An oversized message is not copied a second time.
    pub async fn dead_letter(
        &self,
        entry: &StreamEntry,
        reason: &str,
        worker_id: &str,
    ) -> Result<()> {
        let job = entry.fields.get("job").cloned().unwrap_or_default();
        let job = if job.len() > tickstock_protocol::job::MAX_MESSAGE_BYTES {
            format!("({} bytes, over the message limit: not kept)", job.len())
        } else {
            job
        };
        let mut c = self.conn();
        let _: String = c
            .xadd_maxlen(
                self.keys.dead_letters(),
                StreamMaxlen::Approx(DEAD_LETTER_MAX_LEN),
                "*",
                &[
                    ("job", job),
                    ("entry_id", entry.id.clone()),
                    ("reason", reason.to_string()),
                    ("deliveries", entry.deliveries.to_string()),
                    ("failed_at", Stamp::now().utc()),
                    ("worker_id", worker_id.to_string()),
                ],
            )
            .await?;
        Ok(())
    }
}
