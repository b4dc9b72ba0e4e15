//! The `#[tauri::command]`s the page calls: thin, each one a call into the engine or the
//! core with a typed response ([`crate::views`]), errors as `{kind, message, field?}`.
//!
//! ## Layout
//! - [`jobs`]: health, validate, submit, active jobs, detail, cancel, retry, cleanup, clear.
//! - [`history`]: the history list and its CSV export.
//! - [`data`]: universes and the OHLCV tables.
//! - [`coverage`]: the Coverage view: completeness heat map and gaps, by page and filter.
//! - [`fill`]: filling gaps with top-up jobs, and what that would cost.
//! - [`schedules`]: the schedules: list, enable or disable, run now.
//! - [`settings`]: settings, what saving would do, the Test buttons.
//! - [`system`]: the log folder, notifications, About.
//! - [`console`]: the operations console: queue and pause, workers, dead letters.
//! - [`dashboard`]: today's totals, throughput and Polygon requests per minute.

pub mod console;
pub mod coverage;
pub mod dashboard;
pub mod data;
pub mod fill;
pub mod history;
pub mod jobs;
pub mod schedules;
pub mod settings;
pub mod system;

/// Who the page's requests are from, in job messages: the operator (the name set in
/// Settings, else the OS user).
pub async fn operator(state: &crate::state::AppState) -> String {
    state.engine().await.settings().operator_name()
}
