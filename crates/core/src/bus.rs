//! The Redis job bus: submit, status, list, cancel and health, legacy-compatible and durable.
//!
//! One [`Bus`] is a cheap-clone handle over a `ConnectionManager`, which reconnects by itself
//! after Redis restarts. Every operation is one or two round trips:
//! - **submit**: both status keys (legacy JSON: `job:status:{id}` for 2 h and
//!   `tickstock.jobs.status:{id}`, the key TickStock's page reads, for 24 h), stream entry
//!   (durable, consumer group), index entry, and the legacy pub/sub message, all in one
//!   `MULTI`/`EXEC`;
//! - **statuses**: any number of jobs in ONE round trip (a Lua script that checks each key's
//!   `TYPE` first, so a hash never causes `WRONGTYPE`, and reads both legacy key names);
//! - **status writes**: every write of ours (submit, worker progress, final state, cancel)
//!   puts the same JSON string in both keys; progress and final writes never overwrite a
//!   final state someone else wrote (TickStock's cancel or stale-job cleanup) and make the
//!   worker stop instead;
//! - **list**: from the sorted-set index (never `KEYS`);
//! - **cancel**: the legacy control message plus a durable cancel flag the worker checks,
//!   and a compare-and-set status change that never overwrites a finished job;
//! - **health**: round-trip time, legacy heartbeats, per-worker entries and queue depth.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde_json::json;
use tracing::{debug, warn};

use crate::error::{Error, ErrorKind, Result};
use crate::job::Job;
use crate::keys::{Keys, STATUS_ALT_TTL_SECS, STATUS_TTL_SECS};
use crate::settings::{expose, BusConfig};
use crate::status::{JobState, JobStatus, Stamp};

/// Stream entries kept (approximately) before the oldest are trimmed.
pub const STREAM_MAX_LEN: usize = 100_000;
/// Jobs kept in the index of recent jobs.
pub const INDEX_MAX_LEN: isize = 10_000;
/// Seconds a cancel flag lives.
pub const CANCEL_TTL_SECS: u64 = 86_400;
/// A heartbeat older than this means the worker is gone.
pub const HEARTBEAT_STALE_SECS: f64 = 60.0;

/// Lua shared by the status scripts: a key's status word (lower case, `nil` when the key
/// is missing, holds no readable status or is of another type) and its compare-and-set
/// token (`''` = missing, the JSON text of a string, `__hash:` + the `status` field of a
/// hash, `__` + the type of anything else). Both check `TYPE` first: never `WRONGTYPE`.
const LUA_STATUS_PRELUDE: &str = r#"
local FINAL = {completed = true, completed_with_errors = true, failed = true, error = true,
  cancelled = true, canceled = true, complete = true, success = true}
local function word(k)
  local t = redis.call('TYPE', k)['ok']
  local w = nil
  if t == 'string' then
    local ok, v = pcall(cjson.decode, redis.call('GET', k))
    if ok and type(v) == 'table' and type(v['status']) == 'string' then w = v['status'] end
  elseif t == 'hash' then
    local s = redis.call('HGET', k, 'status')
    if s then w = s end
  end
  if w then w = string.lower(string.match(w, '^%s*(.-)%s*$')) end
  return w
end
local function token(k)
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' then return '' end
  if t == 'string' then return redis.call('GET', k) end
  if t == 'hash' then
    local s = redis.call('HGET', k, 'status')
    if not s then s = '' end
    return '__hash:' .. s
  end
  return '__' .. t
end
"#;

fn status_script(body: &str) -> Script {
    Script::new(&format!("{LUA_STATUS_PRELUDE}\n{body}"))
}

/// Reads each job's two status keys, checking `TYPE` first.
/// KEYS = [status_1, alt_1, status_2, alt_2, ...]; returns per key `{}` (missing),
/// `{'s', text}`, `{'h', field, value, ...}` or `{'o', type}` (neither string nor hash).
static READ_STATUSES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local t = redis.call('TYPE', k)['ok']
  if t == 'string' then
    out[i] = {'s', redis.call('GET', k)}
  elseif t == 'hash' then
    local h = redis.call('HGETALL', k)
    table.insert(h, 1, 'h')
    out[i] = h
  elseif t == 'none' then
    out[i] = {}
  else
    out[i] = {'o', t}
  end
