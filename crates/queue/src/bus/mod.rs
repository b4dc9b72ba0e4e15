//! The Redis job bus: submit, status, list, cancel, health and the stream operations a
//! worker needs, legacy-compatible and durable. One file per group of operations:
//! - `connect`: connecting, the consumer group, the connection for blocking reads;
//! - `submit`: both status keys (legacy JSON: `job:status:{id}` for 2 h and
//!   `tickstock.jobs.status:{id}`, the key TickStock's page reads, for 24 h), stream entry
//!   (durable, consumer group), index entry, and the legacy pub/sub message, all in one
//!   `MULTI`/`EXEC`;
//! - `status`: any number of jobs read in ONE round trip (a Lua script that checks each
//!   key's `TYPE` first, so a hash never causes `WRONGTYPE`, and reads both legacy key
//!   names); every write of ours (submit, worker progress, final state, cancel) puts the
//!   same JSON string in both keys; progress and final writes never overwrite a final state
//!   someone else wrote (TickStock's cancel or stale-job cleanup) and make the worker stop
//!   instead;
//! - `list`: from the sorted-set index (never `KEYS`);
//! - `cancel`: the legacy control message plus a durable cancel flag the worker checks,
//!   and a compare-and-set status change that never overwrites a finished job;
//! - `health`: round-trip time, legacy heartbeats, per-worker entries and queue depth, and
//!   the worker's own heartbeat write;
//! - `control`: the queue's pause, commands to one worker (quiet, stop), the queue's
//!   waiting and in-flight jobs with their ages, and the workers as an operator reads them;
//! - `orders`: the pause and a worker's command as that worker reads them, put back by it
//!   when Redis lost them;
//! - `dead`: the dead letters: list, requeue, delete, purge;
//! - `stream`, `checkpoints`, `legacy`: what a worker does with the stream (read, release,
//!   acknowledge, dead-letter), its checkpoints, and the legacy channels, as typed
//!   operations so no caller sends raw commands;
//! - `lease`: one job id on one worker at a time: the job's lease, taken when it starts,
//!   refreshed with its entry's claim, and the take-over that claims only unleased jobs.
//!
//! Writes that belong together happen in one atomic step (a `MULTI`/`EXEC` or a Lua
//! script); the compare-and-set writes (final status, cancel) read first and try again
//! when a key changed in between. [`Bus`] is a cheap-clone handle over a `ConnectionManager`, which
//! reconnects by itself after Redis restarts.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use tickstock_data::polygon::shared_budget::PlanValue;
use tickstock_data::polygon::PolygonClient;
use tickstock_protocol::error::Result;
use tickstock_protocol::keys::Keys;
use tickstock_protocol::settings::BusConfig;

mod cancel;
mod checkpoints;
mod connect;
mod control;
mod dead;
mod error;
mod health;
mod lease;
mod legacy;
mod list;
mod orders;
mod scripts;
mod status;
mod stream;
mod submit;

pub use cancel::{CancelOutcome, CANCEL_TTL_SECS};
pub use control::{
    Gate, InFlightJob, PauseInfo, QueueView, QueuedJob, WorkerCommand, WorkerOrder, WorkerRow,
    WorkerState, QUEUE_VIEW_LIMIT,
};
pub use dead::{DeadLetter, ID_IN_USE_REASON};
pub use error::BusError;
pub use health::{
    judge_heartbeat, Health, HeartbeatView, QueueDepth, RedisHealth, WorkerBeat, WorkerInfo,
    HEALTH_PING_TIMEOUT, HEARTBEAT_SILENT_SECS, HEARTBEAT_STALE_SECS,
};
pub use lease::{leasable, lease_holder};
pub use legacy::LegacyMessage;
pub use list::JobEntry;
pub use orders::Orders;
pub use status::{entry_may_change, settle_final, ProgressWrite, MESSAGE_DIGEST, STREAM_ENTRY};
pub use stream::StreamEntry;

/// Stream entries kept (approximately) before the oldest are trimmed.
pub const STREAM_MAX_LEN: usize = 100_000;
/// Jobs kept in the index of recent jobs.
pub const INDEX_MAX_LEN: isize = 10_000;

/// The job bus. Clone it freely: clones share one connection.
#[derive(Clone)]
pub struct Bus {
    client: redis::Client,
    conn: ConnectionManager,
    keys: Keys,
    cfg: Arc<BusConfig>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("url", &self.cfg.redacted_url())
            .field("namespace", &self.keys.namespace())
            .finish()
    }
}

pub use tickstock_protocol::status::{iso_now, unix_now};

impl Bus {
    /// From now on, counts every request of `polygon` (and its clones) against its key's
    /// budget in this Redis, shared by every process using the key
    /// ([`PolygonClient::share_budget`]).
    pub async fn share_polygon_budget(
        &self,
        polygon: &PolygonClient,
        explicit: bool,
        who: &str,
    ) -> std::result::Result<PlanValue, redis::RedisError> {
        polygon
            .share_budget(self.conn(), self.keys(), explicit, who)
            .await
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The Redis URL without its password.
    pub fn redacted_url(&self) -> String {
        self.cfg.redacted_url()
    }

    pub fn config(&self) -> &BusConfig {
        &self.cfg
    }

    /// A clone of the shared connection.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Claims a lease: true for the one caller that set `key` (it did not exist), which
    /// then holds it for `ttl`.
    pub async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let mut c = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(holder)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async(&mut c)
            .await?;
        Ok(set.is_some())
    }
}
