//! The schedules in the Coverage view: list with last and next run, enable or disable,
//! run now. Scheduled jobs go where the page's jobs go (the engine's job service).

use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;
use tauri::State;
use tickstock_jobs::schedule::Scheduler;
use tickstock_protocol::ErrorKind;

use crate::engine::Engine;
use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

/// Scheduled jobs go where the page's jobs go: through the engine's job service.
fn scheduler(engine: &Arc<Engine>) -> CmdResult<Scheduler> {
    Ok(Scheduler::new(
        engine.store()?.clone(),
        engine.service()?.clone(),
        "app",
        None,
    ))
}

/// One schedule as the page lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleItem {
    pub name: String,
    pub spec: String,
    pub kind: Option<String>,
    pub enabled: bool,
    pub last_due: Option<chrono::DateTime<Utc>>,
    pub last_job_id: Option<String>,
    pub last_status: Option<String>,
    pub next_due: Option<chrono::DateTime<Utc>>,
}

#[tauri::command]
pub async fn list_schedules(state: State<'_, AppState>) -> CmdResult<Vec<ScheduleItem>> {
    let engine = state.engine().await;
    // Listed without a job service too (no key yet): states then come from the history.
    let service = engine.service().ok().map(|s| s.as_ref());
    let list = tickstock_jobs::schedule::list(engine.store()?, service, Utc::now()).await?;
    Ok(list
        .into_iter()
        .map(|v| ScheduleItem {
            kind: v
                .row
                .request
                .get("kind")
                .and_then(|k| k.as_str())
                .map(str::to_string),
            name: v.row.name,
            spec: v.row.spec,
            enabled: v.row.enabled,
            last_due: v.row.last_due,
            last_job_id: v.row.last_job_id,
            last_status: v.last_status,
            next_due: v.next_due,
        })
        .collect())
}

#[tauri::command]
pub async fn set_schedule_enabled(
    state: State<'_, AppState>,
    name: String,
    enabled: bool,
) -> CmdResult<bool> {
    let engine = state.engine().await;
    if !engine
        .store()?
        .enable_schedule(name.trim(), enabled)
        .await?
    {
        return Err(CommandError::new(
            ErrorKind::NotFound,
            format!("no schedule `{}`", name.trim()),
        ));
    }
    Ok(enabled)
}

/// Fires a schedule now; returns the job's id.
#[tauri::command]
pub async fn run_schedule(state: State<'_, AppState>, name: String) -> CmdResult<String> {
    let engine = state.engine().await;
    Ok(scheduler(&engine)?.run_now(name.trim()).await?)
}