end
return out
"#,
    )
});

/// Compare-and-set of both status keys of a job, optionally acknowledging its stream entry
/// in the same step. KEYS = [status, status_alt] or [status, status_alt, stream];
/// ARGV = [expected token, expected alt token, new JSON, ttl, alt ttl] and, with the stream,
/// [group, entry id]. Tokens as the prelude's `token`. `SET` replaces a key of any type,
/// so a hash TickStockAppV2 wrote becomes our JSON string. Returns 1 when written.
static CAS_STATUS: LazyLock<Script> = LazyLock::new(|| {
    status_script(
        r#"
if token(KEYS[1]) ~= ARGV[1] or token(KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
if #KEYS == 3 then
  redis.call('XACK', KEYS[3], ARGV[6], ARGV[7])
  redis.call('XDEL', KEYS[3], ARGV[7])
end
return 1
"#,
    )
});

/// A worker's progress write, to both status keys. If either key already holds a final
/// state (someone else cancelled or failed the job: TickStock's page or its stale-job
/// cleanup, or our cancel of a job whose worker looked gone), nothing is written and the
/// state is returned, so the worker stops and a finished job never goes back to running.
/// If the cancel flag is set (or either key says `cancelling`), the `cancelling` variant
/// is written instead, so a cancel shown to the user is never flipped back.
/// KEYS = [status, status_alt, cancel flag]; ARGV = [json, json if cancel requested, ttl,
/// alt ttl]. Returns `{0, ''}` written, `{1, ''}` cancel requested, `{2, word}` final.
static WORKER_STATUS: LazyLock<Script> = LazyLock::new(|| {
    status_script(
        r#"
local a, b = word(KEYS[1]), word(KEYS[2])
if b and FINAL[b] then return {2, b} end
if a and FINAL[a] then return {2, a} end
local body, r = ARGV[1], 0
if redis.call('EXISTS', KEYS[3]) == 1 or a == 'cancelling' or b == 'cancelling' then
  body, r = ARGV[2], 1
end
redis.call('SET', KEYS[1], body, 'EX', ARGV[3])
redis.call('SET', KEYS[2], body, 'EX', ARGV[4])
return {r, ''}
"#,
    )
});

/// Why a running job must stop, checked between progress writes: `cancel` when the cancel
/// flag is set, else the status word of a key holding a final state or `cancelling`, else
/// `''`. KEYS = [status, status_alt, cancel flag].
static STOP_CHECK: LazyLock<Script> = LazyLock::new(|| {
    status_script(
        r#"
if redis.call('EXISTS', KEYS[3]) == 1 then return 'cancel' end
local a, b = word(KEYS[1]), word(KEYS[2])
if b and (FINAL[b] or b == 'cancelling') then return b end
if a and (FINAL[a] or a == 'cancelling') then return a end
return ''
"#,
    )
});

/// Adds a job seen on the legacy channel to the stream once, whichever worker sees it
/// first. KEYS = [index, stream]; ARGV = [score ms, job id, json, maxlen]. Returns 1 if added.
static INGEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'job', ARGV[3], 'job_id', ARGV[2])
  return 1
end
return 0
"#,
    )
});

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

/// One entry of the job list.
#[derive(Debug, Clone, Serialize)]
pub struct JobEntry {
    pub job_id: String,
    /// Submit time, Unix ms.
    pub submitted_ms: i64,
    /// `None` once the status key has expired.
    pub status: Option<JobStatus>,
}

/// What a cancel did.
#[derive(Debug, Clone, Serialize)]
pub struct CancelOutcome {
    pub job_id: String,
    /// The job's state after the request.
    pub state: JobState,
    /// False when the job had already finished: nothing was changed.
    pub changed: bool,
}

/// A heartbeat key as read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeartbeatView {
    pub key: String,
    pub present: bool,
    /// Seconds since the time the value holds; `None` when it holds no time.
    pub age_seconds: Option<f64>,
    pub alive: bool,
    /// The value was written by one of our workers (they keep the legacy key fresh for
    /// TickStock's page), so it says nothing about a TickStockPL worker.
    pub ours: bool,
}

