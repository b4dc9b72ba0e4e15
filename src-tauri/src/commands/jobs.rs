//! Job commands: health, validate, estimate, submit, the active jobs, one job's detail,
//! cancel, retry (all, failed symbols only, the rest), cleanup and clear, and the same on
//! selected jobs. Each is one call into the engine (the core's job service); jobs are
//! requested by the operator.

use serde::Serialize;
use tauri::State;
use tickstock_protocol::job::{FieldError, Job, JobRequest};
use tickstock_protocol::universe;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::views::{
    CancelAllView, CancelView, CleanupView, ClearView, HealthView, JobView, SubmitView,
};
use tickstock_jobs::retry::RetryPart;

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
    request.build(&engine.settings().operator_name(), &|k| known.contains(k))
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
        Err(errors) => Validation {
            ok: false,
            errors: errors
                .into_iter()
                .map(|mut e| {
                    e.message = crate::error::sentence(&e.message);
                    e
                })
                .collect(),
        },
    })
}

/// Submits a job. A job identical to an active one is refused with that job's id unless
/// `allow_duplicate`.
#[tauri::command]
pub async fn submit_job(
    state: State<'_, AppState>,
    request: JobRequest,
    allow_duplicate: Option<bool>,
) -> CmdResult<SubmitView> {
    let job = build_job(&state, &request).await?;
    let engine = state.engine().await;
    Ok(engine
        .submit_with(job, allow_duplicate.unwrap_or(false))
        .await?
        .into())
}

/// What a job will cost before it is submitted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateView {
    /// One line for the operator.
    pub summary: String,
    /// The bars' requests (the time counts these).
    pub requests: u64,
    /// At most this many more to register symbols not yet known.
    pub registration_requests_max: u64,
    /// At the plan's rate; `None` when unlimited.
    pub seconds: Option<f64>,
    pub requests_per_minute: u32,
}

/// Polygon requests and time a request would take at the plan's rate (nothing submitted).
#[tauri::command]
pub async fn estimate_job(
    state: State<'_, AppState>,
    request: JobRequest,
) -> CmdResult<EstimateView> {
    let job = build_job(&state, &request).await?;
    let e = state.engine().await.estimate(job).await?;
    Ok(EstimateView {
        summary: e.summary(),
        requests: e.requests,
        registration_requests_max: e.registration_requests_max,
        seconds: e.seconds,
        requests_per_minute: e.requests_per_minute,
    })
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
    let who = super::operator(&state).await;
    let out = state.engine().await.cancel(job_id.trim(), &who).await?;
    Ok(CancelView {
        status: out.state.as_str(),
        changed: out.changed,
    })
}

#[tauri::command]
pub async fn cancel_all(state: State<'_, AppState>) -> CmdResult<CancelAllView> {
    let who = super::operator(&state).await;
    let n = state.engine().await.cancel_all(&who).await?;
    Ok(CancelAllView { cancelled: n })
}

/// Submits a job from the history again: all of it (default), only its failed symbols
/// (`failed_symbols`), or the rest of a job stopped part-way (`rest`).
#[tauri::command]
pub async fn retry_job(
    state: State<'_, AppState>,
    job_id: String,
    part: Option<RetryPart>,
) -> CmdResult<SubmitView> {
    let who = super::operator(&state).await;
    let engine = state.engine().await;
    Ok(engine
        .retry(job_id.trim(), &who, part.unwrap_or(RetryPart::All))
        .await?
        .into())
}

/// What an action on selected jobs did: how many it reached, and why the others failed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkView {
    pub done: usize,
    pub failed: Vec<BulkFailure>,
    /// New jobs (retries).
    pub job_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkFailure {
    pub job_id: String,
    pub message: String,
}

/// Retries, cancels or deletes the selected jobs (`action`: `retry`, `cancel`, `delete`).
/// Each job is tried; one that cannot be changed is named with the reason.
#[tauri::command]
pub async fn bulk_jobs(
    state: State<'_, AppState>,
    action: String,
    job_ids: Vec<String>,
) -> CmdResult<BulkView> {
    let who = super::operator(&state).await;
    let engine = state.engine().await;
    let mut out = BulkView {
        done: 0,
        failed: Vec::new(),
        job_ids: Vec::new(),
    };
    for id in job_ids.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let r = match action.as_str() {
            "retry" => engine
                .retry(id, &who, RetryPart::All)
                .await
                .map(|s| out.job_ids.push(s.job.id)),
            "cancel" => engine.cancel(id, &who).await.map(|_| ()),
            "delete" => engine.delete_finished(id).await,
            other => {
                return Err(CommandError::field(
                    "action",
                    format!("Unknown action \"{other}\": use retry, cancel or delete"),
                ))
            }
        };
        match r {
            Ok(()) => out.done += 1,
            Err(e) => out.failed.push(BulkFailure {
                job_id: id.to_string(),
                message: e.message,
            }),
        }
    }
    Ok(out)
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
