//! Every Redis key and channel TickStock Admin reads or writes, with what it holds.
//!
//! Legacy names are exactly those of TickStockAppV2/TickStockPL so that old workers and
//! readers interoperate; durable names (ours) live under the `tickstock:` prefix.
//!
//! A [`Keys`] value carries an optional namespace that is put in front of every key and
//! channel (`{ns}:` + name). The default is no namespace, so production names stay exact;
//! tests use a random one each so they can run in parallel on one Redis without FLUSHDB,
//! and operators can run several environments on one server.

/// Legacy pub/sub channel on which every job message is published (TickStockPL listens).
pub const CHANNEL_DATA_LOAD: &str = "tickstock.jobs.data_load";
/// Legacy pub/sub channel for `cancel` / `cancel_all` control messages.
pub const CHANNEL_CONTROL: &str = "tickstock.jobs.control";
/// Legacy heartbeat: Unix seconds as a decimal string, refreshed every few seconds with an expiry.
pub const LEGACY_HEARTBEAT: &str = "tickstockpl:heartbeat";
/// TickStockPL producer heartbeat: same value, written every 60 s, no expiry.
pub const PRODUCER_HEARTBEAT: &str = "tickstock:producer:heartbeat";
/// Seconds a legacy status key (`job:status:{id}`) lives.
pub const STATUS_TTL_SECS: u64 = 7200;
/// Seconds TickStock's status key (`tickstock.jobs.status:{id}`) lives, as its submit
/// routes and workers set it.
pub const STATUS_ALT_TTL_SECS: u64 = 86_400;

