//! The operator's controls over the queue and the workers, carried through Redis:
//! - a durable pause ([`Keys::queue_paused`]): every worker of ours asks
//!   [`Bus::worker_gate`] before it takes a job, so running jobs finish and nothing new
//!   starts until [`Bus::resume_queue`];
//! - a command to one worker ([`Keys::worker_control`]): `quiet` (finish current jobs,
//!   take no more) or `stop` (stop as on SIGTERM: the current chunk finishes and the job
//!   is handed back for another worker to resume);
//! - what the queue holds: jobs waiting (never delivered) and in flight (delivered, not
//!   acknowledged), each with its age, read from the stream and its consumer group;
//! - the workers with their state as an operator reads it.
//!
//! [`Keys::queue_paused`]: tickstock_protocol::keys::Keys::queue_paused
//! [`Keys::worker_control`]: tickstock_protocol::keys::Keys::worker_control

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::{unix_now, Bus, WorkerInfo, HEARTBEAT_SILENT_SECS, HEARTBEAT_STALE_SECS};
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::status::{JobState, Stamp};

/// How long a worker command waits to be read before it expires.
pub const WORKER_COMMAND_TTL_SECS: u64 = 86_400;

/// Stream entries read at most when looking for an active job's message.
const ACTIVE_SCAN: usize = 10_000;

/// Jobs listed at most in each part of [`QueueView`].
pub const QUEUE_VIEW_LIMIT: usize = 1000;

/// Who paused the queue, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseInfo {
    pub requested_by: String,
    /// UTC, RFC 3339.
    pub paused_at: String,
}

/// An operator's command to one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerCommand {
    /// Finish the current jobs, take no more.
    Quiet,
    /// Stop: the current chunk finishes, the job is handed back, the worker exits.
    Stop,
}

impl WorkerCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerCommand::Quiet => "quiet",
            WorkerCommand::Stop => "stop",
        }
    }
}

/// A command as stored for a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerOrder {
    pub command: WorkerCommand,
    pub requested_by: String,
    pub requested_at: String,
}

/// What a worker may do before it takes a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Take a job.
    Open,
    /// Take none now (the queue is paused, or the worker was told to be quiet); ask again.
    Hold,
    /// Stop the worker.
    Stop,
}

/// A job waiting in the stream, not yet delivered to any worker.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedJob {
    pub entry_id: String,
    pub job_id: Option<String>,
    pub kind: Option<String>,
    pub requested_by: Option<String>,
    /// Its status, when it still has one (a job cancelled while waiting stays in the
    /// stream until a worker skips it).
    pub state: Option<JobState>,
    /// When it entered the stream (UTC, RFC 3339).
    pub enqueued_at: String,
    pub age_seconds: f64,
}

/// A job delivered to a worker and not yet acknowledged.
#[derive(Debug, Clone, Serialize)]
pub struct InFlightJob {
    pub entry_id: String,
    pub job_id: Option<String>,
    pub kind: Option<String>,
    pub state: Option<JobState>,
    /// The worker (consumer) holding it.
    pub worker: String,
    pub deliveries: u64,
    pub enqueued_at: String,
    pub age_seconds: f64,
    /// Since its worker last refreshed its claim.
    pub idle_seconds: f64,
}

/// The queue as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub paused: Option<PauseInfo>,
    /// Oldest first, at most [`QUEUE_VIEW_LIMIT`].
    pub waiting: Vec<QueuedJob>,
    pub waiting_total: u64,
    /// Oldest first, at most [`QUEUE_VIEW_LIMIT`].
    pub in_flight: Vec<InFlightJob>,
    pub in_flight_total: u64,
    pub dead: u64,
}

/// A worker's state as the operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Heartbeating and taking jobs.
    Running,
    /// Told to be quiet: finishes its jobs, takes no more.
    Quiet,
    /// Told to stop and still heartbeating.
    Stopping,
    /// Stopped cleanly.
    Stopped,
    /// Heartbeating but unable to take jobs (see `cannot_consume`).
    Unable,
    /// Missed three heartbeats ([`HEARTBEAT_SILENT_SECS`]): crashed, frozen or cut off;
    /// not yet a minute, so its jobs' leases have not lapsed yet.
    Silent,
    /// No heartbeat for a minute: crashed or cut off.
    Dead,
}

/// One worker for the operator: its heartbeat entry, state and pending command.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRow {
    #[serde(flatten)]
    pub info: WorkerInfo,
    pub state: WorkerState,
    pub command: Option<WorkerOrder>,
}

