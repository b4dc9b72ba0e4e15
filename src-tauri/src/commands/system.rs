//! The desktop around the page: the log folder, native notifications, About.

use tauri::State;
use tickstock_core::ErrorKind;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

#[tauri::command]
pub async fn open_log_dir(state: State<'_, AppState>) -> CmdResult<()> {
    let dir = state.log_dir();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(dir)
        .spawn()
        .map(|_| ())
        .map_err(|e| {
            CommandError::new(
                ErrorKind::Internal,
                format!("could not open {}: {e}", dir.display()),
            )
        })
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
