//! What commands return to the page (camelCase JSON), built from core types.
//! The status bar's health is in [`health`]; the operations console's in [`console`].

pub mod console;
mod health;
pub use health::*;

use serde::Serialize;
use serde_json::Value;
use tickstock_jobs::runtime::JobRun;
use tickstock_protocol::status::parse_time;
use tickstock_protocol::status::{JobState, JobStatus, SymbolFailure};

/// One job as the page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub job_type: Option<String>,
    pub status: String,
    pub progress: u8,
    pub message: Option<String>,
    pub current_symbol: Option<String>,
    pub processed_symbols: Option<u64>,
    pub total_symbols: Option<u64>,
    pub successful_symbols: Vec<String>,
    pub failed_symbols: Vec<SymbolFailure>,
    pub ohlcv_records_loaded: u64,
    pub bars_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
    /// The job's Polygon requests so far, and those its plan estimated (the worker's own
    /// figures; absent from history rows and from workers that do not send them).
    pub polygon_requests: Option<u64>,
    pub polygon_requests_estimated: Option<u64>,
    pub submitted_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub error_message: Option<String>,
    pub params: Value,
    pub active: bool,
    /// The job's own log lines (the detail only; empty in lists).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<tickstock_jobs::runtime::joblog::LogLine>,
    /// Who submitted it (the operator, or `scheduler:NAME`).
    pub requested_by: Option<String>,
    /// The worker that ran it.
    pub worker: Option<String>,
    /// The job this one retries, if it is a retry.
    pub retry_of: Option<String>,
    /// Jobs that retry this one (the detail only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<String>,
    /// Finished (symbol, timeframe) units with their bars (the detail only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitView>,
}

/// One finished (symbol, timeframe) unit of a job.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UnitView {
    pub symbol: String,
    pub timeframe: &'static str,
    pub bars: u64,
}

fn param_str(params: &Value, key: &str) -> Option<String> {
    params
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn elapsed_since(iso: Option<&str>) -> Option<f64> {
    let t = parse_time(iso?)?;
    let secs = (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0;
    (secs > 0.0).then_some(secs)
}

impl JobView {
    /// From a live status (Redis or the in-process queue).
    pub fn from_status(job_id: &str, st: &JobStatus, params: Value) -> JobView {
        let bars = st.ohlcv_records_loaded.unwrap_or(0);
        let running = st.state == JobState::Running;
        let elapsed = elapsed_since(st.started_at.as_deref());
        // The worker's own figures when it sends them: the rate over the last minute and
        // an ETA from the requests left at the plan's rate (steady while it waits).
        let extra = |k: &str| st.extra.get(k).and_then(|v| v.as_f64());
        let rate = match (running, elapsed) {
            (true, _) if extra("bars_per_second").is_some() => extra("bars_per_second"),
            (true, Some(e)) if e >= 1.0 => Some((bars as f64 / e * 10.0).round() / 10.0),
            _ => None,
        };
        let eta = match (running, elapsed) {
            (true, _) if extra("eta_seconds").is_some() => extra("eta_seconds"),
            (true, Some(e)) if st.progress > 0 && st.progress < 100 => {
                Some((e * (100.0 - st.progress as f64) / st.progress as f64).round())
            }
            _ => None,
        };
        // Legacy writers list failed tickers without reasons.
        let mut failed = st.failures.clone();
        for s in &st.failed_symbols {
            if !failed.iter().any(|f| &f.symbol == s) {
                failed.push(SymbolFailure {
                    symbol: s.clone(),
                    reason: String::new(),
                });
            }
        }
        JobView {
            job_id: job_id.to_string(),
            job_type: st.job_type.clone(),
            status: st.state.as_str().to_string(),
            progress: st.progress,
            message: st.message.clone(),
            current_symbol: st.current_symbol.clone(),
            processed_symbols: st.processed_symbols,
            total_symbols: st.total_symbols,
            successful_symbols: st.successful_symbols.clone(),
            failed_symbols: failed,
            ohlcv_records_loaded: bars,
            bars_per_second: rate,
            eta_seconds: eta,
            polygon_requests: st.extra.get("polygon_requests").and_then(|v| v.as_u64()),
            polygon_requests_estimated: st
                .extra
                .get("polygon_requests_estimated")
                .and_then(|v| v.as_u64()),
            submitted_at: st.submitted_at.clone(),
            started_at: st.started_at.clone(),
            completed_at: st.completed_at.clone(),
            duration_seconds: st.duration_seconds,
            error_message: st.error_message.clone(),
            requested_by: param_str(&params, "requested_by"),
            retry_of: param_str(&params, "retry_of"),
            worker: st.worker_id.clone(),
            params,
            active: st.state.is_active(),
            log: Vec::new(),
            retries: Vec::new(),
            units: Vec::new(),
        }
    }

    /// From a history row.
    pub fn from_run(run: &JobRun) -> JobView {
        let failed: Vec<SymbolFailure> =
            serde_json::from_value(run.failed_symbols.clone()).unwrap_or_default();
        let active = JobState::parse(&run.status).is_some_and(|s| s.is_active());
        let iso = |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        JobView {
            job_id: run.id.clone(),
            job_type: Some(run.kind.clone()),
            status: run.status.clone(),
            progress: run.progress.clamp(0, 100) as u8,
            message: run.message.clone(),
            current_symbol: None,
            processed_symbols: Some((run.symbols_ok + run.symbols_failed) as u64),
            total_symbols: Some(run.symbols_total as u64),
            successful_symbols: Vec::new(),
            failed_symbols: failed,
            ohlcv_records_loaded: run.bars_loaded.max(0) as u64,
            bars_per_second: None,
            eta_seconds: None,
            polygon_requests: None,
            polygon_requests_estimated: None,
            submitted_at: iso(&run.submitted_at),
            started_at: iso(&run.started_at),
            completed_at: iso(&run.completed_at),
            duration_seconds: match (run.started_at, run.completed_at) {
                (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
                _ => None,
            },
            error_message: run.error.clone(),
            requested_by: param_str(&run.params, "requested_by"),
            retry_of: param_str(&run.params, "retry_of"),
            worker: run.worker.clone(),
            params: run.params.clone(),
            active,
            log: Vec::new(),
            retries: Vec::new(),
            units: Vec::new(),
        }
    }
}

/// What a cancel did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelView {
    pub status: &'static str,
    pub changed: bool,
}

/// How many jobs Cancel all reached.
#[derive(Debug, Clone, Serialize)]
pub struct CancelAllView {
    pub cancelled: usize,
}

/// How many stale jobs cleanup marked failed.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupView {
    pub marked: usize,
}

/// How many finished jobs were cleared.
#[derive(Debug, Clone, Serialize)]
pub struct ClearView {
    pub cleared: u64,
}

/// A page of the history at scale: keyset cursors, counts per status.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPageView {
    pub items: Vec<JobView>,
    pub total: i64,
    pub counts: std::collections::BTreeMap<String, i64>,
    /// 1-based.
    pub page: i64,
    pub pages: i64,
    pub page_size: u32,
    pub next: Option<String>,
    pub prev: Option<String>,
    pub database: String,
    /// The page asked for (1-based) when it was past the last: `page` is the last instead.
    pub asked_page: Option<i64>,
}

