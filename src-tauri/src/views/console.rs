//! What the operations console's commands return (camelCase JSON): the queue with its
//! pause, the workers, the dead letters and the dashboard, built from the core's types
//! in either mode.

use std::collections::HashSet;

use serde::Serialize;
use tickstock_jobs::reads::dashboard::{Point, Totals};
use tickstock_jobs::runtime::{DeadLetter, InFlightJob, QueuedJob, WorkerRow};

/// Who paused the queue, and when.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseView {
    pub requested_by: String,
    pub paused_at: String,
}

/// One job waiting or in flight, as a compact row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRowView {
    pub job_id: Option<String>,
    pub kind: Option<String>,
    pub requested_by: Option<String>,
    pub status: Option<String>,
    /// The worker holding it (in flight only).
    pub worker: Option<String>,
    pub deliveries: Option<u64>,
    /// Since it entered the queue (waiting) or started (in flight).
    pub age_seconds: f64,
    pub since: Option<String>,
}

impl From<&QueuedJob> for QueueRowView {
    fn from(j: &QueuedJob) -> Self {
        QueueRowView {
            job_id: j.job_id.clone(),
            kind: j.kind.clone(),
            requested_by: j.requested_by.clone(),
            status: j.state.map(|s| s.as_str().to_string()),
            worker: None,
            deliveries: None,
            age_seconds: j.age_seconds,
            since: Some(j.enqueued_at.clone()),
        }
    }
}

impl From<&InFlightJob> for QueueRowView {
    fn from(j: &InFlightJob) -> Self {
        QueueRowView {
            job_id: j.job_id.clone(),
            kind: j.kind.clone(),
            requested_by: None,
            status: j.state.map(|s| s.as_str().to_string()),
            worker: Some(j.worker.clone()),
            deliveries: Some(j.deliveries),
            age_seconds: j.age_seconds,
            since: Some(j.enqueued_at.clone()),
        }
    }
}

/// The queue as the console shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueConsoleView {
    pub mode: &'static str,
    /// Pause and resume are offered (Redis mode).
    pub pausable: bool,
    pub paused: Option<PauseView>,
    pub waiting: Vec<QueueRowView>,
    pub waiting_total: u64,
    pub in_flight: Vec<QueueRowView>,
    pub in_flight_total: u64,
    pub dead: Option<u64>,
    /// What this mode cannot do, said plainly.
    pub note: Option<String>,
}

/// One worker.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerRowView {
    pub id: String,
    pub host: Option<String>,
    pub pid: Option<u32>,
    pub version: Option<String>,
    pub started_at: Option<String>,
    pub concurrency: Option<u32>,
    pub current_jobs: Vec<String>,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_seconds: f64,
    pub state: String,
    /// A quiet or stop command not yet carried out.
    pub command: Option<String>,
    pub cannot_consume: Option<String>,
    /// The app's own built-in worker.
    pub builtin: bool,
}

impl WorkerRowView {
    pub fn from_row(w: &WorkerRow, builtin_id: Option<&str>) -> Self {
        let state = serde_json::to_value(w.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        WorkerRowView {
            id: w.info.id.clone(),
            host: w.info.host.clone(),
            pid: w.info.pid,
            version: w.info.version.clone(),
            started_at: w.info.started_at.clone(),
            concurrency: w.info.concurrency,
            current_jobs: w.info.current_jobs.clone(),
            heartbeat_age_seconds: w.info.age_seconds,
            state,
            command: w.command.as_ref().map(|c| c.command.as_str().to_string()),
            cannot_consume: w.info.cannot_consume.clone(),
            builtin: builtin_id == Some(w.info.id.as_str()),
        }
    }
}

impl WorkerRowView {
    /// Silent, dead or stopped: its job list is the one of its last beat.
    pub fn gone(&self) -> bool {
        matches!(self.state.as_str(), "silent" | "dead" | "stopped")
    }

    /// A worker that stopped beating keeps the jobs of its last beat: of those, only the
    /// ones still active are current (another worker may have finished them since).
    pub fn keep_active_jobs(rows: &mut [WorkerRowView], active: &HashSet<String>) {
        for w in rows.iter_mut().filter(|w| w.gone()) {
            w.current_jobs.retain(|id| active.contains(id));
        }
    }
}

/// The workers, or why there are none to list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkersConsoleView {
    pub mode: &'static str,
    pub workers: Vec<WorkerRowView>,
    pub note: Option<String>,
}

/// One dead letter.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    pub id: String,
    pub job_id: Option<String>,
    pub kind: Option<String>,
    pub reason: String,
    pub deliveries: u64,
    pub failed_at: Option<String>,
    pub age_seconds: f64,
    pub worker_id: Option<String>,
    pub requeueable: bool,
}

impl From<&DeadLetter> for DeadLetterView {
    fn from(d: &DeadLetter) -> Self {
        DeadLetterView {
            id: d.id.clone(),
            job_id: d.job_id.clone(),
            kind: d.kind.clone(),
            reason: d.reason.clone(),
            deliveries: d.deliveries,
            failed_at: d.failed_at.clone(),
            age_seconds: d.age_seconds,
            worker_id: d.worker_id.clone(),
            requeueable: d.requeueable,
        }
    }
}

/// The dead letters, or why there are none to list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLettersView {
    pub mode: &'static str,
    pub letters: Vec<DeadLetterView>,
    pub note: Option<String>,
}

/// What a console action did, in a sentence for the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleActionView {
    pub changed: bool,
    pub message: String,
    pub job_id: Option<String>,
}

/// A dashboard total.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsView {
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub bars: u64,
}

impl From<&Totals> for TotalsView {
    fn from(t: &Totals) -> Self {
        TotalsView {
            completed: t.completed,
            failed: t.failed,
            cancelled: t.cancelled,
            bars: t.bars,
        }
    }
}

/// One point of a throughput series.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PointView {
    /// Unix seconds of the bucket's start.
    pub start: i64,
    #[serde(flatten)]
    pub totals: TotalsView,
    pub jobs_per_hour: f64,
    pub bars_per_second: Option<f64>,
}

impl From<&Point> for PointView {
    fn from(p: &Point) -> Self {
        PointView {
            start: p.start.timestamp(),
            totals: (&p.totals).into(),
            jobs_per_hour: p.jobs_per_hour,
            bars_per_second: p.bars_per_second,
        }
    }
}

/// Polygon requests per minute of this app's client against the plan's limit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolygonRateView {
    /// The app has a Polygon client (a key and a database).
    pub available: bool,
    /// The plan's requests per minute; 0: no limit.
    pub limit: u32,
    /// Requests in the last full minute.
    pub last_minute: u64,
    /// Per minute, oldest first: `[unix seconds of the minute, requests]`.
    pub per_minute: Vec<(i64, u64)>,
    /// Whose requests these are.
    pub scope: String,
    /// Requests on the key in the last minute by every process sharing its budget
    /// (absent when the budget is not shared through Redis).
    pub key_last_minute: Option<u64>,
}

/// The dashboard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardView {
    pub today: TotalsView,
    pub hourly: Vec<PointView>,
    pub daily: Vec<PointView>,
    pub polygon: PolygonRateView,
    /// The history could not be read (the Polygon part is still shown).
    pub history_error: Option<String>,
}