/// Key and channel names, under an optional namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Production names: no namespace.
    pub fn new() -> Self {
        Keys::default()
    }

    /// Names under `namespace` (empty = none). `ns` becomes `ns:` in front of every name.
    pub fn with_namespace(namespace: &str) -> Self {
        let ns = namespace.trim().trim_end_matches(':');
        Keys {
            prefix: if ns.is_empty() {
                String::new()
            } else {
                format!("{ns}:")
            },
        }
    }

    /// The namespace (without the trailing `:`), empty when none.
    pub fn namespace(&self) -> &str {
        self.prefix.trim_end_matches(':')
    }

    fn k(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    // ---- legacy ----

    /// `tickstock.jobs.data_load`: job messages for legacy (pub/sub) workers.
    pub fn channel_data_load(&self) -> String {
        self.k(CHANNEL_DATA_LOAD)
    }

    /// `tickstock.jobs.control`: legacy cancel messages.
    pub fn channel_control(&self) -> String {
        self.k(CHANNEL_CONTROL)
    }

    /// `job:status:{id}`: the job's status as a JSON string, expiring after 2 h
    /// ([`STATUS_TTL_SECS`]). Written by the submitter (`submitted`), then by whichever
    /// worker runs the job, and by cancel; every such write also goes to
    /// [`Keys::status_alt`] with the same JSON.
    pub fn status(&self, job_id: &str) -> String {
        self.k(&format!("job:status:{job_id}"))
    }

    /// `tickstock.jobs.status:{id}`: TickStock's later status key, the only one
    /// TickStockAppV2's page and job monitor read. Its submit routes write a hash of strings
    /// (24 h expiry), its TickStockPL workers a JSON string. We write the same JSON string
    /// here as to [`Keys::status`] on every status write (submit, progress, final state,
    /// cancel), expiring after 24 h ([`STATUS_ALT_TTL_SECS`]); a hash found here is
    /// replaced by the string (`SET` replaces a key of any type). Readers check the key's
    /// `TYPE` first and accept both encodings. A final state written here by someone else
    /// (TickStock's cancel or its stale-job cleanup) stops our worker and is never
    /// overwritten by a running or completed status.
    pub fn status_alt(&self, job_id: &str) -> String {
        self.k(&format!("tickstock.jobs.status:{job_id}"))
    }

    /// `tickstockpl:heartbeat`: refreshed by every running worker (legacy readers look here).
    pub fn legacy_heartbeat(&self) -> String {
        self.k(LEGACY_HEARTBEAT)
    }

    /// `tickstock:heartbeat:ours`: the last value one of our workers wrote into the legacy
    /// heartbeat, so health can tell our writes from a TickStockPL worker's.
    pub fn legacy_heartbeat_ours(&self) -> String {
        self.k("tickstock:heartbeat:ours")
    }

    /// `tickstock:producer:heartbeat`: TickStockPL's own heartbeat; read only.
    pub fn producer_heartbeat(&self) -> String {
        self.k(PRODUCER_HEARTBEAT)
    }

    // ---- durable (ours) ----

    /// `tickstock:jobs:stream`: Redis Stream of job messages (field `job` = the JSON), read
    /// through the consumer group [`Keys::group`] so each job goes to one worker at a time
    /// and survives while no worker runs.
    pub fn stream(&self) -> String {
        self.k("tickstock:jobs:stream")
    }

    /// Consumer group name on [`Keys::stream`] (a group name, not a key; never namespaced).
    pub fn group(&self) -> &'static str {
        "tickstock-workers"
    }

    /// `tickstock:jobs:dead`: dead-letter stream: jobs delivered too many times or unreadable,
    /// with fields `job`, `reason`, `deliveries`, `failed_at`.
    pub fn dead_letters(&self) -> String {
        self.k("tickstock:jobs:dead")
    }

    /// `tickstock:jobs:index`: sorted set of job ids scored by submit time (Unix ms): the list
    /// of active and recent jobs without `KEYS`. Trimmed to the newest entries.
    pub fn index(&self) -> String {
        self.k("tickstock:jobs:index")
    }

    /// `tickstock:job:cancel:{id}`: durable cancel flag (JSON `{requested_by, timestamp}`),
    /// checked by the worker between chunks; expires after 24 h.
    pub fn cancel_flag(&self, job_id: &str) -> String {
        self.k(&format!("tickstock:job:cancel:{job_id}"))
    }

    /// `tickstock:job:lease:{id}`: the worker running a job (`"{worker} {entry}"`), set
    /// when it starts, refreshed with the entry's claim, deleted when the job ends or is
    /// released, expiring after the owner's lease time when the owner dies. A take-over
    /// claims only entries whose job has no lease: one job id runs on one worker at a time.
    pub fn job_lease(&self, job_id: &str) -> String {
        self.k(&format!("tickstock:job:lease:{job_id}"))
    }

    /// `tickstock:schedule:lease:{name}:{due}`: claimed (`SET NX`, 7 days) by the one worker
    /// that submits a schedule's job for that due time (Unix seconds).
    pub fn schedule_lease(&self, name: &str, due_unix: i64) -> String {
        self.k(&format!("tickstock:schedule:lease:{name}:{due_unix}"))
    }

    /// `tickstock:job:done:{id}`: set of finished `SYMBOL|timeframe` pairs of a job (the
    /// checkpoint a take-over resumes from); expires after 7 days.
    pub fn checkpoint(&self, job_id: &str) -> String {
        self.k(&format!("tickstock:job:done:{job_id}"))
    }

    /// `tickstock:job:done:{id}:rows`: hash of the rows each finished unit of a job loaded.
    pub fn checkpoint_rows(&self, job_id: &str) -> String {
        format!("{}:rows", self.checkpoint(job_id))
    }

    /// `tickstock:job:done:{id}:digest`: the digest of the message a job's checkpoints
    /// were made for.
    pub fn checkpoint_digest(&self, job_id: &str) -> String {
        format!("{}:digest", self.checkpoint(job_id))
    }

    /// `tickstock:workers`: sorted set of worker ids scored by last heartbeat (Unix ms).
    pub fn workers(&self) -> String {
        self.k("tickstock:workers")
    }

    /// `tickstock:worker:{id}`: hash of one worker (`id, host, pid, started_at, last_seen,
    /// current_jobs, concurrency, state, version, consume_error`), expiring a day after its
    /// last heartbeat.
    pub fn worker(&self, worker_id: &str) -> String {
        self.k(&format!("tickstock:worker:{worker_id}"))
    }

    /// `tickstock:queue:paused`: present while the queue is paused (JSON `{requested_by,
    /// paused_at}`, no expiry). Every worker of ours checks it before it takes a job:
    /// running jobs finish, nothing new starts (take-overs included) until it is deleted.
    pub fn queue_paused(&self) -> String {
        self.k("tickstock:queue:paused")
    }

    /// `tickstock:worker:{id}:control`: an operator's command to one worker (JSON
    /// `{command: "quiet"|"stop", requested_by, requested_at}`), expiring after a day.
    /// `quiet`: finish current jobs, take no more; `stop`: stop as on SIGTERM (the current
    /// chunk finishes, the job is handed back for another worker to resume). Read by the
    /// worker before each job it would take and with each heartbeat.
    pub fn worker_control(&self, worker_id: &str) -> String {
        self.k(&format!("tickstock:worker:{worker_id}:control"))
    }

    /// `tickstock:worker:{id}:seen`: set by a worker each time it reads the pause and its
    /// command, expiring after a day. Missing at the next read when Redis lost its data
    /// meanwhile (a restart without persistence, `FLUSHALL`): the worker then puts back the
    /// pause and the command it had read, so an operator's word outlives the loss.
    pub fn worker_seen(&self, worker_id: &str) -> String {
        self.k(&format!("tickstock:worker:{worker_id}:seen"))
    }

    // ---- the Polygon request budget shared by every process on one API key ----
    //
    // `{digest}` is the first 16 hex digits of the SHA-256 of the API key
    // (`tickstock_data::polygon::shared_budget::key_digest`): the key itself is never in Redis.

    /// `tickstock:polygon:budget:{digest}`: sorted set of the requests let through on one
    /// key, scored by the time Redis granted them (Unix µs, from `TIME`), members unique
    /// per grant. Entries older than the plan's window plus its margin are removed by the
    /// next grant; the key expires a second after the window.
    pub fn polygon_budget(&self, digest: &str) -> String {
        self.k(&format!("tickstock:polygon:budget:{digest}"))
    }

    /// `tickstock:polygon:plan:{digest}`: hash of the plan's rate shared by every process
    /// on the key: `rpm` (requests per minute, 0 = unlimited), `set_at` (ISO time) and
    /// `set_by` (which process wrote it). No expiry. The latest explicit setting wins; a
    /// process started without one adopts the stored value and writes its own only when
    /// none is stored.
    pub fn polygon_plan(&self, digest: &str) -> String {
        self.k(&format!("tickstock:polygon:plan:{digest}"))
    }

    /// `tickstock:polygon:waiters:{digest}`: sorted set of processes waiting for the
    /// budget (one ticket each), scored by when each began to wait (Unix µs): a free
    /// request goes to the oldest live ticket first, so no process starves.
    pub fn polygon_waiters(&self, digest: &str) -> String {
        self.k(&format!("tickstock:polygon:waiters:{digest}"))
    }

    /// `tickstock:polygon:waiters:{digest}:seen`: the same tickets scored by when each
    /// last asked (Unix µs); a ticket not seen for a few seconds belongs to a process
    /// that died or stopped waiting and loses its place.
    pub fn polygon_waiters_seen(&self, digest: &str) -> String {
        format!("{}:seen", self.polygon_waiters(digest))
    }

    /// `tickstock:polygon:cooldown:{digest}`: present after Polygon answered 429 on the
    /// key: the Unix µs until which no process sends a request on it; expires then.
    pub fn polygon_cooldown(&self, digest: &str) -> String {
        self.k(&format!("tickstock:polygon:cooldown:{digest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_are_exact() {
        let k = Keys::new();
        assert_eq!(k.channel_data_load(), "tickstock.jobs.data_load");
        assert_eq!(k.channel_control(), "tickstock.jobs.control");
        assert_eq!(k.status("abc"), "job:status:abc");
        assert_eq!(k.status_alt("abc"), "tickstock.jobs.status:abc");
        assert_eq!(k.legacy_heartbeat(), "tickstockpl:heartbeat");
        assert_eq!(k.producer_heartbeat(), "tickstock:producer:heartbeat");
        assert_eq!(k.polygon_budget("ab12"), "tickstock:polygon:budget:ab12");
        assert_eq!(k.polygon_plan("ab12"), "tickstock:polygon:plan:ab12");
        assert_eq!(
            k.polygon_waiters_seen("ab12"),
            "tickstock:polygon:waiters:ab12:seen"
        );
    }

    #[test]
    fn namespace_prefixes_every_name() {
        let k = Keys::with_namespace("t1:");
        assert_eq!(k.namespace(), "t1");
        assert_eq!(k.status("x"), "t1:job:status:x");
        assert_eq!(k.channel_control(), "t1:tickstock.jobs.control");
        assert_eq!(k.stream(), "t1:tickstock:jobs:stream");
        assert_eq!(k.polygon_cooldown("d"), "t1:tickstock:polygon:cooldown:d");
        assert_eq!(Keys::with_namespace(""), Keys::new());
    }
}
