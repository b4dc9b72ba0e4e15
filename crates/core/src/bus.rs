//! The Redis job bus: submit, status, list, cancel and health, legacy-compatible and durable.
//!
//! One [`Bus`] is a cheap-clone handle over a `ConnectionManager`, which reconnects by itself
//! after Redis restarts. Every operation is one or two round trips:
//! - **submit**: status key (legacy JSON, 2 h expiry), stream entry (durable, consumer group),
//!   index entry, and the legacy pub/sub message, all in one `MULTI`/`EXEC`;
//! - **statuses**: any number of jobs in ONE round trip (a Lua script that checks each key's
//!   `TYPE` first, so a hash never causes `WRONGTYPE`, and reads both legacy key names);
//! - **list**: from the sorted-set index (never `KEYS`);
//! - **cancel**: the legacy control message plus a durable cancel flag the worker checks,
//!   and a compare-and-set status change that never overwrites a finished job;
//! - **health**: round-trip time, legacy heartbeats, per-worker entries and queue depth.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{SecondsFormat, Utc};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde_json::json;
use tracing::{debug, warn};

use crate::error::{Error, ErrorKind, Result};
use crate::job::Job;
use crate::keys::{Keys, STATUS_TTL_SECS};
use crate::settings::{expose, BusConfig};
use crate::status::{JobState, JobStatus};

/// Stream entries kept (approximately) before the oldest are trimmed.
pub const STREAM_MAX_LEN: usize = 100_000;
/// Jobs kept in the index of recent jobs.
pub const INDEX_MAX_LEN: isize = 10_000;
/// Seconds a cancel flag lives.
pub const CANCEL_TTL_SECS: u64 = 86_400;
/// A heartbeat older than this means the worker is gone.
pub const HEARTBEAT_STALE_SECS: f64 = 60.0;

/// Reads each job's two possible status keys, checking `TYPE` first.
/// KEYS = [status_1, alt_1, status_2, alt_2, ...]; returns per key `{}`, `{'s', text}` or
/// `{'h', field, value, ...}`.
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
  else
    out[i] = {}
  end
end
return out
"#,
    )
});

/// Compare-and-set of a status key. KEYS[1] = status; ARGV = expected raw ('' = missing,
/// '__hash' = a hash), new JSON, ttl.
static CAS_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TYPE', KEYS[1])['ok']
local cur = ''
if t == 'string' then cur = redis.call('GET', KEYS[1]) elseif t ~= 'none' then cur = '__' .. t end
if cur ~= ARGV[1] then return 0 end
if t ~= 'string' and t ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"#,
    )
});

/// A worker's progress write: if the job's cancel flag is set, writes the `cancelling`
/// variant instead, so a cancel shown to the user is never flipped back to `running`.
/// KEYS = [status, cancel flag]; ARGV = [json, json if cancel requested, ttl]. Returns 1
/// when cancel was requested.
static WORKER_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 0
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
            || self.legacy_heartbeat.as_ref().is_some_and(|h| h.alive)
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

