//! What a worker does with the job stream, as typed operations: read a new entry for a
//! consumer, take over an entry whose worker went silent, keep a claim fresh, release an
//! entry for the next worker, acknowledge one, and move one to the dead letters. (Ending
//! an entry together with its job's final status is [`Bus::finish_status`].)
//!
//! The reads take the caller's blocking connection ([`Bus::blocking_connection`]): a read
//! that waits would hold up every other user of the shared one.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamMaxlen, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use redis::AsyncCommands;

use super::{Bus, BusError};
use crate::error::Result;
use crate::status::Stamp;

/// Dead-letter entries kept (approximately) before the oldest are trimmed.
const DEAD_LETTER_MAX_LEN: usize = 10_000;

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
    fn from_stream_id(sid: StreamId, deliveries: u64) -> StreamEntry {
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

    /// Claims for `consumer` one entry that has been held by another consumer, without a
    /// claim refresh, for at least `min_idle` (its worker went silent), with its delivery
    /// count. [`BusError::GroupGone`] when the stream or its group is missing.
    pub async fn take_over_idle(
        &self,
        conn: &mut ConnectionManager,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Option<StreamEntry>, BusError> {
        let (stream, group) = (self.keys.stream(), self.keys.group());
        let reply: StreamAutoClaimReply = conn
            .xautoclaim_options(
                &stream,
                group,
                consumer,
                min_idle.as_millis() as u64,
                "0-0",
                StreamAutoClaimOptions::default().count(1),
            )
            .await
            .map_err(BusError::from_stream)?;
        let Some(sid) = reply.claimed.into_iter().next() else {
            return Ok(None);
        };
        let pending: StreamPendingCountReply = conn
            .xpending_count(&stream, group, &sid.id, &sid.id, 1)
            .await?;
        let deliveries = pending
            .ids
            .first()
            .map(|p| p.times_delivered as u64)
            .unwrap_or(1);
        Ok(Some(StreamEntry::from_stream_id(sid, deliveries)))
    }

    /// Keeps `consumer`'s claim on an entry fresh (resets its idle time), so a long job is
    /// never taken over while its worker is alive.
    pub async fn refresh_claim(&self, consumer: &str, entry_id: &str) -> Result<()> {
        self.claim(consumer, entry_id, None).await
    }

    /// Makes an entry `consumer` holds available to other workers at once: it stays
    /// pending (not acknowledged) with an idle time far past `claim_idle`, so the next
    /// [`Bus::take_over_idle`] claims it and resumes the job from its checkpoints.
    pub async fn release_entry(
        &self,
        consumer: &str,
        entry_id: &str,
        claim_idle: Duration,
    ) -> Result<()> {
        let idle_ms = claim_idle.as_millis() as u64 * 1000;
        self.claim(consumer, entry_id, Some(idle_ms)).await
    }

    /// `XCLAIM` of one entry for `consumer`, with its idle time reset or set to `idle_ms`.
    async fn claim(&self, consumer: &str, entry_id: &str, idle_ms: Option<u64>) -> Result<()> {
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(self.keys.stream())
            .arg(self.keys.group())
            .arg(consumer)
            .arg(0)
            .arg(entry_id);
        if let Some(ms) = idle_ms {
            cmd.arg("IDLE").arg(ms);
        }
        cmd.arg("JUSTID");
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
        let job = if job.len() > crate::job::MAX_MESSAGE_BYTES {
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
