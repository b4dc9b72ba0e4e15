//! Health: Redis round-trip time, the legacy heartbeats, each worker's own heartbeat entry
//! (read and written here) and the queue depth.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use serde::Serialize;
use tracing::warn;

use super::{unix_now, Bus};
use tickstock_protocol::error::{Error, Result};

/// A heartbeat older than this means the worker is gone.
pub const HEARTBEAT_STALE_SECS: f64 = 60.0;
/// Workers beat every 5 s: one whose last beat is this old has missed three and went
/// silent (crashed, frozen or cut off). At [`HEARTBEAT_STALE_SECS`] it counts as dead and
/// its jobs' leases lapse, so another worker resumes them from their checkpoints.
pub const HEARTBEAT_SILENT_SECS: f64 = 15.0;
/// How long health waits for Redis to answer PING before it reports Redis down.
pub const HEALTH_PING_TIMEOUT: Duration = Duration::from_millis(1000);

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
    /// The version of TickStock Admin it runs (absent for workers of other programs).
    pub version: Option<String>,
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
    /// Set when Redis answers but refuses writes, at its memory limit (`maxmemory` with
    /// no key it may evict): why, in words. Reads still work; no job can be submitted,
    /// started or ended until memory is freed or the limit raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<String>,
}

/// What a Redis at its memory limit is said to be.
fn full_reason(used: u64, max: u64, policy: &str) -> String {
    format!(
        "Redis is full: {} MB used of its {} MB limit (maxmemory, policy {policy}); it refuses \
         writes, so no job can be submitted or run until memory is freed or the limit raised",
        used / 1_000_000,
        max / 1_000_000
    )
}

/// Whether `INFO memory` says Redis refuses writes: at or past `maxmemory` under a policy
/// that cannot evict every key. The reason, when it does.
fn full_from_info(info: &str) -> Option<String> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let used: u64 = field("used_memory")?.parse().ok()?;
    let max: u64 = field("maxmemory")?.parse().ok()?;
    let policy = field("maxmemory_policy").unwrap_or("noeviction");
    (max > 0 && used >= max && !policy.starts_with("allkeys"))
        .then(|| full_reason(used, max, policy))
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

impl Bus {
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
                full: None,
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
        let info: redis::RedisResult<String> =
            redis::cmd("INFO").arg("memory").query_async(&mut c).await;
        health.redis.full = info.ok().as_deref().and_then(full_from_info);
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
        // A refused write seen on the way is the same news, however INFO counted.
        if health.redis.full.is_none()
            && health
                .redis
                .error
                .as_deref()
                .is_some_and(|e| e.contains("OOM"))
        {
            health.redis.full = health.redis.error.take();
        }
        health
    }
}

/// What a worker says about itself in each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerBeat {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    /// Ids of the jobs it runs now.
    pub current_jobs: Vec<String>,
    pub concurrency: usize,
    /// Its last beat: it stops cleanly.
    pub stopped: bool,
    /// Why it cannot take jobs now, if it cannot.
    pub consume_error: Option<String>,
    /// How long the legacy heartbeat key lives.
    pub legacy_ttl: Duration,
}

/// Deletes our last legacy heartbeat unless someone (a TickStockPL worker) wrote it since.
/// KEYS = [legacy heartbeat, our copy of it].
const UNREGISTER_LEGACY_HEARTBEAT: &str = "if redis.call('GET', KEYS[1]) == \
    redis.call('GET', KEYS[2]) then redis.call('DEL', KEYS[1]) end return 0";

impl Bus {
    /// Writes a worker's heartbeat in one atomic step: its entry (a hash kept a day after
    /// its last beat, and the index of workers) and, while it can take jobs, the legacy
    /// heartbeat key with our record of it (both change together, so health can tell our
    /// value from a TickStockPL worker's). A stopping worker deregisters at once: its last
    /// legacy heartbeat goes too, unless someone else wrote it since.
    pub async fn write_worker_heartbeat(&self, beat: &WorkerBeat) -> Result<()> {
        let now = unix_now();
        let ttl = beat.legacy_ttl.as_secs().max(1);
        let wkey = self.keys.worker(&beat.id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        // The legacy key says "a worker takes jobs": not refreshed while this one cannot.
        if !beat.stopped && beat.consume_error.is_none() {
            let value = format!("{now:.6}");
            pipe.cmd("SET")
                .arg(self.keys.legacy_heartbeat())
                .arg(&value)
                .arg("EX")
                .arg(ttl)
                .ignore()
                .cmd("SET")
                .arg(self.keys.legacy_heartbeat_ours())
                .arg(&value)
                .arg("EX")
                .arg(ttl)
                .ignore();
        }
        if beat.stopped {
            pipe.cmd("EVAL")
                .arg(UNREGISTER_LEGACY_HEARTBEAT)
                .arg(2)
                .arg(self.keys.legacy_heartbeat())
                .arg(self.keys.legacy_heartbeat_ours())
                .ignore();
        }
        pipe.hset_multiple(
            &wkey,
            &[
                ("id", beat.id.clone()),
                ("host", beat.host.clone()),
                ("pid", beat.pid.to_string()),
                ("started_at", beat.started_at.clone()),
                ("last_seen", format!("{now:.3}")),
                ("current_jobs", beat.current_jobs.join(",")),
                ("concurrency", beat.concurrency.to_string()),
                (
                    "state",
                    if beat.stopped { "stopped" } else { "running" }.to_string(),
                ),
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                (
                    "consume_error",
                    beat.consume_error.clone().unwrap_or_default(),
                ),
            ],
        )
        .ignore()
        .expire(&wkey, 86_400)
        .ignore()
        .zadd(self.keys.workers(), &beat.id, (now * 1000.0) as i64)
        .ignore();
        let mut c = self.conn();
        pipe.query_async::<()>(&mut c).await?;
        Ok(())
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
        version: f.get("version").filter(|v| !v.is_empty()).cloned(),
        stopped,
        alive: !stopped && !f.is_empty() && age < stale_after && cannot_consume.is_none(),
        cannot_consume,
    })
}

#[cfg(test)]
mod tests {
    use super::full_from_info;

    #[test]
    fn a_redis_at_its_limit_that_cannot_evict_is_full() {
        let info = "# Memory\r\nused_memory:2100000\r\nmaxmemory:2000000\r\nmaxmemory_policy:noeviction\r\n";
        let why = full_from_info(info).expect("full");
        assert!(why.contains("2 MB used of its 2 MB limit"), "{why}");
        assert!(full_from_info(&info.replace("noeviction", "allkeys-lru")).is_none());
        assert!(full_from_info(&info.replace("maxmemory:2000000", "maxmemory:0")).is_none());
        assert!(full_from_info(&info.replace("used_memory:2100000", "used_memory:100")).is_none());
    }

    use super::*;

    #[test]
    fn heartbeat_judgement() {
        assert_eq!(judge_heartbeat("1000.5", 1005.5), (true, Some(5.0)));
        assert!(!judge_heartbeat("1000", 1061.0).0);
        assert_eq!(judge_heartbeat("alive", 5.0), (true, None));
    }
}
