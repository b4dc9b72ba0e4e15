//! Job commands: health, validate, submit, the active jobs, one job's detail, cancel,
//! retry, cleanup and clear. Each is one call into the engine (the core's job service).

use serde::Serialize;
use tauri::State;
use tickstock_core::job::{FieldError, Job, JobRequest};
use tickstock_core::universe;

use super::USER;
use crate::error::CmdResult;
use crate::state::AppState;
use crate::views::{
    CancelAllView, CancelView, CleanupView, ClearView, HealthView, JobView, SubmitView,
};

#[tauri::command]
pub async fn health(state: State<'_, AppState>) -> CmdResult<HealthView> {
    Ok(state.engine().await.health().await)
}

#[derive(Serialize)]
pub struct Validation {
    pub ok: bool,
    pub errors: Vec<FieldError>,
}

async fn build_job(state: &AppState, request: &JobRequest) -> Result<Job, Vec<FieldError>> {
    let engine = state.engine().await;
    let known = engine.known_universes().await.unwrap_or_else(|_| {
        universe::builtin()
            .iter()
            .map(|u| u.key.to_string())
            .collect()
    });
    request.build(USER, &|k| known.contains(k))
}

/// Checks a request with the core's rules, as the user types.
#[tauri::command]
pub async fn validate_job(
    state: State<'_, AppState>,
    request: JobRequest,
) -> CmdResult<Validation> {
    Ok(match build_job(&state, &request).await {
        Ok(_) => Validation {
            ok: true,
            errors: Vec::new(),
        },
        Err(errors) => Validation { ok: false, errors },
    })
}

#[tauri::command]
pub async fn submit_job(state: State<'_, AppState>, request: JobRequest) -> CmdResult<SubmitView> {
    let job = build_job(&state, &request).await?;
    Ok(state.engine().await.submit(job).await?.into())
}

/// Every active job in one call (read only; changes reach the page as `job-events`).
#[tauri::command]
pub async fn active_jobs(state: State<'_, AppState>) -> CmdResult<Vec<JobView>> {
    state.engine().await.active_jobs().await
}

#[tauri::command]
pub async fn job_detail(state: State<'_, AppState>, job_id: String) -> CmdResult<JobView> {
    state.engine().await.job_detail(job_id.trim()).await
}

#[tauri::command]
pub async fn cancel_job(state: State<'_, AppState>, job_id: String) -> CmdResult<CancelView> {
    let out = state.engine().await.cancel(job_id.trim(), USER).await?;
    Ok(CancelView {
        status: out.state.as_str(),
        changed: out.changed,
    })
}

#[tauri::command]
pub async fn cancel_all(state: State<'_, AppState>) -> CmdResult<CancelAllView> {
    let n = state.engine().await.cancel_all(USER).await?;
    Ok(CancelAllView { cancelled: n })
}

/// Submits a failed or cancelled job again (same parameters, new id).
#[tauri::command]
pub async fn retry_job(state: State<'_, AppState>, job_id: String) -> CmdResult<SubmitView> {
    Ok(state
        .engine()
        .await
        .retry(job_id.trim(), USER)
        .await?
        .into())
}

#[tauri::command]
pub async fn cleanup_stale(state: State<'_, AppState>) -> CmdResult<CleanupView> {
    let n = state.engine().await.cleanup_stale().await?;
    Ok(CleanupView { marked: n })
}

#[tauri::command]
pub async fn clear_jobs(state: State<'_, AppState>, prefix: String) -> CmdResult<ClearView> {
    let n = state.engine().await.clear_jobs(&prefix).await?;
    Ok(ClearView { cleared: n })
}