/// One page of the history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobListView {
    pub items: Vec<JobView>,
    pub total: i64,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
    /// The database the history is read from (in Redis mode, the history every worker
    /// writing that database shares), without secrets.
    pub database: String,
}

/// Where an export went, or that the operator cancelled the Save dialog.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// Jobs written (not counting the header), when a file was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
}

/// A universe the database offers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UniverseView {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub members: i64,
    pub as_of: Option<String>,
}

/// What a universe key holds.
pub type UniversePreviewView = tickstock_jobs::runtime::UniversePreview;

/// One OHLCV table: rows, symbols and dates.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableView {
    pub table: String,
    pub timeframe: &'static str,
    pub rows: i64,
    pub symbols: i64,
    pub earliest: Option<String>,
    pub latest: Option<String>,
}

/// What saving settings would do.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsImpact {
    /// Fields whose change restarts the backend; empty: all changes apply live.
    pub restart: Vec<&'static str>,
    /// Jobs active now (they would stop after their current chunk and resume).
    pub active_jobs: usize,
    /// What would not work after saving (a database or Redis that does not answer): the
    /// page asks before it saves them.
    pub problems: Vec<SettingsProblem>,
}

/// A setting that failed its check, and what saving it anyway means.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsProblem {
    pub field: &'static str,
    pub message: String,
}

/// A submitted job: its id, and a warning when no live worker will take it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitView {
    pub job_id: String,
    pub warning: Option<String>,
}

impl From<tickstock_jobs::service::Submitted> for SubmitView {
    fn from(s: tickstock_jobs::service::Submitted) -> SubmitView {
        SubmitView {
            job_id: s.job.id,
            warning: s.warning,
        }
    }
}

/// The result of a Test button.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
    pub latency_ms: Option<f64>,
}

/// Settings as the page sees them: URLs without passwords, the key only as a hint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: crate::settings::AppSettings,
    pub api_key_set: bool,
    pub api_key_hint: Option<String>,
    pub api_key_storage: Option<&'static str>,
    pub mode: &'static str,
    /// Settings fixed by environment variables (the page shows them read-only).
    pub overridden: Vec<&'static str>,
    /// Whether the built-in worker runs on them, and if not, why.
    pub builtin_worker: BuiltinWorkerView,
}

/// What the About dialog shows: the version and where the app keeps its files. Removing the
/// package leaves these folders (the user's jobs, bars, settings and logs).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AboutView {
    pub name: String,
    pub version: String,
    pub identifier: String,
    pub tauri_version: &'static str,
    /// Settings, job history and the default SQLite database.
    pub data_dir: String,
    /// The API key file when no OS keyring runs.
    pub config_dir: String,
    pub log_dir: String,
}
