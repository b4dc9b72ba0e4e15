//! # tickstock-app
//!
//! The TickStock Admin desktop app: a thin Tauri shell over `tickstock-jobs`. The page
//! (`ui/`) calls the commands in [`commands`]; they ask the [`engine`], which runs either
//! the embedded mode (in-process queue and built-in worker, SQLite by default, no Redis)
//! or the Redis mode (the durable bus, with the built-in worker optional).
//!
//! ## Layout
//! - [`commands`]: the `#[tauri::command]`s, thin.
//! - [`display`]: whether a window can be opened here, said in one sentence when not.
//! - [`engine`]: the backend for one set of settings over the core's job service; rebuilt
//!   when a setting that needs it changes.
//! - [`background`]: the built-in worker, the schedules' passes, job events for the page.
//! - [`state`]: the managed state.
//! - [`notify`]: native desktop notifications (D-Bus).
//! - [`settings`]: settings kept with tauri-plugin-store, environment overrides, validation.
//! - [`secrets`]: where the Polygon API key is kept.
//! - [`views`]: what commands return to the page.
//! - [`error`]: `{kind, message, field}` errors.

pub mod background;
pub mod commands;
pub mod display;
pub mod engine;
pub mod error;
pub mod memory;
pub mod notify;
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
    // Each job's own lines (inside its span) are kept with its history too.
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(tickstock_jobs::runtime::joblog::layer())
        .with(
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
            commands::jobs::health,
            commands::jobs::validate_job,
            commands::jobs::submit_job,
            commands::jobs::active_jobs,
            commands::history::list_jobs,
            commands::history::history_page,
            commands::jobs::job_detail,
            commands::jobs::cancel_job,
            commands::jobs::cancel_all,
            commands::jobs::retry_job,
            commands::jobs::bulk_jobs,
            commands::jobs::estimate_job,
            commands::jobs::cleanup_stale,
            commands::jobs::clear_jobs,
            commands::history::export_jobs_csv,
            commands::data::list_universes,
            commands::data::universe_preview,
            commands::data::data_summary,
            commands::settings::get_settings,
            commands::settings::save_settings,
            commands::settings::settings_impact,
            commands::settings::test_redis,
            commands::settings::test_database,
            commands::settings::test_polygon,
            commands::system::open_log_dir,
            commands::system::notify,
            commands::system::about,
            commands::coverage::coverage_map,
            commands::coverage::coverage_gaps,
            commands::fill::fill_gaps,
            commands::fill::estimate_fill,
            commands::schedules::list_schedules,
            commands::schedules::set_schedule_enabled,
            commands::schedules::run_schedule,
            commands::console::queue_view,
            commands::console::pause_queue,
            commands::console::resume_queue,
            commands::console::list_workers,
            commands::console::command_worker,
            commands::console::list_dead_letters,
            commands::console::requeue_dead_letter,
            commands::console::delete_dead_letter,
            commands::console::purge_dead_letters,
            commands::dashboard::dashboard,
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
            // The keyring is probed here, outside async code (its calls block).
            let keys = secrets::KeyStore::open(&config_dir);
            let state = tauri::async_runtime::block_on(AppState::start(
                stored, &data_dir, keys, log_dir, persist,
            ));
            tracing::info!(data = %data_dir.display(), "TickStock Admin started");
            app.manage(state);
            spawn_job_watcher(app.handle().clone());
            commands::dashboard::spawn_polygon_sampler(app.handle().clone());
            Ok(())
        })
}

/// Tells the page of every job change, in one `job-events` batch per pass: the page keeps
/// one model per job from them and coalesces the announcements of finished jobs.
fn spawn_job_watcher<R: Runtime>(handle: tauri::AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let mut ticker = tokio::time::interval(background::WATCH_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(state) = handle.try_state::<AppState>() else {
                continue;
            };
            let engine = state.engine().await;
            match engine.changes().await {
                Ok(changes) if !changes.is_empty() => {
                    let events: Vec<background::JobEvent> = changes
                        .into_iter()
                        .map(|(job, finished)| background::JobEvent { job, finished })
                        .collect();
                    let _ = handle.emit("job-events", &events);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("job watcher: {}", e.message),
            }
        }
    });
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