/// A worker's own heartbeat entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerInfo {
    pub id: String,
    pub host: Option<String>,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    /// Unix seconds of the last heartbeat.
    pub last_seen: f64,
    pub age_seconds: f64,
    pub current_jobs: Vec<String>,
    pub concurrency: Option<u32>,
    /// Stopped cleanly (not crashed).
    pub stopped: bool,
    /// Why the worker cannot take jobs (it heartbeats but every attempt fails), if so.
    pub cannot_consume: Option<String>,
    /// Heartbeating, not stopped, and able to take jobs.
    pub alive: bool,
}

/// Jobs waiting, being worked on, and given up on.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct QueueDepth {
    /// In the stream, not yet delivered to any worker.
    pub waiting: u64,
    /// Delivered and not yet acknowledged.
    pub in_flight: u64,
    /// In the dead-letter stream.
    pub dead: u64,
}

/// Redis reachability.
#[derive(Debug, Clone, Serialize)]
pub struct RedisHealth {
    pub url: String,
    pub connected: bool,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
}

/// Everything the status bar shows.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub redis: RedisHealth,
    pub legacy_heartbeat: Option<HeartbeatView>,
    pub producer_heartbeat: Option<HeartbeatView>,
    pub workers: Vec<WorkerInfo>,
    pub queue: Option<QueueDepth>,
}

impl Health {
    /// Whether any worker (ours or a legacy one) looks alive.
    pub fn any_worker_alive(&self) -> bool {
        self.workers.iter().any(|w| w.alive)
            || self
                .legacy_heartbeat
                .as_ref()
                .is_some_and(|h| h.alive && !h.ours)
            || self.producer_heartbeat.as_ref().is_some_and(|h| h.alive)
    }
}

/// Current Unix time in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// ISO 8601 "now" as legacy time fields carry it: naive local time with microseconds, no
/// offset, as TickStock writes it (`datetime.now().isoformat()`). Where our exact instant
/// matters too, use [`Stamp`] and [`JobStatus::set_time`], which also write `{field}_utc`.
pub fn iso_now() -> String {
    Stamp::now().legacy()
}

