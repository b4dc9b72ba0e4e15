//! The desktop around the page: the log folder, native notifications, About.

use tauri::State;
use tickstock_protocol::ErrorKind;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

/// Opens the log folder in the desktop's file manager. Where there is none (or it fails),
/// the error names the folder, so the page can show it and offer to copy its path.
#[tauri::command]
pub async fn open_log_dir(state: State<'_, AppState>) -> CmdResult<()> {
    let dir = state.log_dir().to_path_buf();
    let _ = std::fs::create_dir_all(&dir);
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let shown = dir.display().to_string();
    let no_manager = |why: String| {
        CommandError::new(
            ErrorKind::NotFound,
            format!("No file manager could open the log folder ({why}). The logs are in {shown}"),
        )
    };
    let mut child = std::process::Command::new(opener)
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => no_manager(format!("{opener} is not installed")),
            _ => no_manager(format!("{opener}: {e}")),
        })?;
    // xdg-open answers at once when it finds no handler; a file manager keeps running.
    for _ in 0..20 {
        match child.try_wait() {
            Ok(Some(status)) if !status.success() => {
                return Err(no_manager(format!(
                    "{opener} found no application for folders"
                )))
            }
            Ok(Some(_)) => return Ok(()),
            Ok(None) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A native desktop notification (the page asks when it is in the background).
#[tauri::command]
pub async fn notify(title: String, body: String) -> CmdResult<()> {
    crate::notify::desktop_notification(&title, &body);
    Ok(())
}

/// The version and the app's folders, for the About dialog.
#[tauri::command]
pub fn about<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> CmdResult<crate::views::AboutView> {
    use tauri::Manager;
    let paths = app.path();
    let shown = |dir: tauri::Result<std::path::PathBuf>| {
        dir.map(|d| d.display().to_string())
            .map_err(|e| CommandError::new(ErrorKind::Internal, e.to_string()))
    };
    let info = app.package_info();
    Ok(crate::views::AboutView {
        name: info.name.clone(),
        version: info.version.to_string(),
        identifier: app.config().identifier.clone(),
        tauri_version: tauri::VERSION,
        data_dir: shown(paths.app_data_dir())?,
        config_dir: shown(paths.app_config_dir())?,
        log_dir: state.log_dir().display().to_string(),
    })
}