/// ISO 8601 "now" as status fields carry it.
pub fn iso_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false)
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
        st.submitted_at = Some(iso_now());
        st.total_symbols = job.spec.symbols().map(|s| s.len() as u64);
        st.extra.insert("description".into(), job.describe().into());
        st
    }

    /// Submits a job: status, stream entry, index entry and (optionally) the legacy
    /// pub/sub message in one atomic round trip.
    pub async fn submit(&self, job: &Job) -> Result<()> {
        let json = job.to_json();
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
        if self.cfg.publish_legacy {
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

    /// Writes a status (from a worker or a tool), unconditionally, with the legacy expiry.
    pub async fn put_status(&self, job_id: &str, status: &JobStatus) -> Result<()> {
        let mut c = self.conn.clone();
        let _: () = c
            .set_ex(self.keys.status(job_id), status.to_json(), STATUS_TTL_SECS)
            .await?;
        Ok(())
    }

    /// A worker's progress write. Returns true when cancel has been requested (the
    /// `cancelling` variant was written instead).
    pub async fn put_progress(&self, job_id: &str, status: &JobStatus) -> Result<bool> {
        let mut cancelling = status.clone();
        cancelling.state = JobState::Cancelling;
        cancelling.message = Some("Cancel requested; stopping after the current chunk".into());
        let mut c = self.conn.clone();
        let r: i64 = WORKER_STATUS
            .key(self.keys.status(job_id))
            .key(self.keys.cancel_flag(job_id))
            .arg(status.to_json())
            .arg(cancelling.to_json())
            .arg(STATUS_TTL_SECS)
            .invoke_async(&mut c)
            .await?;
        Ok(r == 1)
    }

    /// Whether cancel has been requested for a job.
    pub async fn is_cancel_requested(&self, job_id: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        Ok(c.exists(self.keys.cancel_flag(job_id)).await?)
    }

    /// Sets the durable cancel flag only (used when a legacy cancel message is heard).
    pub async fn set_cancel_flag(&self, job_id: &str, requested_by: &str) -> Result<()> {
        let flag = json!({"requested_by": requested_by, "timestamp": iso_now()}).to_string();
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
        let ts = iso_now();
        let flag = json!({"requested_by": requested_by, "timestamp": ts}).to_string();
        let control = json!({"job_id": job_id, "action": "cancel", "requested_by": requested_by, "timestamp": ts})
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

        // Compare-and-set loop: never overwrite a status a worker wrote meanwhile.
        for _ in 0..10 {
            let (raw, parsed) = self.read_raw_status(job_id).await?;
            let base = match parsed {
                Some(s) => s,
                None => current.clone(),
            };
            let base = merge(Some(base), self.read_alt(job_id).await?).unwrap_or(current.clone());
            if base.state.is_terminal() || base.state == JobState::Cancelling && raw.is_some() {
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
                next.completed_at = Some(ts.clone());
                next.extra.insert("cancelled_at".into(), ts.clone().into());
            }
            let expected = raw.unwrap_or_default();
            let mut c = self.conn.clone();
            let ok: i64 = CAS_STATUS
                .key(self.keys.status(job_id))
                .arg(expected)
                .arg(next.to_json())
                .arg(STATUS_TTL_SECS)
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
        let mut c = self.conn.clone();
        let _: i64 = c.publish(self.keys.channel_control(), msg).await?;
        let mut n = 0;
        for entry in self.active_jobs(INDEX_MAX_LEN as usize).await? {
            match self.cancel(&entry.job_id, requested_by).await {
                Ok(o) if o.changed => n += 1,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Removes finished jobs whose id starts with `prefix` from the index, with their
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
                .del(self.keys.checkpoint(id))
                .ignore();
        }
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await?;
        Ok(doomed.len())
    }

    /// Raw `job:status:{id}` for compare-and-set: (expected token, parsed).
    async fn read_raw_status(&self, job_id: &str) -> Result<(Option<String>, Option<JobStatus>)> {
        let mut c = self.conn.clone();
        let reply: Vec<redis::Value> = READ_STATUSES
            .key(self.keys.status(job_id))
            .invoke_async(&mut c)
            .await?;
        let Some(redis::Value::Array(items)) = reply.first() else {
            return Ok((None, None));
        };
        let tag: Option<String> = items.first().and_then(|v| redis::from_redis_value(v).ok());
        match tag.as_deref() {
            Some("s") => {
                let text: String = items
                    .get(1)
                    .and_then(|v| redis::from_redis_value(v).ok())
                    .unwrap_or_default();
                let parsed = JobStatus::from_json(&text).ok();
                Ok((Some(text), parsed))
            }
            Some("h") => Ok((Some("__hash".into()), decode_status(&reply[0]))),
            _ => Ok((None, None)),
        }
    }

    async fn read_alt(&self, job_id: &str) -> Result<Option<JobStatus>> {
        let mut c = self.conn.clone();
        let reply: Vec<redis::Value> = READ_STATUSES
            .key(self.keys.status_alt(job_id))
            .invoke_async(&mut c)
            .await?;
        Ok(reply.first().and_then(decode_status))
    }

    /// Adds a job heard on the legacy channel to the durable stream, once across all
    /// workers (the index says whether it is already known). Returns true if added.
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

    /// Everything the status bar shows. Never fails: an unreachable Redis is reported.
    pub async fn health(&self, stale_after: Duration) -> Health {
        let started = Instant::now();
        let mut c = self.conn.clone();
        let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
        let rtt = started.elapsed().as_secs_f64() * 1000.0;
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
        if let Err(e) = ping {
            health.redis.error = Some(Error::from(e).message().to_string());
            return health;
        }
        health.redis.connected = true;
        health.redis.rtt_ms = Some(rtt);
        let rest = async {
            let legacy = self.heartbeat(&self.keys.legacy_heartbeat()).await?;
            let producer = self.heartbeat(&self.keys.producer_heartbeat()).await?;
            let workers = self.workers(stale_after).await?;
            let queue = self.queue_depth().await?;
            Ok::<_, Error>((legacy, producer, workers, queue))
        };
        match rest.await {
            Ok((legacy, producer, workers, queue)) => {
                health.legacy_heartbeat = Some(legacy);
                health.producer_heartbeat = Some(producer);
                health.workers = workers;
                health.queue = Some(queue);
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
        alive: !stopped && !f.is_empty() && age < stale_after,
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
}