/// Judges a heartbeat value read at `now` (Unix seconds): a time younger than 60 s is
/// alive; a value that holds no time counts as alive with unknown age.
pub fn judge_heartbeat(value: &str, now: f64) -> (bool, Option<f64>) {
    match value.trim().parse::<f64>() {
        Ok(t) if t.is_finite() => {
            let age = (now - t).max(0.0);
            (age < HEARTBEAT_STALE_SECS, Some(age))
        }
        _ => (true, None),
    }
}

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
struct RawStatus {
    token: String,
    status: Option<JobStatus>,
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

/// How long health waits for Redis to answer PING before it reports Redis down.
pub const HEALTH_PING_TIMEOUT: Duration = Duration::from_millis(1000);

/// Status field: the [`crate::job::message_digest`] of the message the status belongs to.
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
fn merge(primary: Option<JobStatus>, alt: Option<JobStatus>) -> Option<JobStatus> {
    match (primary, alt) {
        (Some(p), Some(a)) => Some(if rank(a.state) > rank(p.state) { a } else { p }),
        (p, a) => p.or(a),
    }
}

impl Bus {
    /// Connects to Redis (ping included) and makes sure the consumer group exists.
    pub async fn connect(cfg: BusConfig) -> Result<Bus> {
        let redacted = cfg.redacted_url();
        let client = redis::Client::open(expose(&cfg.url)).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "Redis URL {redacted} is not usable: {}",
                    e.detail().unwrap_or("invalid URL")
                ),
            )
        })?;
        let mgr_cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(cfg.connect_timeout)
            .set_response_timeout(cfg.response_timeout)
            .set_number_of_retries(2)
            .set_max_delay(2_000);
        let conn = tokio::time::timeout(
            cfg.connect_timeout * 3,
            client.get_connection_manager_with_config(mgr_cfg),
        )
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::Redis,
                format!("Redis at {redacted}: connection timed out"),
            )
            .retryable()
        })?
        .map_err(|e| {
            Error::new(ErrorKind::Redis, format!("Redis at {redacted}: {e}")).retryable()
        })?;
        let bus = Bus {
            client,
            conn,
            keys: Keys::with_namespace(&cfg.namespace),
            cfg: Arc::new(cfg),
        };
        bus.ensure_group().await?;
        Ok(bus)
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

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A separate connection for blocking reads (a blocked command would hold up every
    /// other user of the shared connection).
    pub async fn blocking_connection(&self, block: Duration) -> Result<ConnectionManager> {
        let mgr_cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(self.cfg.connect_timeout)
            .set_response_timeout(block + self.cfg.response_timeout)
            .set_number_of_retries(2)
            .set_max_delay(2_000);
        Ok(self
            .client
            .get_connection_manager_with_config(mgr_cfg)
            .await?)
    }

    /// Creates the consumer group (from the start of the stream, so nothing submitted
    /// before the first worker is lost).
    pub async fn ensure_group(&self) -> Result<()> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.stream())
            .arg(self.keys.group())
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await;
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

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
            crate::job::message_digest(&job.to_json()).into(),
        );
        st
    }

    /// Submits a job: both status keys, stream entry, index entry and (optionally) the
    /// legacy pub/sub message in one atomic round trip.
    pub async fn submit(&self, job: &Job) -> Result<()> {
        let json = job.to_json();
        // A job id is never reused: a second job under it would run beside the first
        // and take over its checkpoints.
        if self.status(&job.id).await?.is_some() {
            return Err(Error::invalid(format!(
                "job id {} is already in use",
                crate::error::quote_input(&job.id)
            )));
        }
        if json.len() > crate::job::MAX_MESSAGE_BYTES {
            return Err(Error::invalid(format!(
                "the job message would be {} bytes, more than the limit of {}",
                json.len(),
                crate::job::MAX_MESSAGE_BYTES
            )));
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
        let mut c = self.conn.clone();
        let (code, word): (i64, String) = WORKER_STATUS
            .key(self.keys.status(job_id))
            .key(self.keys.status_alt(job_id))
            .key(self.keys.cancel_flag(job_id))
            .arg(status.to_json())
            .arg(cancelling.to_json())
            .arg(STATUS_TTL_SECS)
            .arg(STATUS_ALT_TTL_SECS)
            .invoke_async(&mut c)
            .await?;
        Ok(match code {
            0 => ProgressWrite::Written,
            1 => ProgressWrite::CancelRequested,
            _ => ProgressWrite::Final(JobState::parse(&word).unwrap_or(JobState::Cancelled)),
        })
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

    /// Whether cancel has been requested for a job (its durable cancel flag).
    pub async fn is_cancel_requested(&self, job_id: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        Ok(c.exists(self.keys.cancel_flag(job_id)).await?)
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
        Err(Error::new(
            ErrorKind::Redis,
            format!("the status of job `{job_id}` kept changing; its final state was not written"),
        )
        .retryable())
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
            return Err(Error::invalid("job id is empty"));
        }
        let Some(current) = self.status(job_id).await? else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no job `{job_id}` (unknown, or its status expired)"),
            ));
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
        Err(Error::new(
            ErrorKind::Redis,
            format!("job `{job_id}` kept changing; cancel flag is set, the worker will stop it"),
        ))
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
                .del(format!("{}:rows", self.keys.checkpoint(id)))
                .ignore();
        }
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await?;
        Ok(doomed.len())
    }

    /// Both status keys of a job (`job:status:{id}`, `tickstock.jobs.status:{id}`) as
    /// read for compare-and-set, in one round trip, `TYPE` checked first.
    async fn read_both(&self, job_id: &str) -> Result<(RawStatus, RawStatus)> {
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

    /// Adds a job heard on the legacy channel to the durable stream, once across all
    /// workers (the index says whether it is already known). Returns true if added.
    ///
    /// Its status is left as the publisher wrote it (TickStockAppV2: a hash at
    /// `tickstock.jobs.status:{id}`, written just after it publishes; old pages: JSON at
    /// `job:status:{id}`): writing one here could race the publisher's own `HSET` into a
    /// `WRONGTYPE` error on its side. Readers take either key in either encoding, and the
    /// worker's first progress write replaces both with the JSON string.
    pub async fn ingest_legacy(&self, job: &Job) -> Result<bool> {
        let mut c = self.conn.clone();
        let added: i64 = INGEST
            .key(self.keys.index())
            .key(self.keys.stream())
            .arg((unix_now() * 1000.0) as i64)
            .arg(&job.id)
            .arg(job.to_json())
            .arg(STREAM_MAX_LEN)
            .invoke_async(&mut c)
            .await?;
        Ok(added == 1)
    }

    /// Whether a worker's heartbeat entry is present and fresh.
    pub async fn worker_alive(&self, worker_id: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        let fields: HashMap<String, String> = c.hgetall(self.keys.worker(worker_id)).await?;
        Ok(
            worker_from_fields(worker_id, &fields, None, unix_now(), HEARTBEAT_STALE_SECS)
                .is_some_and(|w| w.alive),
        )
    }

    /// Every worker that has sent a heartbeat in the last day, freshest first. `stale_after`
    /// is the age past which a worker counts as dead.
    pub async fn workers(&self, stale_after: Duration) -> Result<Vec<WorkerInfo>> {
        let mut c = self.conn.clone();
        let now = unix_now();
        let _: i64 = c
            .zrembyscore(self.keys.workers(), "-inf", (now - 86_400.0) * 1000.0)
            .await?;
        let entries: Vec<(String, f64)> =
            c.zrevrange_withscores(self.keys.workers(), 0, 199).await?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _) in &entries {
            pipe.hgetall(self.keys.worker(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut c).await?;
        Ok(entries
            .into_iter()
            .zip(hashes)
            .filter_map(|((id, score), fields)| {
                worker_from_fields(
                    &id,
                    &fields,
                    Some(score / 1000.0),
                    now,
                    stale_after.as_secs_f64(),
                )
            })
            .collect())
    }

    /// Reads one legacy heartbeat key.
    pub async fn heartbeat(&self, key: &str) -> Result<HeartbeatView> {
        let mut c = self.conn.clone();
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut c).await?;
        let (present, value) = match kind.as_str() {
            "none" => (false, None),
            "string" => (true, c.get::<_, Option<String>>(key).await?),
            _ => (true, None),
        };
        let (alive, age) = match (&value, present) {
            (Some(v), _) => judge_heartbeat(v, unix_now()),
            (None, true) => (true, None),
            (None, false) => (false, None),
        };
        Ok(HeartbeatView {
            key: key.to_string(),
            present,
            age_seconds: age,
            alive,
            ours: false,
        })
    }

    /// Waiting, in-flight and dead jobs.
    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let mut c = self.conn.clone();
        let groups: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.keys.stream())
            .query_async(&mut c)
            .await;
        let mut depth = QueueDepth::default();
        match groups {
            Ok(groups) => {
                if let Some(g) = groups.iter().find(|g| {
                    g.get("name")
                        .and_then(|v| redis::from_redis_value::<String>(v).ok())
                        .as_deref()
                        == Some(self.keys.group())
                }) {
                    let num = |k: &str| {
                        g.get(k)
                            .and_then(|v| redis::from_redis_value::<i64>(v).ok())
                            .unwrap_or(0)
                            .max(0) as u64
                    };
                    depth.in_flight = num("pending");
                    depth.waiting = num("lag");
                }
            }
            Err(e) if e.to_string().contains("no such key") => {}
            Err(e) => return Err(e.into()),
        }
        depth.dead = c.xlen(self.keys.dead_letters()).await?;
        Ok(depth)
    }

    /// A warning for a job just submitted when no live worker (ours or TickStockPL's)
    /// would take it: it then waits in the queue. `None` when one would, or when that
    /// cannot be told.
    pub async fn no_worker_warning(&self) -> Option<String> {
        let h = self
            .health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
            .await;
        if !h.redis.connected || h.any_worker_alive() {
            return None;
        }
        let unable = h.workers.iter().find_map(|w| w.cannot_consume.clone());
        Some(match unable {
            Some(e) => format!(
                "no worker can take this job now (a worker reports: {e}); it waits in the queue"
            ),
            None => "no live worker is listening: the job waits in the queue until one starts (tickstock worker, or the app's built-in worker)".to_string(),
        })
    }

    /// Everything the status bar shows. Never fails: an unreachable Redis is reported.
    pub async fn health(&self, stale_after: Duration) -> Health {
        let started = Instant::now();
        let mut c = self.conn.clone();
        let mut health = Health {
            redis: RedisHealth {
                url: self.redacted_url(),
                connected: false,
                rtt_ms: None,
                error: None,
            },
            legacy_heartbeat: None,
            producer_heartbeat: None,
            workers: Vec::new(),
            queue: None,
        };
        // A dropped connection makes the client reconnect with back-off for seconds: health
        // says at once that Redis does not answer instead of waiting that out.
        let ping: redis::RedisResult<String> =
            match tokio::time::timeout(HEALTH_PING_TIMEOUT, redis::cmd("PING").query_async(&mut c))
                .await
            {
                Ok(r) => r,
                Err(_) => {
                    health.redis.error = Some(format!(
                        "Redis: no answer within {} ms",
                        HEALTH_PING_TIMEOUT.as_millis()
                    ));
                    return health;
                }
            };
        let rtt = started.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = ping {
            health.redis.error = Some(Error::from(e).message().to_string());
            return health;
        }
        health.redis.connected = true;
        health.redis.rtt_ms = Some(rtt);
        let rest = async {
            let mut legacy = self.heartbeat(&self.keys.legacy_heartbeat()).await?;
            if legacy.present {
                let mut c = self.conn.clone();
                // One MGET: both values as of the same moment.
                let (value, ours): (Option<String>, Option<String>) = redis::cmd("MGET")
                    .arg(self.keys.legacy_heartbeat())
                    .arg(self.keys.legacy_heartbeat_ours())
                    .query_async(&mut c)
                    .await?;
                legacy.ours = value.is_some() && value == ours;
            }
            let producer = self.heartbeat(&self.keys.producer_heartbeat()).await?;
            let workers = self.workers(stale_after).await?;
            Ok::<_, Error>((legacy, producer, workers))
        };
        match rest.await {
            Ok((legacy, producer, workers)) => {
                health.legacy_heartbeat = Some(legacy);
                health.producer_heartbeat = Some(producer);
                health.workers = workers;
                // A queue that cannot be read does not hide the workers.
                match self.queue_depth().await {
                    Ok(q) => health.queue = Some(q),
                    Err(e) => {
                        warn!("queue depth unavailable: {e}");
                        health.redis.error = Some(format!("job queue unreadable: {}", e.message()));
                    }
                }
            }
            Err(e) => {
                warn!("health details unavailable: {e}");
                health.redis.error = Some(e.message().to_string());
            }
        }
        health
    }
}

