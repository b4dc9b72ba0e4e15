//! # tickstock-app
//!
//! The TickStock Admin desktop app: a thin Tauri shell over `tickstock-core`. The page
//! (`ui/`) calls the commands in [`commands`]; they ask the [`engine`], which runs either
//! the embedded mode (in-process queue and built-in worker, SQLite by default, no Redis)
//! or the Redis mode (the durable bus, with the built-in worker optional).
//!
//! ## Layout
//! - [`commands`]: the `#[tauri::command]`s, thin.
//! - [`data_commands`]: the Coverage view's commands (heat map, gaps and fill, schedules).
//! - [`engine`]: the backend for one set of settings; rebuilt when settings change.
//! - [`state`]: the managed state.
//! - [`settings`]: settings kept with tauri-plugin-store, environment overrides, validation.
//! - [`secrets`]: where the Polygon API key is kept.
//! - [`views`]: what commands return to the page.
//! - [`error`]: `{kind, message, field}` errors.

pub mod commands;
pub mod data_commands;
pub mod engine;
pub mod error;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod views;

use tauri::{Emitter, Manager, Runtime};
use tauri_plugin_store::StoreExt;

use crate::state::{settings_from_value, AppState};

const STORE_FILE: &str = "settings.json";
const STORE_KEY: &str = "settings";

fn init_logging(log_dir: &std::path::Path) {
    use tracing_subscriber::prelude::*;
    let _ = std::fs::create_dir_all(log_dir);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tao=warn,wry=warn".into());
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .max_log_files(7)
        .filename_prefix("tickstock-admin")
        .filename_suffix("log")
        .build(log_dir)
        .ok();
    let registry = tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
    );
    let _ = match file {
        Some(f) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(f)
                    .with_ansi(false),
            )
            .try_init(),
        None => registry.try_init(),
    };
}

/// Adds the app's plugins, state and commands to a builder (any runtime, so tests can use
/// the mock runtime).
pub fn run_app<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_store::Builder::default().build())
        // The Save dialog of Export CSV, opened from Rust only (the page gets no
        // dialog permission).
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            commands::health,
            commands::validate_job,
            commands::submit_job,
            commands::active_jobs,
            commands::list_jobs,
            commands::job_detail,
            commands::cancel_job,
            commands::cancel_all,
            commands::retry_job,
            commands::cleanup_stale,
            commands::clear_jobs,
            commands::export_jobs_csv,
            commands::list_universes,
            commands::universe_preview,
            commands::data_summary,
            commands::get_settings,
            commands::save_settings,
            commands::test_redis,
            commands::test_database,
            commands::test_polygon,
            commands::open_log_dir,
            commands::notify,
            commands::about,
            data_commands::coverage_map,
            data_commands::coverage_gaps,
            data_commands::fill_gaps,
            data_commands::list_schedules,
            data_commands::set_schedule_enabled,
            data_commands::run_schedule,
        ])
        .setup(|app| {
            let paths = app.path();
            let data_dir = paths.app_data_dir()?;
            let config_dir = paths.app_config_dir()?;
            let log_dir = paths.app_log_dir()?;
            init_logging(&log_dir);
            std::fs::create_dir_all(&data_dir)?;
            let store = app.store(STORE_FILE)?;
            let stored = settings_from_value(store.get(STORE_KEY));
            let persist_store = store.clone();
            let persist = Box::new(move |s: &settings::AppSettings| {
                persist_store.set(
                    STORE_KEY,
                    serde_json::to_value(s).map_err(|e| e.to_string())?,
                );
                persist_store.save().map_err(|e| e.to_string())
            });
            let handle = app.handle().clone();
            let announce = Box::new(move |job: &views::JobView| {
                let _ = handle.emit("job-finished", job);
            });
            // The keyring is probed here, outside async code (its calls block).
            let keys = secrets::KeyStore::open(&config_dir);
            let state = tauri::async_runtime::block_on(AppState::start(
                stored, &data_dir, keys, log_dir, persist, announce,
            ));
            tracing::info!(data = %data_dir.display(), "TickStock Admin started");
            app.manage(state);
            Ok(())
        })
}

/// Starts the desktop app; the built-in worker stops cleanly when it quits.
pub fn run() {
    let app = run_app(tauri::Builder::default())
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while building TickStock Admin");
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(state) = handle.try_state::<AppState>() {
                tauri::async_runtime::block_on(state.shutdown());
            }
        }
    });
}
