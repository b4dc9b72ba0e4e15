//! What commands return to the page (camelCase JSON), built from core types.
//! The status bar's health is in [`health`]; the operations console's in [`console`].

pub mod console;
mod health;
mod job;
pub use health::*;
pub use job::*;

use serde::Serialize;

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