/// Builds a [`WorkerInfo`] from a worker hash; `score` is the index's last-seen (seconds)
/// used when the hash has expired.
fn worker_from_fields(
    id: &str,
    f: &HashMap<String, String>,
    score: Option<f64>,
    now: f64,
    stale_after: f64,
) -> Option<WorkerInfo> {
    let last_seen = f
        .get("last_seen")
        .and_then(|v| v.parse::<f64>().ok())
        .or(score)?;
    let age = (now - last_seen).max(0.0);
    let stopped = f.get("state").is_some_and(|s| s == "stopped");
    let cannot_consume = f.get("consume_error").filter(|e| !e.is_empty()).cloned();
    Some(WorkerInfo {
        id: id.to_string(),
        host: f.get("host").cloned(),
        pid: f.get("pid").and_then(|p| p.parse().ok()),
        started_at: f.get("started_at").cloned(),
        last_seen,
        age_seconds: age,
        current_jobs: f
            .get("current_jobs")
            .map(|s| {
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        concurrency: f.get("concurrency").and_then(|p| p.parse().ok()),
        stopped,
        alive: !stopped && !f.is_empty() && age < stale_after && cannot_consume.is_none(),
        cannot_consume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_judgement() {
        assert_eq!(judge_heartbeat("1000.5", 1005.5), (true, Some(5.0)));
        assert!(!judge_heartbeat("1000", 1061.0).0);
        assert_eq!(judge_heartbeat("alive", 5.0), (true, None));
    }

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
