//! The operations console's commands: the queue and its pause, the workers and their
//! quiet/stop commands, the dead letters and their requeue, delete and purge. Each is one
//! call into the engine ([`crate::engine`]); what needs Redis says so in embedded mode.

use tauri::State;

use crate::error::CmdResult;
use crate::state::AppState;
use crate::views::console::{
    ConsoleActionView, DeadLettersView, QueueConsoleView, WorkersConsoleView,
};

#[tauri::command]
pub async fn queue_view(state: State<'_, AppState>) -> CmdResult<QueueConsoleView> {
    state.engine().await.console_queue().await
}

/// Pauses the queue for every worker: running jobs finish, nothing new starts.
#[tauri::command]
pub async fn pause_queue(state: State<'_, AppState>) -> CmdResult<ConsoleActionView> {
    let who = super::operator(&state).await;
    state.engine().await.console_pause(&who).await
}

#[tauri::command]
pub async fn resume_queue(state: State<'_, AppState>) -> CmdResult<ConsoleActionView> {
    state.engine().await.console_resume().await
}

#[tauri::command]
pub async fn list_workers(state: State<'_, AppState>) -> CmdResult<WorkersConsoleView> {
    state.engine().await.console_workers().await
}

/// `quiet`, `stop` or `resume` one worker, carried through Redis.
#[tauri::command]
pub async fn command_worker(
    state: State<'_, AppState>,
    worker_id: String,
    command: String,
) -> CmdResult<ConsoleActionView> {
    let who = super::operator(&state).await;
    state
        .engine()
        .await
        .console_worker_command(&worker_id, command.trim(), &who)
        .await
}

#[tauri::command]
pub async fn list_dead_letters(state: State<'_, AppState>) -> CmdResult<DeadLettersView> {
    state.engine().await.console_dead_letters().await
}

#[tauri::command]
pub async fn requeue_dead_letter(
    state: State<'_, AppState>,
    id: String,
) -> CmdResult<ConsoleActionView> {
    let who = super::operator(&state).await;
    state.engine().await.console_requeue_dead(&id, &who).await
}

#[tauri::command]
pub async fn delete_dead_letter(
    state: State<'_, AppState>,
    id: String,
) -> CmdResult<ConsoleActionView> {
    state.engine().await.console_delete_dead(&id).await
}

#[tauri::command]
pub async fn purge_dead_letters(state: State<'_, AppState>) -> CmdResult<ConsoleActionView> {
    state.engine().await.console_purge_dead().await
}