/// The Unix ms of a stream entry id (`1700000000000-0`).
pub(crate) fn entry_ms(id: &str) -> Option<i64> {
    id.split('-').next()?.parse().ok()
}

fn stamp_of_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| Stamp(t).utc())
        .unwrap_or_default()
}

/// `job_type` and `requested_by` of a message, read loosely (an unreadable one has none).
pub(crate) fn message_fields(json: Option<&String>) -> (Option<String>, Option<String>) {
    let v: Option<serde_json::Value> = json.and_then(|j| serde_json::from_str(j).ok());
    let get = |k: &str| {
        v.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    (get("job_type"), get("requested_by"))
}

type Fields = HashMap<String, String>;

fn fields_of(sid: &redis::streams::StreamId) -> Fields {
    sid.map
        .iter()
        .filter_map(|(k, v)| {
            redis::from_redis_value::<String>(v)
                .ok()
                .map(|s| (k.clone(), s))
        })
        .collect()
}

impl Bus {
    /// Pauses the queue for every worker of ours; returns false when it was already
    /// paused (the first pause's author stands).
    pub async fn pause_queue(&self, requested_by: &str) -> Result<bool> {
        let info = PauseInfo {
            requested_by: requested_by.to_string(),
            paused_at: Stamp::now().utc(),
        };
        let json = serde_json::to_string(&info)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        let mut c = self.conn();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.queue_paused())
            .arg(json)
            .arg("NX")
            .query_async(&mut c)
            .await?;
        Ok(set.is_some())
    }

    /// The pause key's text as stored, when the queue is paused by a text value.
    pub async fn queue_paused_text(&self) -> Result<Option<String>> {
        let mut c = self.conn();
        let (present, text): (bool, Option<String>) = GATE_READ
            .key(self.keys.queue_paused())
            .key(self.keys.queue_paused())
            .invoke_async(&mut c)
            .await?;
        Ok(text.filter(|_| present))
    }

    /// Resumes the queue; returns false when it was not paused.
    pub async fn resume_queue(&self) -> Result<bool> {
        let mut c = self.conn();
        let n: i64 = c.del(self.keys.queue_paused()).await?;
        Ok(n > 0)
    }

    /// Who paused the queue and when, when it is paused.
    pub async fn queue_paused(&self) -> Result<Option<PauseInfo>> {
        let mut c = self.conn();
        let (present, text): (bool, Option<String>) = GATE_READ
            .key(self.keys.queue_paused())
            .key(self.keys.queue_paused())
            .invoke_async(&mut c)
            .await?;
        Ok(present.then(|| parse_pause(text.as_deref().unwrap_or_default())))
    }

    /// Tells one worker to be quiet or to stop. The worker must have a heartbeat entry.
    pub async fn send_worker_command(
        &self,
        worker_id: &str,
        command: WorkerCommand,
        requested_by: &str,
    ) -> Result<()> {
        let worker_id = worker_id.trim();
        let mut c = self.conn();
        // A worker is one that is in the list of workers: a key that merely starts like a
        // worker's (`w3:control`) names none.
        let seen: Option<f64> = c.zscore(self.keys.workers(), worker_id).await?;
        let known = seen.is_some();
        if !known {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "No worker {} has sent a heartbeat in the last day",
                    tickstock_protocol::error::quote_input(worker_id)
                ),
            ));
        }
        let order = WorkerOrder {
            command,
            requested_by: requested_by.to_string(),
            requested_at: Stamp::now().utc(),
        };
        let json = serde_json::to_string(&order)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        let _: () = c
            .set_ex(
                self.keys.worker_control(worker_id),
                json,
                WORKER_COMMAND_TTL_SECS,
            )
            .await?;
        Ok(())
    }

    /// Withdraws a command to a worker (a quiet worker takes jobs again); returns false
    /// when there was none.
    pub async fn clear_worker_command(&self, worker_id: &str) -> Result<bool> {
        let mut c = self.conn();
        let n: i64 = c.del(self.keys.worker_control(worker_id.trim())).await?;
        Ok(n > 0)
    }

    /// What a worker may do before it takes a job: one round trip for the pause and its
    /// own command.
    pub async fn worker_gate(&self, worker_id: &str) -> Result<Gate> {
        let mut c = self.conn();
        let (paused, order): (bool, Option<String>) = GATE_READ
            .key(self.keys.queue_paused())
            .key(self.keys.worker_control(worker_id))
            .invoke_async(&mut c)
            .await?;
        let order = order.and_then(|o| serde_json::from_str::<WorkerOrder>(&o).ok());
        Ok(match order.map(|o| o.command) {
            Some(WorkerCommand::Stop) => Gate::Stop,
            Some(WorkerCommand::Quiet) => Gate::Hold,
            None if paused => Gate::Hold,
            None => Gate::Open,
        })
    }

    /// Every worker seen in the last day with its state and pending command, freshest
    /// first.
    pub async fn worker_rows(&self) -> Result<Vec<WorkerRow>> {
        let workers = self
            .workers(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
            .await?;
        if workers.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = workers
            .iter()
            .map(|w| self.keys.worker_control(&w.id))
            .collect();
        let mut c = self.conn();
        let orders: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut c).await?;
        Ok(workers
            .into_iter()
            .zip(orders)
            .map(|(info, order)| {
                let command = order.and_then(|o| serde_json::from_str::<WorkerOrder>(&o).ok());
                let state = if info.stopped {
                    WorkerState::Stopped
                } else if info.age_seconds >= HEARTBEAT_STALE_SECS {
                    WorkerState::Dead
                } else if info.age_seconds >= HEARTBEAT_SILENT_SECS {
                    WorkerState::Silent
                } else if let Some(o) = &command {
                    match o.command {
                        WorkerCommand::Quiet => WorkerState::Quiet,
                        WorkerCommand::Stop => WorkerState::Stopping,
                    }
                } else if info.cannot_consume.is_some() {
                    WorkerState::Unable
                } else {
                    WorkerState::Running
                };
                WorkerRow {
                    info,
                    state,
                    command,
                }
            })
            .collect())
    }

    /// The queue: pause, waiting and in-flight jobs with their ages, and the dead count.
    pub async fn queue_view(&self) -> Result<QueueView> {
        let depth = self.queue_depth().await?;
        let paused = self.queue_paused().await?;
        let (stream, group) = (self.keys.stream(), self.keys.group());
        let mut c = self.conn();
        let now_ms = (unix_now() * 1000.0) as i64;
        let age = |ms: i64| ((now_ms - ms).max(0)) as f64 / 1000.0;

        // Waiting: the entries after the group's last delivered one.
        let last = self.last_delivered_id().await?;
        let start = match &last {
            Some(id) => format!("({id}"),
            None => "-".to_string(),
        };
        let waiting_raw: redis::streams::StreamRangeReply = c
            .xrange_count(&stream, start, "+", QUEUE_VIEW_LIMIT)
            .await?;
        // In flight: the group's pending entries, with their consumer and idle time.
        let pending: Vec<(String, String, i64, i64)> = if last.is_some() {
            redis::cmd("XPENDING")
                .arg(&stream)
                .arg(group)
                .arg("-")
                .arg("+")
                .arg(QUEUE_VIEW_LIMIT)
                .query_async(&mut c)
                .await?
        } else {
            Vec::new()
        };
        let mut pipe = redis::pipe();
        for (id, ..) in &pending {
            pipe.xrange(&stream, id, id);
        }
        let pending_entries: Vec<redis::streams::StreamRangeReply> = if pending.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut c).await?
        };

        let waiting_fields: Vec<(String, Fields)> = waiting_raw
            .ids
            .iter()
            .map(|sid| (sid.id.clone(), fields_of(sid)))
            .collect();
        let pending_fields: Vec<Fields> = pending_entries
            .iter()
            .map(|r| r.ids.first().map(fields_of).unwrap_or_default())
            .collect();
        let ids: Vec<String> = waiting_fields
            .iter()
            .map(|(_, f)| f.get("job_id").cloned().unwrap_or_default())
            .chain(
                pending_fields
                    .iter()
                    .map(|f| f.get("job_id").cloned().unwrap_or_default()),
            )
            .collect();
        let mut states = self
            .statuses(&ids)
            .await?
            .into_iter()
            .map(|s| s.map(|s| s.state));

        let mut waiting: Vec<QueuedJob> = waiting_fields
            .into_iter()
            .map(|(entry_id, f)| {
                let ms = entry_ms(&entry_id).unwrap_or(now_ms);
                let (kind, requested_by) = message_fields(f.get("job"));
                QueuedJob {
                    job_id: f.get("job_id").cloned(),
                    kind,
                    requested_by,
                    state: states.next().flatten(),
                    enqueued_at: stamp_of_ms(ms),
                    age_seconds: age(ms),
                    entry_id,
                }
            })
            .collect();
        let in_flight: Vec<InFlightJob> = pending
            .into_iter()
            .zip(pending_fields)
            .map(|((entry_id, worker, idle_ms, deliveries), f)| {
                let ms = entry_ms(&entry_id).unwrap_or(now_ms);
                let (kind, _) = message_fields(f.get("job"));
                InFlightJob {
                    job_id: f.get("job_id").cloned(),
                    kind,
                    state: states.next().flatten(),
                    worker,
                    deliveries: deliveries.max(0) as u64,
                    enqueued_at: stamp_of_ms(ms),
                    age_seconds: age(ms),
                    idle_seconds: idle_ms.max(0) as f64 / 1000.0,
                    entry_id,
                }
            })
            .collect();
        // A delivered entry whose job has not started was handed back (the queue was paused
        // while a worker waited for it): it waits, it is not in flight.
        let (in_flight, handed_back): (Vec<InFlightJob>, Vec<InFlightJob>) = in_flight
            .into_iter()
            .partition(|j| !matches!(j.state, Some(JobState::Submitted | JobState::Queued)));
        let moved = handed_back.len() as u64;
        let mut before: Vec<QueuedJob> = handed_back
            .into_iter()
            .map(|j| QueuedJob {
                job_id: j.job_id,
                kind: j.kind,
                requested_by: None,
                state: j.state,
                enqueued_at: j.enqueued_at,
                age_seconds: j.age_seconds,
                entry_id: j.entry_id,
            })
            .collect();
        before.append(&mut waiting);
        Ok(QueueView {
            paused,
            waiting: before,
            waiting_total: depth.waiting + moved,
            in_flight,
            in_flight_total: depth.in_flight.saturating_sub(moved),
            dead: depth.dead,
        })
    }

    /// The job messages of the stream's entries (waiting or in flight) whose jobs are
    /// still active, oldest first: what a new submit is compared with. Unreadable
    /// messages are left out.
    pub async fn active_messages(&self) -> Result<Vec<tickstock_protocol::job::Job>> {
        let mut c = self.conn();
        let reply: redis::streams::StreamRangeReply = c
            .xrange_count(self.keys.stream(), "-", "+", ACTIVE_SCAN)
            .await?;
        let jobs: Vec<tickstock_protocol::job::Job> = reply
            .ids
            .iter()
            .filter_map(|sid| {
                let text: String = sid
                    .map
                    .get("job")
                    .and_then(|v| redis::from_redis_value(v).ok())?;
                tickstock_protocol::job::parse_message(&text)
                    .and_then(tickstock_protocol::job::Job::from_value)
                    .ok()
            })
            .collect();
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let states = self.statuses(&ids).await?;
        Ok(jobs
            .into_iter()
            .zip(states)
            .filter(|(_, st)| st.as_ref().is_some_and(|s| s.state.is_active()))
            .map(|(j, _)| j)
            .collect())
    }

    /// The consumer group's last delivered entry id; `None` when the stream or the group
    /// does not exist (then every entry waits).
    async fn last_delivered_id(&self) -> Result<Option<String>> {
        let mut c = self.conn();
        let groups: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.keys.stream())
            .query_async(&mut c)
            .await;
        match groups {
            Ok(groups) => Ok(groups
                .iter()
                .find(|g| {
                    g.get("name")
                        .and_then(|v| redis::from_redis_value::<String>(v).ok())
                        .as_deref()
                        == Some(self.keys.group())
                })
                .and_then(|g| g.get("last-delivered-id"))
                .and_then(|v| redis::from_redis_value::<String>(v).ok())),
            Err(e) if e.to_string().contains("no such key") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A pause value; one written by hand (not our JSON) still pauses, by an unknown author.
/// Whether the pause key is there (whatever its type: the queue is paused while it is),
/// and the text of a command key when it holds text (never `WRONGTYPE`). KEYS = [pause,
/// command]. Returns `{present, text or false}`.
static GATE_READ: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local present = redis.call('EXISTS', KEYS[1]) == 1
local text = false
if redis.call('TYPE', KEYS[2])['ok'] == 'string' then text = redis.call('GET', KEYS[2]) end
return {present and 1 or 0, text}
",
    )
});

fn parse_pause(v: &str) -> PauseInfo {
    serde_json::from_str(v).unwrap_or_else(|_| PauseInfo {
        requested_by: "unknown".into(),
        paused_at: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_carry_their_time() {
        assert_eq!(entry_ms("1700000000123-4"), Some(1_700_000_000_123));
        assert_eq!(entry_ms("nonsense"), None);
        assert_eq!(stamp_of_ms(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn a_hand_written_pause_still_pauses() {
        assert_eq!(parse_pause("1").requested_by, "unknown");
        let p = PauseInfo {
            requested_by: "ana".into(),
            paused_at: "x".into(),
        };
        assert_eq!(parse_pause(&serde_json::to_string(&p).unwrap()), p);
    }
}
